package checkout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// fetchLocal reads the repository at dir in-process (go-git's file transport
// would run git-upload-pack, which a machine may lack) and copies into repo
// the one commit ref names and its tree, as a depth-1 fetch would. It returns
// the name for the revision and the commit.
func fetchLocal(ctx context.Context, repo *git.Repository, dir string, ref Ref) (string, plumbing.Hash, error) {
	src, err := git.PlainOpen(dir)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("opening the repository at %s (is the URL right?): %w", dir, err)
	}
	name, commit, err := resolveLocal(src, ref)
	if err != nil {
		return "", plumbing.ZeroHash, err
	}
	if err := copyCommit(ctx, src.Storer, repo.Storer, commit); err != nil {
		return "", plumbing.ZeroHash, err
	}
	return name, commit, nil
}

// resolveLocal finds the commit ref names in src.
func resolveLocal(src *git.Repository, ref Ref) (string, plumbing.Hash, error) {
	switch {
	case ref.Commit != "":
		h := plumbing.NewHash(ref.Commit)
		if _, err := src.CommitObject(h); err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return "", plumbing.ZeroHash, notFound(ref)
			}
			return "", plumbing.ZeroHash, fmt.Errorf("reading commit %s: %w", h, err)
		}
		return "", h, nil
	case ref.Tag != "":
		r, err := src.Reference(plumbing.NewTagReferenceName(ref.Tag), true)
		if err != nil {
			return "", plumbing.ZeroHash, lookupErr(ref, err)
		}
		h, err := peel(src.Storer, r.Hash())
		return ref.Tag, h, err
	}
	branch := ref.Branch
	if branch == "" {
		head, err := src.Storer.Reference(plumbing.HEAD)
		if err != nil {
			return "", plumbing.ZeroHash, lookupErr(ref, err)
		}
		if head.Type() != plumbing.SymbolicReference || !head.Target().IsBranch() {
			return "", plumbing.ZeroHash, errors.New("the repository's HEAD names no branch: set a branch, tag or commit")
		}
		branch = head.Target().Short()
	}
	r, err := src.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return "", plumbing.ZeroHash, lookupErr(ref, err)
	}
	return branch, r.Hash(), nil
}

func lookupErr(ref Ref, err error) error {
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return notFound(ref)
	}
	return fmt.Errorf("looking up the %s: %w", ref, err)
}

// peel follows annotated tags from h to the commit they tag.
func peel(s storer.EncodedObjectStorer, h plumbing.Hash) (plumbing.Hash, error) {
	for {
		o, err := s.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("reading object %s: %w", h, err)
		}
		switch o.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(s, o)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("reading tag object %s: %w", h, err)
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("the tag points at a %s, not a commit that can be checked out", o.Type())
		}
	}
}

// copyCommit copies commit and every object of its tree that dst lacks as
// one pack, and records commit as shallow, since its parents stay behind.
// A pack lands whole or not at all, so a tree in dst always has its contents
// and can be skipped.
func copyCommit(ctx context.Context, src storer.EncodedObjectStorer, dst storage.Storer, commit plumbing.Hash) error {
	if dst.HasEncodedObject(commit) == nil {
		return nil
	}
	c, err := object.GetCommit(src, commit)
	if err != nil {
		return fmt.Errorf("reading commit %s: %w", commit, err)
	}
	missing := map[plumbing.Hash]bool{commit: true}
	if err := missingTree(ctx, src, dst, c.TreeHash, missing); err != nil {
		return err
	}
	objs := slices.Collect(maps.Keys(missing))
	pw, ok := dst.(storer.PackfileWriter)
	if !ok {
		return errors.New("the checkout's storage cannot take packs")
	}
	w, err := pw.PackfileWriter()
	if err != nil {
		return fmt.Errorf("writing a pack: %w", err)
	}
	_, err = packfile.NewEncoder(w, src, false).Encode(objs, 0)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copying %d objects of commit %s: %w", len(objs), commit, err)
	}
	shallow, err := dst.Shallow()
	if err != nil {
		return fmt.Errorf("reading the shallow commits: %w", err)
	}
	if !slices.Contains(shallow, commit) {
		if err := dst.SetShallow(append(shallow, commit)); err != nil {
			return fmt.Errorf("recording commit %s as shallow: %w", commit, err)
		}
	}
	return nil
}

// missingTree adds to missing the tree h and what it holds that dst lacks.
// Submodules are left out: their commits live in other repositories.
func missingTree(ctx context.Context, src, dst storer.EncodedObjectStorer, h plumbing.Hash, missing map[plumbing.Hash]bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if missing[h] || dst.HasEncodedObject(h) == nil {
		return nil
	}
	tree, err := object.GetTree(src, h)
	if err != nil {
		return fmt.Errorf("reading tree %s: %w", h, err)
	}
	missing[h] = true
	for _, e := range tree.Entries {
		switch {
		case e.Mode == filemode.Submodule:
		case e.Mode == filemode.Dir:
			if err := missingTree(ctx, src, dst, e.Hash, missing); err != nil {
				return err
			}
		case dst.HasEncodedObject(e.Hash) != nil:
			missing[e.Hash] = true
		}
	}
	return nil
}
