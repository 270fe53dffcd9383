package chart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "web")
	dir, err := Create(path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if dir != path {
		t.Errorf("created %s, want %s", dir, path)
	}
	ch, err := Load(ctx, dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name() != "web" || ch.Metadata.Version != "0.1.0" {
		t.Errorf("scaffold is %s %s", ch.Name(), ch.Metadata.Version)
	}
	// The scaffold is the one committed in testdata, named after the chart.
	for _, f := range []string{"values.yaml", "templates/deployment.yaml", "templates/_helpers.tpl", "templates/NOTES.txt"} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../testdata/charts/scaffold", f))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != strings.ReplaceAll(string(want), "scaffold", "web") {
			t.Errorf("%s differs from the committed scaffold", f)
		}
	}

	// A starter is copied with its name replaced.
	starters := t.TempDir()
	if _, err := Create(filepath.Join(starters, "base"), "", nil); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "api")
	if _, err := Create(copyPath, "base", &Settings{Starters: starters}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tc := TemplateCommand{ShowOnly: []string{"templates/service.yaml"}}
	if err := tc.Run(ctx, &out, &bytes.Buffer{}, []string{copyPath}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "name: release-name-api\n") {
		t.Errorf("chart from the starter renders:\n%s", out.String())
	}

	if _, err := Create(filepath.Join(t.TempDir(), "bad name!"), "", nil); err == nil {
		t.Error("created a chart with an invalid name")
	}
}

func TestShow(t *testing.T) {
	ch, err := Load(context.Background(), umbrellaDir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	values, err := os.ReadFile(filepath.Join(umbrellaDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what ShowWhat
		want []string
		not  []string
	}{
		{ShowChart, []string{"name: umbrella\n", "kubeVersion: '>=1.19.0-0'\n", "alias: worker\n"}, []string{"---"}},
		{ShowValues, []string{string(values) + "\n"}, []string{"name: umbrella"}},
		{ShowReadme, []string{"# umbrella\n"}, nil},
		{ShowCRDs, []string{"name: widgets.example.io", "name: gadgets.example.io"}, []string{"# umbrella"}},
		{ShowAll, []string{"version: 0.1.0\n\n---\n# Default values for umbrella.", "---\n# umbrella\n", "---\napiVersion: apiextensions.k8s.io/v1"}, nil},
	} {
		t.Run(string(tc.what), func(t *testing.T) {
			var out bytes.Buffer
			if err := Show(&out, ch, tc.what); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("show %s lacks %q:\n%s", tc.what, w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("show %s has %q:\n%s", tc.what, n, out.String())
				}
			}
		})
	}
}
