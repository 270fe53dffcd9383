package chart

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const umbrellaDir = "../testdata/charts/umbrella"

// writeChart writes a chart's files (path → content) under a new directory
// and returns the chart's directory.
func writeChart(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	for path, content := range files {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	tgz, err := Package(ctx, umbrellaDir, PackageOptions{Destination: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, ref string
	}{
		{"directory", umbrellaDir},
		{"archive", tgz},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := Load(ctx, tc.ref, LoadOptions{Settings: &Settings{}})
			if err != nil {
				t.Fatal(err)
			}
			if ch.Name() != "umbrella" || ch.Metadata.Version != "0.1.0" {
				t.Errorf("loaded %s %s, want umbrella 0.1.0", ch.Name(), ch.Metadata.Version)
			}
			var deps []string
			for _, d := range ch.Dependencies() {
				deps = append(deps, d.Name())
			}
			slices.Sort(deps)
			if got := strings.Join(deps, ","); got != "backend,common,optional" {
				t.Errorf("dependencies %s, want backend,common,optional", got)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	malformed := writeChart(t, "malformed", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: malformed\nversion: [0.1.0\n",
	})
	noVersion := writeChart(t, "noversion", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: noversion\n",
	})
	missingDep := writeChart(t, "needy", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: needy\nversion: 1.0.0\ndependencies:\n  - name: absent\n    version: 1.0.0\n    repository: https://charts.example.com\n",
	})
	for _, tc := range []struct {
		name, ref string
		want      []string // substrings of the error
	}{
		{name: "missing directory", ref: "./no/such/chart", want: []string{`"./no/such/chart"`, "no such chart directory or archive"}},
		{name: "bare missing name", ref: "nosuchchart", want: []string{`"nosuchchart"`, "REPO/CHART"}},
		{name: "malformed Chart.yaml", ref: malformed, want: []string{"loading chart", "Chart.yaml", "line 3"}},
		{name: "Chart.yaml without version", ref: noVersion, want: []string{"loading chart", "version is required"}},
		{name: "missing dependency", ref: missingDep, want: []string{"missing in charts/ directory: absent", "berth dependency build"}},
		{name: "unreachable registry", ref: "oci://127.0.0.1:1/charts/app", want: []string{`fetching chart "oci://127.0.0.1:1/charts/app"`, "connection refused"}},
		{name: "empty", ref: " ", want: []string{"no chart given"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(ctx, tc.ref, LoadOptions{Settings: &Settings{RepositoryConfig: filepath.Join(t.TempDir(), "r.yaml"), RepositoryCache: t.TempDir()}})
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLoadAllowsMissingDependenciesWhenAsked(t *testing.T) {
	dir := writeChart(t, "needy", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: needy\nversion: 1.0.0\ndependencies:\n  - name: absent\n    version: 1.0.0\n",
	})
	if _, err := Load(context.Background(), dir, LoadOptions{AllowMissingDependencies: true}); err != nil {
		t.Fatal(err)
	}
}
