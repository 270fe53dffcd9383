package volume

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tree describes a directory as the user sees it: path → "mode content" for
// files (through symlinks), "-> target" for top-level symlinks.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." || strings.HasPrefix(rel, "..") {
			if d.IsDir() && rel != "." {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(path)
			out[rel] = "-> " + target
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			if fi.IsDir() {
				return filepath.WalkDir(path+"/", func(p string, d fs.DirEntry, err error) error {
					if err != nil || d.IsDir() {
						return err
					}
					r, _ := filepath.Rel(dir, p)
					fi, _ := d.Info()
					b, _ := os.ReadFile(p)
					out[r] = fi.Mode().Perm().String() + " " + string(b)
					return nil
				})
			}
			b, _ := os.ReadFile(path)
			out[rel+" (content)"] = fi.Mode().Perm().String() + " " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func tsDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func TestAtomicWriter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	w := NewAtomicWriter(dir, clock)
	first := map[string]FileProjection{
		"a":       {Data: []byte("A"), Mode: 0o644},
		"sub/b":   {Data: []byte("B"), Mode: 0o400},
		"sub/c/d": {Data: []byte("D"), Mode: 0o600},
	}
	firstTree := map[string]string{
		"a": "-> ..data/a", "a (content)": "-rw-r--r-- A",
		"sub": "-> ..data/sub", "sub/b": "-r-------- B", "sub/c/d": "-rw------- D",
	}

	steps := []struct {
		name      string
		payload   map[string]FileProjection
		want      map[string]string
		rewritten bool
	}{
		{
			name:      "first write",
			payload:   first,
			want:      firstTree,
			rewritten: true,
		},
		{
			name:    "same payload writes nothing",
			payload: first,
			want:    firstTree,
		},
		{
			name:    "mode change rewrites",
			payload: map[string]FileProjection{"a": {Data: []byte("A"), Mode: 0o640}, "sub/b": {Data: []byte("B"), Mode: 0o400}, "sub/c/d": {Data: []byte("D"), Mode: 0o600}},
			want: map[string]string{
				"a": "-> ..data/a", "a (content)": "-rw-r----- A",
				"sub": "-> ..data/sub", "sub/b": "-r-------- B", "sub/c/d": "-rw------- D",
			},
			rewritten: true,
		},
		{
			name:      "update and removal",
			payload:   map[string]FileProjection{"a": {Data: []byte("A2"), Mode: 0o644}, "e": {Data: []byte("E"), Mode: 0o644}},
			want:      map[string]string{"a": "-> ..data/a", "a (content)": "-rw-r--r-- A2", "e": "-> ..data/e", "e (content)": "-rw-r--r-- E"},
			rewritten: true,
		},
		{
			name:      "empty payload",
			payload:   map[string]FileProjection{},
			want:      map[string]string{},
			rewritten: true,
		},
	}
	var lastData string
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			now = now.Add(time.Second)
			if err := w.Write(st.payload); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st.want, tree(t, dir)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			data, err := os.Readlink(filepath.Join(dir, "..data"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(data, now.Format("..2006_01_02_15_04_05.")) != !st.rewritten {
				t.Errorf("..data -> %s at %v: rewritten = %v, want %v", data, now, !st.rewritten, st.rewritten)
			}
			if !st.rewritten && data != lastData {
				t.Errorf("..data moved from %s to %s for an unchanged payload", lastData, data)
			}
			lastData = data
			// Exactly one timestamped directory is left: the old one is removed.
			if got := tsDirs(t, dir); len(got) != 1 || got[0] != data {
				t.Errorf("timestamped dirs = %v, want just %s", got, data)
			}
			if _, err := os.Lstat(filepath.Join(dir, "..data_tmp")); err == nil {
				t.Errorf("..data_tmp left behind")
			}
		})
	}
}

func TestAtomicWriterRefusesBadPaths(t *testing.T) {
	for _, p := range []string{"/abs", "../up", "a/../../up", "..data", "..hidden", ""} {
		t.Run(p, func(t *testing.T) {
			dir := t.TempDir()
			err := NewAtomicWriter(dir, time.Now).Write(map[string]FileProjection{p: {Data: []byte("x"), Mode: 0o644}})
			if err == nil {
				t.Fatalf("path %q accepted", p)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("refused payload left %d entries", len(entries))
			}
		})
	}
}
