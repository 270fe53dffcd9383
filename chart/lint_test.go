package chart

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	if err := Lint(ctx, &out, []string{"../testdata/charts/scaffold"}, LintOptions{}); err != nil {
		t.Fatalf("linting the scaffold: %v\n%s", err, out.String())
	}
	want := "==> Linting ../testdata/charts/scaffold\n[INFO] Chart.yaml: icon is recommended\n\n1 chart(s) linted, 0 chart(s) failed\n"
	if out.String() != want {
		t.Errorf("lint output:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	err := Lint(ctx, &out, []string{"../testdata/charts/scaffold", "../testdata/charts/broken", "/no/such/chart"}, LintOptions{Quiet: true})
	if err == nil || err.Error() != "3 chart(s) linted, 2 chart(s) failed" {
		t.Errorf("error %v, want the summary of two failures", err)
	}
	for _, w := range []string{"==> Linting ../testdata/charts/broken\n[ERROR] templates/: parse error at (broken/templates/configmap.yaml:7)", "Error unable to check Chart.yaml file in chart"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("lint output lacks %q:\n%s", w, out.String())
		}
	}
	if strings.Contains(out.String(), "Linting ../testdata/charts/scaffold") {
		t.Errorf("--quiet printed a chart without warnings:\n%s", out.String())
	}
}

func TestLintArchiveAndSubcharts(t *testing.T) {
	ctx := context.Background()
	tgz, err := Package(ctx, umbrellaDir, PackageOptions{Destination: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Lint(ctx, &out, []string{tgz}, LintOptions{}); err != nil {
		t.Fatalf("linting the archive: %v\n%s", err, out.String())
	}
	// Alone, the backend subchart lacks the library chart its parent lends it.
	out.Reset()
	err = Lint(ctx, &out, []string{umbrellaDir}, LintOptions{WithSubcharts: true})
	if err == nil || err.Error() != "4 chart(s) linted, 1 chart(s) failed" {
		t.Errorf("error %v, want the backend's failure", err)
	}
	want := "==> Linting " + umbrellaDir + "/charts/backend\n[INFO] Chart.yaml: icon is recommended\n[ERROR] templates/: template: backend/templates/service.yaml:6:8:"
	if !strings.Contains(out.String(), want) {
		t.Errorf("lint output lacks %q:\n%s", want, out.String())
	}
}
