package chart

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// goldenCase is one line of testdata/charts/cases.txt, the table that
// hack/update-golden.sh runs through the real `helm template`.
type goldenCase struct {
	name, chart string
	args        []string
}

func readGoldenCases(t *testing.T, path string) []goldenCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) < 3 {
			t.Fatalf("%s: case %q has no arguments", path, fields[0])
		}
		cases = append(cases, goldenCase{name: fields[0], chart: fields[1], args: fields[2:]})
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// helmDebugHint is what `helm template` adds to rendering errors; berth has
// no --debug flag to point at.
const helmDebugHint = "\n\nUse --debug flag to render out invalid YAML"

// TestGolden renders every case of testdata/charts/cases.txt the way `berth
// template` does and compares the output byte for byte with Helm's (or the
// error with Helm's standard error).
func TestGolden(t *testing.T) {
	t.Chdir(filepath.Join("..", "testdata", "charts"))
	cases := readGoldenCases(t, "cases.txt")
	settings := &Settings{
		RepositoryConfig: filepath.Join(t.TempDir(), "repositories.yaml"),
		RepositoryCache:  t.TempDir(),
	}
	known := map[string]bool{}
	for _, c := range cases {
		base := filepath.Join(c.chart, "golden", c.name)
		known[base+".yaml"], known[base+".err"] = true, true
		t.Run(c.name, func(t *testing.T) {
			want, wantErr := readGolden(t, base)
			cmd := TemplateCommand{Settings: settings}
			flags := pflag.NewFlagSet("template", pflag.ContinueOnError)
			cmd.AddFlags(flags)
			var stdout, stderr bytes.Buffer
			err := flags.Parse(c.args)
			if err == nil {
				err = cmd.Run(context.Background(), &stdout, &stderr, flags.Args())
			}
			if wantErr != "" {
				if err == nil {
					t.Fatalf("berth template %s succeeded; Helm failed with\n%s", strings.Join(c.args, " "), wantErr)
				}
				if diff := cmp.Diff(wantErr, "Error: "+err.Error()+"\n"); diff != "" {
					t.Errorf("berth template %s: error differs from Helm's (-helm +berth):\n%s", strings.Join(c.args, " "), diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("berth template %s: %v", strings.Join(c.args, " "), err)
			}
			if diff := cmp.Diff(want, stdout.String()); diff != "" {
				t.Errorf("berth template %s differs from Helm's (-helm +berth):\n%s", strings.Join(c.args, " "), diff)
			}
		})
	}
	// Every golden file belongs to a case, so that none goes stale unseen.
	goldens, err := filepath.Glob(filepath.Join("*", "golden", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if !known[g] {
			t.Errorf("%s belongs to no case of cases.txt: remove it or run hack/update-golden.sh", g)
		}
	}
}

// readGolden returns Helm's output for a case, or its error message when
// Helm failed (without the --debug hint).
func readGolden(t *testing.T, base string) (out, errOut string) {
	t.Helper()
	b, err := os.ReadFile(base + ".yaml")
	if err == nil {
		return string(b), ""
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	b, err = os.ReadFile(base + ".err")
	if err != nil {
		t.Fatalf("no golden for case %s (run hack/update-golden.sh): %v", base, err)
	}
	return "", strings.Replace(string(b), helmDebugHint, "", 1)
}
