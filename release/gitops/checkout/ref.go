package checkout

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// ErrRefNotFound means the repository has no such branch, tag or commit:
// retrying will not help until someone pushes it or fixes the ref.
var ErrRefNotFound = errors.New("reference not found")

// Ref picks what to check out: at most one of Branch, Tag and Commit; all
// empty means the remote's default branch (the branch its HEAD names).
type Ref struct {
	Branch string
	Tag    string
	// Commit is a full 40-character SHA-1.
	Commit string
}

func (r Ref) validate() error {
	set := 0
	for _, s := range []string{r.Branch, r.Tag, r.Commit} {
		if s != "" {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("ref sets more than one of branch %q, tag %q and commit %q: keep one", r.Branch, r.Tag, r.Commit)
	}
	if r.Commit != "" && !plumbing.IsHash(r.Commit) {
		return fmt.Errorf("commit %q is not a full 40-character SHA-1: give the whole hash", r.Commit)
	}
	return nil
}

// String names the ref for messages: "branch main", "tag v1", "commit 1a2b…",
// or "default branch".
func (r Ref) String() string {
	switch {
	case r.Branch != "":
		return "branch " + r.Branch
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Commit != "":
		return "commit " + r.Commit
	}
	return "default branch"
}

// revision writes a checked-out commit as Flux writes artifact revisions:
// "main@sha1:<hash>" for a branch (the default one by its name), "v1@sha1:<hash>"
// for a tag, "sha1:<hash>" for a pinned commit.
func revision(name string, commit plumbing.Hash) string {
	if name == "" {
		return "sha1:" + commit.String()
	}
	return name + "@sha1:" + commit.String()
}

func notFound(r Ref) error {
	return fmt.Errorf("%w: check that the %s exists in the repository", ErrRefNotFound, r)
}
