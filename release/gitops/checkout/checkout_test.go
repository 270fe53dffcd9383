package checkout

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"berth.dev/berth/release/gitops/checkout/gittest"
)

func TestFetchBranch(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(*gittest.Repo) string
	}{
		{"file URL", (*gittest.Repo).FileURL},
		{"plain path", func(u *gittest.Repo) string { return u.Dir }},
		// A repository without a worktree, laid out as a bare one is.
		{"git directory", func(u *gittest.Repo) string { return filepath.Join(u.Dir, ".git") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := gittest.New(t, "main")
			first := up.Commit(map[string]string{"a.txt": "one", "sub/b.txt": "bee", ".gitignore": "*.log\n"})
			dir := filepath.Join(t.TempDir(), "checkout")
			o := Options{URL: tc.url(up), Ref: Ref{Branch: "main"}, Dir: dir}

			res, err := Fetch(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			want := Result{Dir: dir, Commit: first.String(), Ref: "main@sha1:" + first.String()}
			if res != want {
				t.Errorf("Fetch = %+v, want %+v", res, want)
			}
			wantFiles(t, dir, map[string]string{"a.txt": "one", "sub/b.txt": "bee", ".gitignore": "*.log\n"})

			second := up.Commit(map[string]string{"a.txt": "two", "sub/b.txt": "", "c/d.txt": "dee"})
			// The cache is berth's: local edits and stray files, ignored ones
			// too, must not survive.
			for name, content := range map[string]string{"c/d.txt": "local edit", "stray.txt": "x", "straydir/e.txt": "x", "debug.log": "x"} {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err = Fetch(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Commit != second.String() {
				t.Errorf("second Fetch checked out %s, want the new tip %s", res.Commit, second)
			}
			wantFiles(t, dir, map[string]string{"a.txt": "two", "c/d.txt": "dee", ".gitignore": "*.log\n"})

			// Nothing new upstream: the same commit, and a modified file is restored.
			if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("edited"), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err = Fetch(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Commit != second.String() {
				t.Errorf("third Fetch checked out %s, want %s", res.Commit, second)
			}
			wantFiles(t, dir, map[string]string{"a.txt": "two", "c/d.txt": "dee", ".gitignore": "*.log\n"})
		})
	}
}

func TestFetchOtherBranch(t *testing.T) {
	up := gittest.New(t, "main")
	first := up.Commit(map[string]string{"a.txt": "main"})
	up.SwitchBranch("feature")
	feature := up.Commit(map[string]string{"a.txt": "feature"})
	up.SwitchBranch("main")
	up.Commit(map[string]string{"a.txt": "main again"})

	dir := t.TempDir()
	res, err := Fetch(t.Context(), Options{URL: up.FileURL(), Ref: Ref{Branch: "feature"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != feature.String() || res.Ref != "feature@sha1:"+feature.String() {
		t.Errorf("Fetch = %+v, want feature's tip %s", res, feature)
	}
	wantFiles(t, dir, map[string]string{"a.txt": "feature"})

	// Like a depth-1 fetch, a local one copies the commit, not its history.
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CommitObject(first); !errors.Is(err, plumbing.ErrObjectNotFound) {
		t.Errorf("the parent commit %s is in the checkout (err %v), want only the fetched one", first, err)
	}
}

func TestFetchTag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		message string
	}{
		{"lightweight", ""},
		{"annotated", "release v1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := gittest.New(t, "main")
			tagged := up.Commit(map[string]string{"a.txt": "v1"})
			up.Tag("v1", tagged, tc.message)
			up.Commit(map[string]string{"a.txt": "after v1"})

			dir := t.TempDir()
			res, err := Fetch(t.Context(), Options{URL: up.FileURL(), Ref: Ref{Tag: "v1"}, Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			if res.Commit != tagged.String() || res.Ref != "v1@sha1:"+tagged.String() {
				t.Errorf("Fetch = %+v, want the tagged commit %s", res, tagged)
			}
			wantFiles(t, dir, map[string]string{"a.txt": "v1"})
		})
	}
}

func TestFetchCommit(t *testing.T) {
	up := gittest.New(t, "main")
	first := up.Commit(map[string]string{"a.txt": "one"})
	up.Commit(map[string]string{"a.txt": "two"})

	dir := t.TempDir()
	o := Options{URL: up.FileURL(), Ref: Ref{Commit: first.String()}, Dir: dir}
	res, err := Fetch(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != first.String() || res.Ref != "sha1:"+first.String() {
		t.Errorf("Fetch = %+v, want the pinned commit %s", res, first)
	}
	wantFiles(t, dir, map[string]string{"a.txt": "one"})

	// A pinned commit stays put however the branch moves.
	up.Commit(map[string]string{"a.txt": "three"})
	if res, err = Fetch(t.Context(), o); err != nil || res.Commit != first.String() {
		t.Errorf("second Fetch = %+v, %v; want %s", res, err, first)
	}
}

func TestFetchDefaultBranch(t *testing.T) {
	up := gittest.New(t, "trunk")
	tip := up.Commit(map[string]string{"a.txt": "trunk"})
	up.SwitchBranch("other")
	up.Commit(map[string]string{"a.txt": "other"})
	up.SwitchBranch("trunk")

	dir := t.TempDir()
	res, err := Fetch(t.Context(), Options{URL: up.FileURL(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != tip.String() || res.Ref != "trunk@sha1:"+tip.String() {
		t.Errorf("Fetch = %+v, want trunk's tip %s", res, tip)
	}
	wantFiles(t, dir, map[string]string{"a.txt": "trunk"})
}

func TestFetchNotFound(t *testing.T) {
	up := gittest.New(t, "main")
	up.Commit(map[string]string{"a.txt": "one"})
	missing := strings.Repeat("ab", 20)
	for _, ref := range []Ref{{Branch: "nope"}, {Tag: "v9"}, {Commit: missing}} {
		t.Run(ref.String(), func(t *testing.T) {
			_, err := Fetch(t.Context(), Options{URL: up.FileURL(), Ref: ref, Dir: t.TempDir()})
			if !errors.Is(err, ErrRefNotFound) {
				t.Fatalf("Fetch error = %v, want ErrRefNotFound", err)
			}
			for _, want := range []string{ref.String(), up.FileURL()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

func TestFetchNotARepository(t *testing.T) {
	url := "file://" + filepath.ToSlash(t.TempDir())
	_, err := Fetch(t.Context(), Options{URL: url, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), url) {
		t.Fatalf("Fetch error = %v, want one naming %s", err, url)
	}
}

func TestFetchReplacesOtherCache(t *testing.T) {
	a := gittest.New(t, "main")
	a.Commit(map[string]string{"a.txt": "from a"})
	b := gittest.New(t, "main")
	fromB := b.Commit(map[string]string{"b.txt": "from b"})

	dir := t.TempDir()
	if _, err := Fetch(t.Context(), Options{URL: a.FileURL(), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, dir, map[string]string{"a.txt": "from a"})
	res, err := Fetch(t.Context(), Options{URL: b.FileURL(), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != fromB.String() {
		t.Errorf("Fetch checked out %s, want %s", res.Commit, fromB)
	}
	wantFiles(t, dir, map[string]string{"b.txt": "from b"})
}

func TestFetchKeepsOtherFiles(t *testing.T) {
	up := gittest.New(t, "main")
	up.Commit(map[string]string{"a.txt": "one"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Fetch(t.Context(), Options{URL: up.FileURL(), Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "empty or new directory") {
		t.Errorf("Fetch error = %v, want a refusal to replace the directory", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("notes.txt = %q, %v; want it untouched", b, err)
	}
}

func TestFetchInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no URL", Options{Dir: "x"}, "no URL"},
		{"no dir", Options{URL: "file:///x"}, "no directory"},
		{"branch and tag", Options{URL: "file:///x", Dir: "x", Ref: Ref{Branch: "main", Tag: "v1"}}, "keep one"},
		{"short commit", Options{URL: "file:///x", Dir: "x", Ref: Ref{Commit: "abc123"}}, "full 40-character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fetch(t.Context(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Fetch error = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestFetchCancelled(t *testing.T) {
	up := gittest.New(t, "main")
	up.Commit(map[string]string{"a.txt": "one"})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Fetch(ctx, Options{URL: up.FileURL(), Dir: t.TempDir()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch error = %v, want context.Canceled", err)
	}
}

func TestHead(t *testing.T) {
	up := gittest.New(t, "main")
	tip := up.Commit(map[string]string{"sub/a.txt": "one"})
	for _, dir := range []string{up.Dir, filepath.Join(up.Dir, "sub")} {
		if got, err := Head(dir); err != nil || got != tip.String() {
			t.Errorf("Head(%s) = %q, %v; want %s", dir, got, err, tip)
		}
	}
	if _, err := Head(t.TempDir()); err == nil {
		t.Error("Head of a directory outside any repository succeeded")
	}
}
