package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	helmrelease "helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// BenchmarkCharts times berth next to the real Helm in the same run (make bench
// builds both; BERTH and HELM name the binaries): `template` of the create
// scaffold and of a chart with 300 templates, and `list` of 1,000 releases of 10
// revisions each, both tools against the same berth API server.
func BenchmarkCharts(b *testing.B) {
	berth, helm := os.Getenv("BERTH"), os.Getenv("HELM")
	if berth == "" || helm == "" {
		b.Skip("BERTH and HELM must name the binaries to compare (make bench sets them)")
	}
	_, file, _, _ := runtime.Caller(0)
	testdata := filepath.Join(filepath.Dir(file), "..", "..", "testdata")
	scaffold := filepath.Join(testdata, "charts", "scaffold")
	many := manyTemplatesChart(b, 300)

	c, err := newCluster(clusterOptions{extraArgs: []string{"--controllers", "-*"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.stop()
	fillReleases(b, c, "berth-releases", 1000, 10)
	fillHelmReleases(b, c.client, "helm-releases", 1000, 10)

	home := b.TempDir()
	env := append(os.Environ(), "KUBECONFIG="+c.kubeconfig, "HOME="+home,
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	cases := []struct {
		name        string
		berth, helm []string
	}{
		{"template, create scaffold", []string{"template", "bench", scaffold}, []string{"template", "bench", scaffold}},
		{"template, 300 templates", []string{"template", "bench", many}, []string{"template", "bench", many}},
		{"list, 1,000 releases x 10 revisions", []string{"list", "-n", "berth-releases", "-m", "0"}, []string{"list", "-n", "helm-releases", "-m", "0"}},
	}
	fmt.Printf("\n%-40s %12s %12s %8s\n", "command (median of 15 runs)", "berth", "helm", "helm/berth")
	for _, tc := range cases {
		// Both must produce the same number of lines: the same work was done.
		bOut, hOut := run(b, env, berth, tc.berth), run(b, env, helm, tc.helm)
		if strings.Count(bOut, "\n") != strings.Count(hOut, "\n") {
			b.Fatalf("%s: berth printed %d lines, helm %d", tc.name, strings.Count(bOut, "\n"), strings.Count(hOut, "\n"))
		}
		var bt, ht []time.Duration
		for i := 0; i < 15; i++ { // alternate, so that drift hits both alike
			bt = append(bt, timed(b, env, berth, tc.berth))
			ht = append(ht, timed(b, env, helm, tc.helm))
		}
		bm, hm := median(bt), median(ht)
		fmt.Printf("%-40s %12s %12s %8.2f\n", tc.name, bm.Round(time.Millisecond), hm.Round(time.Millisecond), float64(hm)/float64(bm))
	}
	fmt.Println("\ntargets: template at least as fast as Helm (ratio >= 1); list 10x faster (ratio >= 10)")
}

func run(b *testing.B, env []string, bin string, args []string) string {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return string(out)
}

func timed(b *testing.B, env []string, bin string, args []string) time.Duration {
	start := time.Now()
	run(b, env, bin, args)
	return time.Since(start)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// manyTemplatesChart writes a chart of n templates, each a ConfigMap built with
// a helper, a range and a few functions, as real charts do.
func manyTemplatesChart(b *testing.B, n int) string {
	dir := filepath.Join(b.TempDir(), "many")
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "templates"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "Chart.yaml"), []byte("apiVersion: v2\nname: many\nversion: 1.0.0\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "values.yaml"), []byte("items: [a, b, c, d, e]\nprefix: bench\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "templates", "_helpers.tpl"), []byte(`{{- define "many.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
`), 0o644))
	for i := 0; i < n; i++ {
		tpl := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Values.prefix }}-%d
  labels:
    {{- include "many.labels" . | nindent 4 }}
data:
  {{- range $i, $item := .Values.items }}
  {{ $item }}: {{ printf "%%s-%%d" $item $i | upper | quote }}
  {{- end }}
`, i)
		must(os.WriteFile(filepath.Join(dir, "templates", fmt.Sprintf("cm-%03d.yaml", i)), []byte(tpl), 0o644))
	}
	return dir
}

// fillHelmReleases stores n releases of revisions revisions each as Helm stores
// them (Secrets, through Helm's own storage driver) in the cluster.
func fillHelmReleases(b *testing.B, client kubernetes.Interface, ns string, n, revisions int) {
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, namespaceObject(ns), metav1CreateOptions); err != nil {
		b.Fatal(err)
	}
	secrets := client.CoreV1().Secrets(ns)
	err := fill(ns, n, revisions, func(rel *helmrelease.Release) error {
		_, err := secrets.Create(ctx, helmSecret(b, rel), metav1CreateOptions)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// helmSecret is a release as Helm 3's default storage keeps it: a Secret
// sh.helm.release.v1.NAME.vREVISION whose "release" key holds the release's JSON,
// gzip-compressed and base64-encoded, with labels Helm's list selects on.
func helmSecret(b *testing.B, rel *helmrelease.Release) *corev1.Secret {
	raw, err := json.Marshal(rel)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("sh.helm.release.v1.%s.v%d", rel.Name, rel.Version),
			Labels: map[string]string{
				"name": rel.Name, "owner": "helm", "status": string(rel.Info.Status), "version": fmt.Sprint(rel.Version),
			},
		},
		Type: "helm.sh/release.v1",
		Data: map[string][]byte{"release": []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))},
	}
}
