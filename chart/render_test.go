package chart

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/release"
)

func loadUmbrella(t *testing.T) *Rendered {
	t.Helper()
	return renderDir(t, umbrellaDir, nil, RenderOptions{ReleaseName: "rel", Namespace: "ns", ClientOnly: true})
}

func renderDir(t *testing.T, dir string, vals map[string]any, opts RenderOptions) *Rendered {
	t.Helper()
	ch, err := Load(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(context.Background(), ch, vals, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRenderSplitsWhatAReleaseNeeds(t *testing.T) {
	r := loadUmbrella(t)

	var kinds []string
	for _, m := range r.Manifests {
		kinds = append(kinds, m.Head.Kind)
	}
	// Helm's install order: Secrets and ConfigMaps before Services before Deployments.
	wantKinds := "Secret ConfigMap ConfigMap ConfigMap ConfigMap ConfigMap Service Service Deployment Deployment Deployment"
	if got := strings.Join(kinds, " "); got != wantKinds {
		t.Errorf("manifest kinds in order:\n %s\nwant\n %s", got, wantKinds)
	}
	var crds []string
	for _, c := range r.CRDs {
		crds = append(crds, c.Filename)
	}
	wantCRDs := "umbrella/crds/widgets.yaml umbrella/charts/backend/crds/gadgets.yaml umbrella/charts/worker/crds/gadgets.yaml"
	if got := strings.Join(crds, " "); got != wantCRDs {
		t.Errorf("CRDs %s, want %s", got, wantCRDs)
	}
	if want := "Thank you for installing umbrella 0.1.0.\n\nYour release is named rel in namespace ns.\nThe worker runs as rel-worker.\n"; r.Notes != want {
		t.Errorf("notes %q, want %q", r.Notes, want)
	}
	if r.Values["replicaCount"] != float64(2) && r.Values["replicaCount"] != int64(2) {
		t.Errorf("computed replicaCount %v (%T), want 2", r.Values["replicaCount"], r.Values["replicaCount"])
	}
	if !strings.HasPrefix(r.Manifest, "---\n# Source: umbrella/templates/secret.yaml\n") || strings.Contains(r.Manifest, "helm.sh/hook") {
		t.Errorf("Manifest should hold the manifests without hooks:\n%s", r.Manifest)
	}
	if strings.Contains(r.Manifest, "CustomResourceDefinition") {
		t.Error("Manifest holds CRDs without IncludeCRDs")
	}

	var preInstall []string
	for _, h := range HooksFor(r.Hooks, release.HookPreInstall) {
		preInstall = append(preInstall, h.Name)
	}
	// By weight (-10, -5, -5, -5, 5), then by name among equal weights.
	want := []string{"rel-umbrella-hook-sa", "rel-backend-api-init", "rel-umbrella-migrate", "rel-worker-worker-init", "rel-umbrella-hook-config"}
	if diff := cmp.Diff(want, preInstall); diff != "" {
		t.Errorf("pre-install hooks in run order (-want +got):\n%s", diff)
	}
	if tests := HooksFor(r.Hooks, release.HookTest); len(tests) != 1 || tests[0].Kind != "Pod" {
		t.Errorf("test hooks %v, want the one Pod", tests)
	}
}

func TestRenderOptions(t *testing.T) {
	t.Run("SubNotes", func(t *testing.T) {
		r := renderDir(t, umbrellaDir, nil, RenderOptions{ReleaseName: "rel", ClientOnly: true, SubNotes: true})
		for _, n := range []string{"The backend (api) listens on port 8080.", "The backend (worker) listens on port 9090.", "Thank you for installing umbrella"} {
			if !strings.Contains(r.Notes, n) {
				t.Errorf("notes lack %q:\n%s", n, r.Notes)
			}
		}
	})
	t.Run("IncludeCRDs and SkipCRDs", func(t *testing.T) {
		r := renderDir(t, umbrellaDir, nil, RenderOptions{ReleaseName: "rel", ClientOnly: true, IncludeCRDs: true, SkipCRDs: true})
		if !strings.HasPrefix(r.Manifest, "---\n# Source: umbrella/crds/widgets.yaml\n") {
			t.Errorf("Manifest does not begin with the CRDs:\n%.200s", r.Manifest)
		}
		if len(r.CRDs) != 0 {
			t.Errorf("SkipCRDs left %d CRDs to install", len(r.CRDs))
		}
	})
	t.Run("upgrade revision", func(t *testing.T) {
		r := renderDir(t, umbrellaDir, nil, RenderOptions{ReleaseName: "rel", ClientOnly: true, IsUpgrade: true, Revision: 7})
		for _, want := range []string{`isInstall: "false"`, `isUpgrade: "true"`, `revision: "7"`} {
			if !strings.Contains(r.Manifest, want) {
				t.Errorf("manifest lacks %s", want)
			}
		}
	})
}

func TestRenderLeavesTheChartAsItWas(t *testing.T) {
	ch, err := Load(context.Background(), umbrellaDir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := RenderOptions{ReleaseName: "rel", ClientOnly: true}
	if _, err := Render(context.Background(), ch, map[string]any{"worker": map[string]any{"enabled": false}}, opts); err != nil {
		t.Fatal(err)
	}
	r, err := Render(context.Background(), ch, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Manifest, "name: rel-worker-worker") {
		t.Error("a render with the worker disabled removed it from the chart for the next render")
	}
	if got := ch.Metadata.Dependencies[1].Name; got != "backend" {
		t.Errorf("the aliased dependency is named %q after rendering, want backend", got)
	}
}

func TestRenderSchemaViolation(t *testing.T) {
	ch, err := Load(context.Background(), umbrellaDir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Render(context.Background(), ch, map[string]any{"replicaCount": "three", "backend": map[string]any{"port": 0}}, RenderOptions{ReleaseName: "rel", ClientOnly: true})
	want := "values don't meet the specifications of the schema(s) in the following chart(s):\n" +
		"umbrella:\n- at '/replicaCount': got string, want integer\n" +
		"backend:\n- at '/port': minimum: got 0, want 1\n"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestRenderTemplateErrorsNameFileAndLine(t *testing.T) {
	dir := writeChart(t, "errs", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: errs\nversion: 1.0.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n" +
			"  a: {{ .Values.missing.deeper }}\n" +
			"  b: {{ required \"b is required\" .Values.b }}\n" +
			"  c: {{ if .Values.c }}{{ fail \"c failed\" }}{{ end }}\n",
		"templates/parse.yaml": "{{- if .Values.p }}\nx: {{ .Values.p \n{{- end }}\n",
	})
	ch, err := Load(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The parse error comes first: no template runs before every one parses.
	_, err = Render(context.Background(), ch, nil, RenderOptions{ReleaseName: "rel", ClientOnly: true})
	if want := regexp.MustCompile(`^parse error at \(errs/templates/parse.yaml:\d+\): `); err == nil || !want.MatchString(err.Error()) {
		t.Fatalf("error %v, want a parse error naming errs/templates/parse.yaml and its line", err)
	}
	if err := os.Remove(dir + "/templates/parse.yaml"); err != nil {
		t.Fatal(err)
	}
	ch, err = Load(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"nil pointer", map[string]any{"missing": nil, "b": "x"}, `template: errs/templates/cm.yaml:6:`},
		{"required", map[string]any{"missing": map[string]any{"deeper": 1}}, `execution error at (errs/templates/cm.yaml:7:8): b is required`},
		{"fail", map[string]any{"missing": map[string]any{"deeper": 1}, "b": "x", "c": true}, `execution error at (errs/templates/cm.yaml:8:26): c failed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(context.Background(), ch, tc.vals, RenderOptions{ReleaseName: "rel", ClientOnly: true})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want one beginning %q", err, tc.want)
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, dir string
		opts      RenderOptions
		want      string
	}{
		{"library chart", umbrellaDir + "/charts/common", RenderOptions{ReleaseName: "rel"}, "library charts are not installable"},
		{"invalid release name", umbrellaDir, RenderOptions{ReleaseName: "Not_Valid"}, `release name "Not_Valid": invalid release name`},
		{"no release name", umbrellaDir, RenderOptions{}, `release name "": no name provided`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := Load(context.Background(), tc.dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.opts.ClientOnly = true
			_, err = Render(context.Background(), ch, nil, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Render(context.Background(), nil, nil, RenderOptions{}); err == nil {
		t.Error("rendered a nil chart")
	}
}

func TestRenderLookupIsEmptyWithoutACluster(t *testing.T) {
	dir := writeChart(t, "lookups", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: lookups\nversion: 1.0.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n" +
			"  found: {{ lookup \"v1\" \"Secret\" \"ns\" \"s\" | len | quote }}\n",
	})
	r := renderDir(t, dir, nil, RenderOptions{ReleaseName: "rel", ClientOnly: true})
	if !strings.Contains(r.Manifest, `found: "0"`) {
		t.Errorf("lookup without a cluster did not answer empty:\n%s", r.Manifest)
	}
}

// TestDefaultKubeVersionFollowsGoMod holds the default Kubernetes version to
// the client-go of go.mod, as Helm's release builds derive theirs.
func TestDefaultKubeVersionFollowsGoMod(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/client-go v0\.(\d+)\.`).FindSubmatch(b)
	if m == nil {
		t.Fatal("k8s.io/client-go is not in go.mod")
	}
	if kv := DefaultKubeVersion(); kv.Minor != string(m[1]) || kv.Version != "v1."+string(m[1])+".0" {
		t.Errorf("DefaultKubeVersion() = %+v, but go.mod has client-go v0.%s: update clientGoMinor", kv, m[1])
	}
}
