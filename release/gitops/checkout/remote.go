package checkout

import (
	"context"
	"errors"
	"fmt"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/skeema/knownhosts"
)

// unshallow is the depth git asks for to turn a shallow clone into a full one.
const unshallow = 1<<31 - 1

// pinnedRef keeps a commit fetched by hash reachable in the checkout.
const pinnedRef = "refs/berth/pinned"

// fetchRemote fetches the commit ref names from the server at ep into repo,
// at depth 1 and only if repo lacks it. It returns the name for the revision
// and the commit.
func fetchRemote(ctx context.Context, repo *git.Repository, ep *transport.Endpoint, ref Ref, auth Auth) (string, plumbing.Hash, error) {
	method, err := auth.method(ep)
	if err != nil {
		return "", plumbing.ZeroHash, err
	}
	remote, err := repo.Remote(originName)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("opening the checkout's remote: %w", err)
	}
	fetchSpecs := func(depth int, specs ...config.RefSpec) error {
		err := remote.FetchContext(ctx, &git.FetchOptions{
			RefSpecs: specs,
			Depth:    depth,
			Auth:     method,
			CABundle: auth.CA,
			Tags:     git.NoTags,
			Force:    true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return explain(err)
		}
		return nil
	}
	if ref.Commit != "" {
		h, err := fetchCommit(ctx, repo, plumbing.NewHash(ref.Commit), fetchSpecs)
		return "", h, err
	}

	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: method, CABundle: auth.CA})
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("listing the remote's references: %w", explain(err))
	}
	name, remoteName, local, err := pickRemote(refs, ref)
	if err != nil {
		return "", plumbing.ZeroHash, err
	}
	var advertised plumbing.Hash
	for _, r := range refs {
		if r.Name() == remoteName {
			advertised = r.Hash()
		}
	}
	if repo.Storer.HasEncodedObject(advertised) == nil {
		// Already fetched: only point the local ref at it.
		if err := repo.Storer.SetReference(plumbing.NewHashReference(local, advertised)); err != nil {
			return "", plumbing.ZeroHash, fmt.Errorf("updating %s: %w", local, err)
		}
	} else if err := fetchSpecs(1, config.RefSpec("+"+remoteName+":"+local)); err != nil {
		return "", plumbing.ZeroHash, err
	}
	// The local ref, not the listed hash: the remote may have moved since.
	r, err := repo.Storer.Reference(local)
	if err != nil {
		return "", plumbing.ZeroHash, fmt.Errorf("reading %s after fetching: %w", local, err)
	}
	commit, err := peel(repo.Storer, r.Hash())
	return name, commit, err
}

// pickRemote finds ref among the remote's references: the name for the
// revision, the remote reference and the local one to fetch it into.
func pickRemote(refs []*plumbing.Reference, ref Ref) (name string, remote, local plumbing.ReferenceName, err error) {
	has := func(n plumbing.ReferenceName) bool {
		for _, r := range refs {
			if r.Name() == n && r.Type() == plumbing.HashReference {
				return true
			}
		}
		return false
	}
	if ref.Tag != "" {
		remote = plumbing.NewTagReferenceName(ref.Tag)
		if !has(remote) {
			return "", "", "", notFound(ref)
		}
		return ref.Tag, remote, remote, nil
	}
	branch := ref.Branch
	if branch == "" {
		for _, r := range refs {
			if r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference && r.Target().IsBranch() {
				branch = r.Target().Short()
			}
		}
		if branch == "" {
			return "", "", "", errors.New("the server does not say which branch its HEAD names: set a branch, tag or commit")
		}
	}
	remote = plumbing.NewBranchReferenceName(branch)
	if !has(remote) {
		return "", "", "", notFound(ref)
	}
	return branch, remote, plumbing.NewRemoteReferenceName(originName, branch), nil
}

// fetchCommit fetches commit by its hash at depth 1. Servers that refuse
// wants for unadvertised hashes (git's default without
// uploadpack.allowReachableSHA1InWant) get a full fetch of every branch and
// tag instead, in which the commit must then be.
func fetchCommit(ctx context.Context, repo *git.Repository, commit plumbing.Hash, fetchSpecs func(int, ...config.RefSpec) error) (plumbing.Hash, error) {
	if repo.Storer.HasEncodedObject(commit) != nil {
		err := fetchSpecs(1, config.RefSpec("+"+commit.String()+":"+pinnedRef))
		if err != nil && ctx.Err() == nil {
			err = fetchSpecs(unshallow,
				config.RefSpec("+refs/heads/*:refs/remotes/"+originName+"/*"),
				config.RefSpec("+refs/tags/*:refs/tags/*"))
		}
		if err != nil {
			return plumbing.ZeroHash, err
		}
	}
	if _, err := repo.CommitObject(commit); err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return plumbing.ZeroHash, notFound(Ref{Commit: commit.String()})
		}
		return plumbing.ZeroHash, fmt.Errorf("reading commit %s: %w", commit, err)
	}
	return commit, nil
}

// explain adds the fix to the transport errors a user can fix.
func explain(err error) error {
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("%w: %w: push a commit to it", ErrRefNotFound, err)
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return fmt.Errorf("%w: give credentials (username and password, a token, or an SSH identity), or check them", err)
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w: check the credentials and their access to the repository", err)
	case knownhosts.IsHostKeyChanged(err):
		return fmt.Errorf("%w: the server's host key is not the one known_hosts has for it: check known_hosts (and that the server is the right one)", err)
	case knownhosts.IsHostUnknown(err):
		return fmt.Errorf("%w: known_hosts has no key for the server: add its host key (for example the output of ssh-keyscan HOST)", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w: check the URL (and that the credentials can see the repository)", err)
	}
	return err
}
