package checkout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantFiles checks that dir's worktree holds exactly files.
func wantFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	for name := range got {
		if _, ok := files[name]; !ok {
			t.Errorf("unexpected file %s in the worktree", name)
		}
	}
	// Empty directories are not files, but a stray one must go too.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != ".git" {
			if _, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && !hasPrefix(files, e.Name()+"/") {
				t.Errorf("unexpected directory %s in the worktree", e.Name())
			}
		}
	}
}

func hasPrefix(files map[string]string, prefix string) bool {
	for name := range files {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}
