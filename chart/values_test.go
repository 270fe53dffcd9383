package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func TestValueOptionsMerge(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	over := filepath.Join(dir, "override.yaml")
	text := filepath.Join(dir, "motd.txt")
	for path, content := range map[string]string{
		base: "image:\n  repository: app\n  tag: \"1\"\nreplicas: 1\nlist: [a, b]\n",
		over: "image:\n  tag: \"2\"\nextra: true\n",
		text: "hello\nworld\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var o ValueOptions
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	err := fs.Parse([]string{
		"-f", base, "--values", over,
		"--set", "replicas=3,image.pullPolicy=Always",
		"--set", "list[1]=c",
		"--set-string", "version=010",
		"--set-file", "motd=" + text,
		"--set-json", `resources={"limits":{"cpu":"100m"}}`,
		"--set-literal", "literal=a,b=c{d}",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.Merge()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"image":     map[string]any{"repository": "app", "tag": "2", "pullPolicy": "Always"},
		"replicas":  int64(3),
		"list":      []any{"a", "c"},
		"extra":     true,
		"version":   "010",
		"motd":      "hello\nworld\n",
		"resources": map[string]any{"limits": map[string]any{"cpu": "100m"}},
		"literal":   "a,b=c{d}",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged values (-want +got):\n%s", diff)
	}
}

func TestValueOptionsMergeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts ValueOptions
		want string
	}{
		{"set without value", ValueOptions{Values: []string{"name"}}, `failed parsing --set data: key "name" has no value`},
		{"set with bad index", ValueOptions{Values: []string{"a.b[=1"}}, "failed parsing --set data: error parsing index"},
		{"set-string with bad index", ValueOptions{StringValues: []string{"list[x]=1"}}, "failed parsing --set-string data"},
		{"set-json with bad JSON", ValueOptions{JSONValues: []string{"a={bad"}}, "failed parsing --set-json data a={bad"},
		{"missing values file", ValueOptions{ValueFiles: []string{"/no/such/values.yaml"}}, "no such file or directory"},
		{"missing set-file", ValueOptions{FileValues: []string{"a=/no/such/file"}}, "failed parsing --set-file data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.opts.Merge()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestValueOptionsMergeBadYAMLFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("a: [b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ValueOptions{ValueFiles: []string{path}}.Merge()
	if err == nil || !strings.Contains(err.Error(), "failed to parse "+path) {
		t.Errorf("error %v, want one naming %s", err, path)
	}
}
