package checkout

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// upstream is a repository the tests fetch from, made with go-git in a
// temporary directory.
type upstream struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	// when is the next commit's time: each commit is a second later, so equal
	// trees still give distinct commits.
	when time.Time
}

func newUpstream(t *testing.T, branch string) *upstream {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &upstream{t: t, dir: dir, repo: repo, when: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (u *upstream) signature() *object.Signature {
	return &object.Signature{Name: "Test", Email: "test@example.com", When: u.when}
}

// commit writes files (an empty content deletes the file) on the branch
// checked out upstream and commits them.
func (u *upstream) commit(files map[string]string) plumbing.Hash {
	u.t.Helper()
	wt, err := u.repo.Worktree()
	if err != nil {
		u.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(u.dir, filepath.FromSlash(name))
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				u.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			u.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			u.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			u.t.Fatal(err)
		}
	}
	h, err := wt.Commit("change", &git.CommitOptions{Author: u.signature(), Committer: u.signature()})
	if err != nil {
		u.t.Fatal(err)
	}
	u.when = u.when.Add(time.Second)
	return h
}

// tag tags commit, annotated when message is set.
func (u *upstream) tag(name string, commit plumbing.Hash, message string) {
	u.t.Helper()
	var opts *git.CreateTagOptions
	if message != "" {
		opts = &git.CreateTagOptions{Tagger: u.signature(), Message: message}
	}
	if _, err := u.repo.CreateTag(name, commit, opts); err != nil {
		u.t.Fatal(err)
	}
}

// switchBranch checks out branch upstream, creating it at the current commit.
func (u *upstream) switchBranch(branch string) {
	u.t.Helper()
	wt, err := u.repo.Worktree()
	if err != nil {
		u.t.Fatal(err)
	}
	name := plumbing.NewBranchReferenceName(branch)
	_, err = u.repo.Reference(name, false)
	create := err != nil
	if err := wt.Checkout(&git.CheckoutOptions{Branch: name, Create: create}); err != nil {
		u.t.Fatal(err)
	}
}

func (u *upstream) fileURL() string { return "file://" + filepath.ToSlash(u.dir) }

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
