package chart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteTemplateOutputDir(t *testing.T) {
	r := renderDir(t, umbrellaDir, nil, RenderOptions{ReleaseName: "rel", ClientOnly: true, IncludeCRDs: true})
	dir := t.TempDir()
	var out bytes.Buffer
	if err := WriteTemplate(&out, r, TemplateOptions{OutputDir: dir, UseReleaseName: true, ReleaseName: "rel", SkipTests: true}); err != nil {
		t.Fatal(err)
	}
	// As Helm: CRDs straight under the directory, the rest under the release's.
	for _, file := range []string{
		"umbrella/crds/widgets.yaml",
		"rel/umbrella/templates/configmap.yaml",
		"rel/umbrella/templates/hooks/pre-install-config.yaml",
		"rel/umbrella/charts/worker/templates/service.yaml",
	} {
		if !strings.Contains(out.String(), "wrote "+filepath.Join(dir, file)+"\n") {
			t.Errorf("output does not say it wrote %s:\n%s", file, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "rel/umbrella/templates/tests/test-connection.yaml")); !os.IsNotExist(err) {
		t.Errorf("--skip-tests wrote the test hook (stat: %v)", err)
	}
	// Two documents of one template share its file.
	b, err := os.ReadFile(filepath.Join(dir, "rel/umbrella/templates/configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "# Source: umbrella/templates/configmap.yaml\n"); n != 2 {
		t.Errorf("configmap.yaml holds %d documents, want 2:\n%s", n, b)
	}
	// A second run replaces the files rather than appending to them.
	out.Reset()
	if err := WriteTemplate(&out, r, TemplateOptions{OutputDir: dir, UseReleaseName: true, ReleaseName: "rel"}); err != nil {
		t.Fatal(err)
	}
	b2, err := os.ReadFile(filepath.Join(dir, "rel/umbrella/templates/configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Error("a second run changed configmap.yaml")
	}
}

func TestTemplateCommandArguments(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cmd  TemplateCommand
		args []string
		want string
	}{
		{"no chart", TemplateCommand{}, nil, "a chart is required"},
		{"three arguments", TemplateCommand{}, []string{"a", "b", "c"}, "expected at most two arguments, unexpected arguments: c"},
		{"name and name template", TemplateCommand{NameTemplate: "x"}, []string{"a", umbrellaDir}, "cannot set --name-template and also specify a name"},
		{"bad name template", TemplateCommand{NameTemplate: "{{ nope }}"}, []string{umbrellaDir}, "parsing --name-template"},
		{"bad kube version", TemplateCommand{KubeVersion: "one"}, []string{umbrellaDir}, "invalid kube version 'one'"},
		{"missing post-renderer", TemplateCommand{PostRenderer: "/no/such/renderer"}, []string{umbrellaDir}, "post-renderer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cmd.Run(ctx, &bytes.Buffer{}, &bytes.Buffer{}, tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
