package chart

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chartEntry is one tar entry of a hostile chart archive.
type chartEntry struct {
	name, body, link string
	typ              byte
}

const evilChartYAML = "apiVersion: v2\nname: evil\nversion: 0.1.0\n"

// hostileChart gzips a tar of entries, names exactly as given, after a valid
// evil/Chart.yaml.
func hostileChart(t *testing.T, entries ...chartEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	all := append([]chartEntry{{name: "evil/Chart.yaml", body: evilChartYAML}}, entries...)
	for _, e := range all {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// chartSandbox is a test directory: "work" for berth to write in (the
// temporary directory, the pull destination) and, beside it, "outside" with
// a sentinel the archives aim at.
type chartSandbox struct{ base, work, outside string }

func newChartSandbox(t *testing.T) chartSandbox {
	t.Helper()
	base := t.TempDir()
	s := chartSandbox{base: base, work: filepath.Join(base, "work"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.work, filepath.Join(s.work, "tmp"), s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "sentinel"), []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Lint and Pull unpack into os.MkdirTemp(""): keep that in the sandbox.
	t.Setenv("TMPDIR", filepath.Join(s.work, "tmp"))
	return s
}

// assertOutsideUntouched checks that nothing was written beside work, and
// that the sentinel was neither changed nor linked to.
func (s chartSandbox) assertOutsideUntouched(t *testing.T) {
	t.Helper()
	var names []string
	err := filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.work {
			return fs.SkipDir
		}
		names = append(names, strings.TrimPrefix(p, s.base))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != " /outside /outside/sentinel" {
		t.Errorf("files outside the work directory: %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(s.outside, "sentinel")); string(b) != "untouched" {
		t.Errorf("sentinel = %q; want untouched", b)
	}
	sentinel, err := os.Lstat(filepath.Join(s.outside, "sentinel"))
	if err != nil {
		t.Fatal(err)
	}
	// A hard link to it would leave it unchanged: look for one in work.
	err = filepath.WalkDir(s.work, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if fi, err := d.Info(); err == nil && os.SameFile(fi, sentinel) {
			t.Errorf("%s is a hard link to the sentinel", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostileChartCase is a chart archive whose entries aim outside the chart.
type hostileChartCase struct {
	name    string
	entries func(outside string) []chartEntry
	reason  string // in the error
}

// hostileCharts aim at outside, an absolute path. Helm's loader, which
// berth's Load, Lint and Pull all go through before anything is written,
// refuses each, saying why.
func hostileCharts() []hostileChartCase {
	return []hostileChartCase{
		{"dot-dot", func(string) []chartEntry {
			return []chartEntry{{name: "evil/../../../outside/evil.yaml", body: "x"}}
		}, "references parent directory"},
		{"dot-dot after a directory", func(string) []chartEntry {
			return []chartEntry{{name: "evil/templates/../../../../outside/evil.yaml", body: "x"}}
		}, "references parent directory"},
		{"absolute", func(outside string) []chartEntry {
			return []chartEntry{{name: "evil/" + outside + "/evil.yaml", body: "x"}}
		}, "absolute paths"},
		{"windows separators", func(string) []chartEntry {
			return []chartEntry{{name: `evil\..\..\..\outside\evil.yaml`, body: "x"}}
		}, "references parent directory"},
		{"chart name with a path", func(string) []chartEntry {
			return []chartEntry{{name: "evil/Chart.yaml", body: "apiVersion: v2\nname: ../../outside/evil\nversion: 0.1.0\n"}}
		}, "name"},
	}
}

func writeArchive(t *testing.T, dir string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, "evil-0.1.0.tgz")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRefusesHostileArchives(t *testing.T) {
	ctx := context.Background()
	for _, tc := range hostileCharts() {
		t.Run(tc.name, func(t *testing.T) {
			s := newChartSandbox(t)
			archive := writeArchive(t, s.work, hostileChart(t, tc.entries(s.outside)...))
			_, err := Load(ctx, archive, LoadOptions{Settings: testSettings(t), AllowMissingDependencies: true})
			if err == nil {
				t.Fatal("Load accepted the archive")
			}
			if !strings.Contains(err.Error(), archive) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not name the archive and %q", err, tc.reason)
			}
			s.assertOutsideUntouched(t)
		})
	}
}

func TestLintRefusesHostileArchives(t *testing.T) {
	ctx := context.Background()
	for _, tc := range hostileCharts() {
		t.Run(tc.name, func(t *testing.T) {
			s := newChartSandbox(t)
			archive := writeArchive(t, s.work, hostileChart(t, tc.entries(s.outside)...))
			var out bytes.Buffer
			if err := Lint(ctx, &out, []string{archive}, LintOptions{}); err == nil {
				t.Fatalf("Lint passed the archive:\n%s", out.String())
			}
			// As helm lint: the archive heads its report, the reason follows.
			want := "==> Linting " + archive + "\nError unable to extract tarball: "
			if !strings.HasPrefix(out.String(), want) || !strings.Contains(out.String(), tc.reason) {
				t.Errorf("report:\n%s\nwant it to start %q and say %q", out.String(), want, tc.reason)
			}
			s.assertOutsideUntouched(t)
			if left, _ := os.ReadDir(filepath.Join(s.work, "tmp")); len(left) != 0 {
				t.Errorf("lint left %d entries in the temporary directory", len(left))
			}
		})
	}
}

// pullUntar serves archive over HTTP and pulls it with --untar into
// s.work/dest (made first, then prepare run on it).
func pullUntar(t *testing.T, s chartSandbox, archive []byte, prepare func(dest string)) (dest, path string, err error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(archive) }))
	defer srv.Close()
	dest = filepath.Join(s.work, "dest")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(dest)
	}
	opts := PullOptions{LoadOptions: LoadOptions{Settings: testSettings(t)}, Destination: dest, Untar: true}
	path, err = Pull(context.Background(), srv.URL+"/evil-0.1.0.tgz", opts)
	if left, _ := os.ReadDir(filepath.Join(s.work, "tmp")); len(left) != 0 {
		t.Errorf("pull left %d entries in the temporary directory", len(left))
	}
	return dest, path, err
}

func TestPullUntarRefusesHostileArchives(t *testing.T) {
	for _, tc := range hostileCharts() {
		t.Run(tc.name, func(t *testing.T) {
			s := newChartSandbox(t)
			dest, _, err := pullUntar(t, s, hostileChart(t, tc.entries(s.outside)...), nil)
			if err == nil || !strings.Contains(err.Error(), "evil-0.1.0.tgz") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Pull = %v; want a refusal naming the archive and %q", err, tc.reason)
			}
			if left, _ := os.ReadDir(dest); len(left) != 0 {
				t.Errorf("a refused chart left %d entries in the destination", len(left))
			}
			s.assertOutsideUntouched(t)
		})
	}
}

// TestPullUntarNeverWritesThroughLinks: links in an archive, or already in
// the destination, never carry a write outside the destination.
func TestPullUntarNeverWritesThroughLinks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries func(outside string) []chartEntry
		prepare func(s chartSandbox, dest string) error
		want    func(s chartSandbox) map[string]string // path under dest → regular file content
	}{
		// Helm reads link entries as empty files: no link is made.
		{"symlink and hard link entries", func(outside string) []chartEntry {
			return []chartEntry{
				{name: "evil/values.yaml", typ: tar.TypeSymlink, link: outside + "/sentinel"},
				{name: "evil/README.md", typ: tar.TypeLink, link: "../../outside/sentinel"}}
		}, nil, func(chartSandbox) map[string]string {
			return map[string]string{"evil/Chart.yaml": evilChartYAML, "evil/values.yaml": "", "evil/README.md": ""}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newChartSandbox(t)
			var prepare func(string)
			if tc.prepare != nil {
				prepare = func(dest string) {
					if err := tc.prepare(s, dest); err != nil {
						t.Fatal(err)
					}
				}
			}
			dest, _, err := pullUntar(t, s, hostileChart(t, tc.entries(s.outside)...), prepare)
			if err != nil {
				t.Fatalf("Pull = %v", err)
			}
			s.assertOutsideUntouched(t)
			for p, want := range tc.want(s) {
				fi, err := os.Lstat(filepath.Join(dest, p))
				if err != nil || !fi.Mode().IsRegular() {
					t.Errorf("%s under the destination: %v, %v; want a regular file", p, fi, err)
					continue
				}
				if b, _ := os.ReadFile(filepath.Join(dest, p)); string(b) != want {
					t.Errorf("%s under the destination = %q, want %q", p, b, want)
				}
			}
		})
	}
}

// TestPullUntarRefusesALinkNamedLikeTheChart: a link in the destination named
// like the chart, dangling or not, is something already there.
func TestPullUntarRefusesALinkNamedLikeTheChart(t *testing.T) {
	s := newChartSandbox(t)
	_, _, err := pullUntar(t, s, hostileChart(t, chartEntry{name: "evil/values.yaml", body: "a: 1\n"}), func(dest string) {
		if err := os.Symlink(filepath.Join(s.outside, "chart"), filepath.Join(dest, "evil")); err != nil {
			t.Fatal(err)
		}
	})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Pull = %v; want a refusal: the destination holds a link named evil", err)
	}
	s.assertOutsideUntouched(t)
}
