package chart

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestPackage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		opts     PackageOptions
		wantFile string
		wantApp  string
	}{
		{"chart's version", PackageOptions{}, "umbrella-0.1.0.tgz", "1.2.3"},
		{"--version and --app-version", PackageOptions{Version: "2.0.0-rc.1", AppVersion: "9.9"}, "umbrella-2.0.0-rc.1.tgz", "9.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			tc.opts.Destination = dest
			got, err := Package(ctx, umbrellaDir, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dest, tc.wantFile); got != want {
				t.Errorf("packaged to %s, want %s", got, want)
			}
			ch, err := Load(ctx, got, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ch.Metadata.AppVersion != tc.wantApp {
				t.Errorf("appVersion %q, want %q", ch.Metadata.AppVersion, tc.wantApp)
			}
			if len(ch.Templates) == 0 || len(ch.Dependencies()) != 3 {
				t.Errorf("archive holds %d templates and %d dependencies", len(ch.Templates), len(ch.Dependencies()))
			}
		})
	}
}

func TestPackageRefuses(t *testing.T) {
	ctx := context.Background()
	needy := writeChart(t, "needy", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: needy\nversion: 1.0.0\ndependencies:\n  - name: absent\n    version: 1.0.0\n",
	})
	for _, tc := range []struct {
		name, path string
		opts       PackageOptions
		want       string
	}{
		{"bad version", umbrellaDir, PackageOptions{Version: "one"}, `version "one": invalid semantic version`},
		{"missing dependency", needy, PackageOptions{}, "missing in charts/ directory: absent"},
		{"no such directory", "/no/such/chart", PackageOptions{}, "no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Destination = t.TempDir()
			_, err := Package(ctx, tc.path, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
