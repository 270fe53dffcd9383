package checkout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Options say what to fetch and where.
type Options struct {
	// URL is https://, http://, ssh://, git://, file://, scp-like
	// (git@host:path) or a local directory path.
	URL  string
	Ref  Ref
	Auth Auth
	// Dir holds the checkout and is reused between fetches of the same URL:
	// they fetch only what is new. A checkout of another URL there is
	// replaced; other files are refused. Its worktree is forced to the
	// fetched commit, so it must be the caller's own directory, used by one
	// Fetch at a time.
	Dir string
}

// Result is what a Fetch checked out.
type Result struct {
	// Dir is the worktree.
	Dir string
	// Commit is the full SHA-1 checked out.
	Commit string
	// Ref names the commit for status messages as Flux writes artifact
	// revisions: "main@sha1:<hash>", "v1.2.0@sha1:<hash>" or "sha1:<hash>".
	Ref string
}

// originName is the remote recorded in Dir, whose URL says what Dir caches.
const originName = "origin"

// Fetch brings o.Dir to the commit o.Ref names in the repository at o.URL,
// fetching only what Dir lacks, and leaves in the worktree exactly that
// commit's files.
func Fetch(ctx context.Context, o Options) (Result, error) {
	if o.URL == "" {
		return Result{}, errors.New("fetching a Git repository: no URL given")
	}
	if o.Dir == "" {
		return Result{}, fmt.Errorf("fetching %s: no directory given to check it out in", redact(o.URL))
	}
	if err := o.Ref.validate(); err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", redact(o.URL), err)
	}
	res, err := fetch(ctx, o)
	if err != nil {
		return Result{}, fmt.Errorf("fetching %s of %s: %w", o.Ref, redact(o.URL), err)
	}
	return res, nil
}

func fetch(ctx context.Context, o Options) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	ep, err := transport.NewEndpoint(o.URL)
	if err != nil {
		return Result{}, fmt.Errorf("parsing the URL: %w", err)
	}
	repo, err := openCache(o.Dir, o.URL)
	if err != nil {
		return Result{}, err
	}
	var name string
	var commit plumbing.Hash
	if ep.Protocol == "file" {
		name, commit, err = fetchLocal(ctx, repo, ep.Path, o.Ref)
	} else {
		name, commit, err = fetchRemote(ctx, repo, ep, o.Ref, o.Auth)
	}
	if err != nil {
		return Result{}, err
	}
	if err := checkoutCommit(repo, o.Dir, commit); err != nil {
		return Result{}, err
	}
	return Result{Dir: o.Dir, Commit: commit.String(), Ref: revision(name, commit)}, nil
}

// openCache opens the repository in dir if it caches url. Otherwise it
// replaces dir with an empty repository that does, if dir is absent, empty or
// a Git checkout: a directory of other files may be someone's, not a cache.
func openCache(dir, url string) (*git.Repository, error) {
	if repo, err := git.PlainOpen(dir); err == nil {
		if remote, err := repo.Remote(originName); err == nil && len(remote.Config().URLs) == 1 && remote.Config().URLs[0] == url {
			return repo, nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the checkout directory %s: %w", dir, err)
	}
	if len(entries) > 0 && !slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == git.GitDirName }) {
		return nil, fmt.Errorf("the checkout directory %s holds files but no Git repository, so it is not replaced: give an empty or new directory", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clearing the checkout directory %s: %w", dir, err)
	}
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		return nil, fmt.Errorf("creating a repository in %s: %w", dir, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: originName, URLs: []string{url}}); err != nil {
		return nil, fmt.Errorf("recording the remote in %s: %w", dir, err)
	}
	return repo, nil
}

// checkoutCommit forces dir's worktree to commit: modified files are
// restored, and files the commit lacks are removed, ignored ones included,
// since the directory is a cache that nobody edits.
func checkoutCommit(repo *git.Repository, dir string, commit plumbing.Hash) error {
	wt, err := repo.Worktree()
	if err != nil {
		return fmt.Errorf("opening the worktree in %s: %w", dir, err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: commit, Force: true}); err != nil {
		return fmt.Errorf("checking out %s in %s: %w", commit, dir, err)
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("reading the index in %s: %w", dir, err)
	}
	keep := make(map[string]bool, len(idx.Entries))
	for _, e := range idx.Entries {
		for p := e.Name; p != "."; p = path.Dir(p) {
			keep[p] = true
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == git.GitDirName:
			return filepath.SkipDir
		case keep[rel]:
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("removing files that %s lacks from %s: %w", commit, dir, err)
	}
	return nil
}

// redact hides a password in a URL before it goes into a message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// Head returns the full SHA-1 of the commit checked out in the Git working
// copy that holds dir, for naming what a directory used as it is holds.
func Head(dir string) (string, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return "", fmt.Errorf("opening the Git repository holding %s: %w", dir, err)
	}
	head, err := repo.Head()
	if err != nil {
		return "", fmt.Errorf("reading HEAD of the Git repository holding %s: %w", dir, err)
	}
	return head.Hash().String(), nil
}
