package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// GCOptions says what GC may delete.
type GCOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// DeleteUntagged deletes manifests no tag reaches, directly or through
	// an index, together with what only they reference. A manifest whose
	// subject is kept (a signature, an SBOM) is kept with it.
	DeleteUntagged bool
	// Log receives progress; nil means slog.Default().
	Log *slog.Logger
}

// GCResult is what GC deleted, or with DryRun would delete.
type GCResult struct {
	// Repositories is how many repositories were examined.
	Repositories int
	// Manifests are the manifests deleted (only with DeleteUntagged).
	Manifests []ManifestRef
	// Blobs are the blobs deleted from the shared blob store.
	Blobs []digest.Digest
	// LayerLinks counts repository links to blobs that no manifest of the
	// repository references (a push that never got its manifest).
	LayerLinks int
	// Uploads counts unfinished uploads deleted.
	Uploads int
	// BytesFreed is the size of the deleted blobs and uploads.
	BytesFreed int64
}

// ManifestRef names a manifest in a repository.
type ManifestRef struct {
	Repository string
	Digest     digest.Digest
}

// GC collects the garbage of the registry stored under root: it marks
// everything its manifests reference and sweeps the rest, then deletes
// unfinished uploads. It refuses to run while a Server serves root, since a
// push during the mark would lose blobs in the sweep.
func GC(ctx context.Context, root string, opts GCOptions) (GCResult, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if root == "" {
		return GCResult{}, errors.New("registry gc: a storage directory is required")
	}
	if _, err := os.Stat(root); err != nil {
		return GCResult{}, fmt.Errorf("registry gc: %w", err)
	}
	lock, err := lockRoot(root, true)
	if err != nil {
		return GCResult{}, fmt.Errorf("registry gc: %w", err)
	}
	defer func() { _ = lock.Unlock() }()

	ctx = withSlog(ctx, log)
	ns, driver, err := namespace(ctx, root)
	if err != nil {
		return GCResult{}, fmt.Errorf("registry gc: %w", err)
	}
	g := &collector{ctx: ctx, ns: ns, driver: driver, opts: opts, log: log, marked: map[digest.Digest]bool{}}
	if err := g.markAll(); err != nil {
		return g.res, fmt.Errorf("registry gc: marking: %w", err)
	}
	vacuum := storage.NewVacuum(ctx, driver)
	if err := g.sweep(vacuum); err != nil {
		return g.res, fmt.Errorf("registry gc: sweeping: %w", err)
	}
	// Under the exclusive lock no upload is in progress: all are abandoned.
	n, size, err := purgeUploads(ctx, driver, time.Now().Add(time.Minute), opts.DryRun)
	g.res.Uploads, g.res.BytesFreed = n, g.res.BytesFreed+size
	if err != nil {
		return g.res, fmt.Errorf("registry gc: %w", err)
	}
	log.Info("registry gc done", "dryRun", opts.DryRun, "repositories", g.res.Repositories,
		"manifests", len(g.res.Manifests), "blobs", len(g.res.Blobs), "layerLinks", g.res.LayerLinks,
		"uploads", g.res.Uploads, "bytesFreed", g.res.BytesFreed)
	return g.res, nil
}

// collector holds one GC run's state.
type collector struct {
	ctx    context.Context
	ns     distribution.Namespace
	driver storagedriver.StorageDriver
	opts   GCOptions
	log    *slog.Logger
	// marked holds every digest something kept references, across
	// repositories: the shared blob store keeps exactly these.
	marked map[digest.Digest]bool
	// repos holds, per repository, what the sweep removes from it.
	repos []repoGarbage
	res   GCResult
}

// repoGarbage is what the sweep removes from one repository.
type repoGarbage struct {
	name       string
	manifests  []digest.Digest
	tags       []string // all the repository's tags, for the tag index entries of deleted manifests
	layerLinks []digest.Digest
}

// repoManifest is a manifest of the repository being marked.
type repoManifest struct {
	refs    []digest.Digest
	subject digest.Digest
	tagged  bool
}

func (g *collector) markAll() error {
	names, err := listRepositories(g.ctx, g.driver)
	if err != nil {
		return err
	}
	for _, name := range names {
		g.res.Repositories++
		if err := g.markRepo(name); err != nil {
			return err
		}
	}
	return nil
}

// listRepositories lists every repository with anything in storage.
// Distribution's enumerator lists only those with manifests, which would
// leave alone the links of a repository whose pushes never got one.
func listRepositories(ctx context.Context, d storagedriver.StorageDriver) ([]string, error) {
	seen := map[string]bool{}
	err := d.Walk(ctx, repositoriesPath, func(fi storagedriver.FileInfo) error {
		if !fi.IsDir() {
			return nil
		}
		switch path.Base(fi.Path()) {
		case "_manifests", "_layers", "_uploads":
			name := strings.TrimPrefix(path.Dir(fi.Path()), repositoriesPath+"/")
			seen[name] = true
			return storagedriver.ErrSkipDir
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("listing repositories: %w", err)
	}
	names := slices.Collect(maps.Keys(seen))
	slices.Sort(names)
	return names, nil
}

// markRepo marks what repository name keeps and records what it does not.
func (g *collector) markRepo(name string) error {
	named, err := reference.WithName(name)
	if err != nil {
		return fmt.Errorf("repository %q: %w", name, err)
	}
	repo, err := g.ns.Repository(g.ctx, named)
	if err != nil {
		return fmt.Errorf("opening repository %s: %w", name, err)
	}
	ms, err := repo.Manifests(g.ctx)
	if err != nil {
		return fmt.Errorf("opening manifests of %s: %w", name, err)
	}
	menum, ok := ms.(distribution.ManifestEnumerator)
	if !ok {
		return errors.New("storage cannot list manifests")
	}

	manifests := map[digest.Digest]*repoManifest{}
	err = menum.Enumerate(g.ctx, func(d digest.Digest) error {
		m, err := ms.Get(g.ctx, d)
		if err != nil {
			// Not knowing what it references, gc could delete what it needs.
			return fmt.Errorf("reading manifest %s@%s (gc stops rather than guess what it references): %w", name, d, err)
		}
		rm := &repoManifest{}
		for _, ref := range m.References() {
			rm.refs = append(rm.refs, ref.Digest)
		}
		if mt, payload, err := m.Payload(); err == nil {
			rm.subject = summarize(mt, payload).subject
		}
		manifests[d] = rm
		return nil
	})
	if err != nil && !isNotFound(err) {
		return err
	}

	tags, err := repo.Tags(g.ctx).All(g.ctx)
	var unknown distribution.ErrRepositoryUnknown
	if err != nil && !errors.As(err, &unknown) && !isNotFound(err) {
		return fmt.Errorf("listing tags of %s: %w", name, err)
	}
	for _, tag := range tags {
		desc, err := repo.Tags(g.ctx).Get(g.ctx, tag)
		if err != nil {
			return fmt.Errorf("reading tag %s:%s: %w", name, tag, err)
		}
		if m := manifests[desc.Digest]; m != nil {
			m.tagged = true
		}
	}

	// Mark from the roots, then keep adding referrers of what is kept until
	// nothing changes: a signature of a signature is kept too.
	kept := map[digest.Digest]bool{}
	var keep func(d digest.Digest)
	keep = func(d digest.Digest) {
		if kept[d] {
			return
		}
		kept[d] = true
		g.marked[d] = true
		for _, ref := range manifests[d].refs {
			g.marked[ref] = true
			if manifests[ref] != nil {
				keep(ref)
			}
		}
	}
	for d, m := range manifests {
		if m.tagged || !g.opts.DeleteUntagged {
			keep(d)
		}
	}
	for changed := true; changed; {
		changed = false
		for d, m := range manifests {
			if !kept[d] && m.subject != "" && kept[m.subject] {
				keep(d)
				changed = true
			}
		}
	}

	garbage := repoGarbage{name: name, tags: tags}
	for d := range manifests {
		if !kept[d] {
			garbage.manifests = append(garbage.manifests, d)
		}
	}
	// A repository's layer links are kept for what its kept manifests
	// reference; links to blobs of other repositories' manifests go too.
	repoRefs := map[digest.Digest]bool{}
	for d := range kept {
		repoRefs[d] = true
		for _, ref := range manifests[d].refs {
			repoRefs[ref] = true
		}
	}
	lenum, ok := repo.Blobs(g.ctx).(distribution.ManifestEnumerator)
	if !ok {
		return errors.New("storage cannot list a repository's blobs")
	}
	err = lenum.Enumerate(g.ctx, func(d digest.Digest) error {
		if !repoRefs[d] {
			garbage.layerLinks = append(garbage.layerLinks, d)
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("listing blobs of %s: %w", name, err)
	}
	slices.Sort(garbage.manifests)
	slices.Sort(garbage.layerLinks)
	g.repos = append(g.repos, garbage)
	return nil
}

// sweep deletes what markAll did not mark.
func (g *collector) sweep(v storage.Vacuum) error {
	for _, r := range g.repos {
		for _, d := range r.manifests {
			g.log.Debug("registry gc: manifest eligible for deletion", "repository", r.name, "digest", d)
			if !g.opts.DryRun {
				if err := v.RemoveManifest(r.name, d, r.tags); err != nil && !isNotFound(err) {
					return fmt.Errorf("deleting manifest %s@%s: %w", r.name, d, err)
				}
			}
			g.res.Manifests = append(g.res.Manifests, ManifestRef{Repository: r.name, Digest: d})
		}
		for _, d := range r.layerLinks {
			if !g.opts.DryRun {
				if err := v.RemoveLayer(r.name, d); err != nil && !isNotFound(err) {
					return fmt.Errorf("deleting link to blob %s from %s: %w", d, r.name, err)
				}
			}
			g.res.LayerLinks++
		}
	}
	var unmarked []digest.Digest
	err := g.ns.Blobs().Enumerate(g.ctx, func(d digest.Digest) error {
		if !g.marked[d] {
			unmarked = append(unmarked, d)
		}
		return nil
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("listing blobs: %w", err)
	}
	slices.Sort(unmarked)
	for _, d := range unmarked {
		var size int64
		if desc, err := g.ns.BlobStatter().Stat(g.ctx, d); err == nil {
			size = desc.Size
		}
		g.log.Debug("registry gc: blob eligible for deletion", "digest", d, "size", size)
		if !g.opts.DryRun {
			if err := v.RemoveBlob(d.String()); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting blob %s: %w", d, err)
			}
		}
		g.res.Blobs = append(g.res.Blobs, d)
		g.res.BytesFreed += size
	}
	return nil
}
