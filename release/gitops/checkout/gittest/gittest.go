// Package gittest makes Git repositories for tests: commits, tags and
// branches written with go-git, no git binary needed.
package gittest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a Git repository for tests to fetch from, made with go-git in a
// temporary directory.
type Repo struct {
	t testing.TB
	// Dir is the repository's worktree, Repository the repository.
	Dir        string
	Repository *git.Repository
	// when is the next commit's time: each commit is a second later, so equal
	// trees still give distinct commits.
	when time.Time
}

// New makes a repository whose default branch is branch.
func New(t testing.TB, branch string) *Repo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Repo{t: t, Dir: dir, Repository: repo, when: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (u *Repo) signature() *object.Signature {
	return &object.Signature{Name: "Test", Email: "test@example.com", When: u.when}
}

// Commit writes files (an empty content deletes the file) on the branch
// checked out upstream and commits them.
func (u *Repo) Commit(files map[string]string) plumbing.Hash {
	u.t.Helper()
	wt, err := u.Repository.Worktree()
	if err != nil {
		u.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(u.Dir, filepath.FromSlash(name))
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

// Tag tags commit, annotated when message is set.
func (u *Repo) Tag(name string, commit plumbing.Hash, message string) {
	u.t.Helper()
	var opts *git.CreateTagOptions
	if message != "" {
		opts = &git.CreateTagOptions{Tagger: u.signature(), Message: message}
	}
	if _, err := u.Repository.CreateTag(name, commit, opts); err != nil {
		u.t.Fatal(err)
	}
}

// SwitchBranch checks out branch upstream, creating it at the current commit.
func (u *Repo) SwitchBranch(branch string) {
	u.t.Helper()
	wt, err := u.Repository.Worktree()
	if err != nil {
		u.t.Fatal(err)
	}
	name := plumbing.NewBranchReferenceName(branch)
	_, err = u.Repository.Reference(name, false)
	create := err != nil
	if err := wt.Checkout(&git.CheckoutOptions{Branch: name, Create: create}); err != nil {
		u.t.Fatal(err)
	}
}

// FileURL is the repository's file:// URL.
func (u *Repo) FileURL() string { return "file://" + filepath.ToSlash(u.Dir) }
