package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/distribution/reference"
	"github.com/gofrs/flock"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Error categories; test them with errors.Is.
var (
	// ErrNotFound: no image of that name, or a blob the image needs is absent.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the content is malformed or does not match its digest.
	ErrInvalid = errors.New("invalid image content")
)

// Config configures a Store.
type Config struct {
	// Root is the directory holding everything the store owns; created if absent.
	Root string
	// Platform is selected from image indexes; defaults to linux/runtime.GOARCH.
	Platform ocispec.Platform
	// NoOverlay makes root filesystems plain copies of the layers instead of
	// overlayfs mounts (where overlayfs is unavailable, this happens on its own).
	NoOverlay bool
	// Registries are the mirrors and credentials Pull uses.
	Registries Registries
}

// Store is the kubelet's image store. It is safe for concurrent use, also by
// several processes sharing one Root.
type Store struct {
	root       string
	platform   ocispec.Platform
	noOverlay  bool
	registries Registries
}

// Image is an image as the store knows it, resolved for the store's platform.
type Image struct {
	// Name is the normalised reference (docker.io/library/nginx:1.27).
	Name string
	// Target is what Name points to: a manifest, or an index holding one.
	Target ocispec.Descriptor
	// Manifest is the manifest selected for the store's platform.
	Manifest ocispec.Descriptor
	// ConfigDescriptor is the descriptor of the image config blob; its digest is
	// the image id.
	ConfigDescriptor ocispec.Descriptor
	// Config is the runtime configuration: entrypoint, cmd, env, user, workdir.
	Config ocispec.ImageConfig
	// Layers are the layer blobs, bottom first; DiffIDs their uncompressed digests.
	Layers  []ocispec.Descriptor
	DiffIDs []digest.Digest
	// Size is the sum of the sizes of the manifest, config and layer blobs.
	Size int64
	// Stored is when Name was last pointed at Target.
	Stored time.Time
}

// ID is the image id: the digest of its config, as docker and the CRI report it.
func (i Image) ID() digest.Digest { return i.ConfigDescriptor.Digest }

// RepoDigest is repository@digest of Target (docker.io/library/nginx@sha256:...),
// the form Kubernetes reports as a container's imageID.
func (i Image) RepoDigest() string {
	return repository(i.Name) + "@" + i.Target.Digest.String()
}

// indexFile is the on-disk form of the name index.
type indexFile struct {
	Images map[string]indexEntry `json:"images"`
}

type indexEntry struct {
	Target ocispec.Descriptor `json:"target"`
	Stored time.Time          `json:"stored"`
}

// New opens (creating if needed) the store under cfg.Root.
func New(cfg Config) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("creating image store: Config.Root is empty")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("creating image store at %q: %w", cfg.Root, err)
	}
	for _, dir := range []string{"blobs/sha256", "layers", "containers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o700); err != nil {
			return nil, fmt.Errorf("creating image store at %q: %w", root, err)
		}
	}
	p := cfg.Platform
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		p.Architecture = runtime.GOARCH
	}
	return &Store{root: root, platform: p, noOverlay: cfg.NoOverlay, registries: cfg.Registries}, nil
}

// Get returns the image named ref (any form NormalizeName accepts). A digest
// reference also finds an image of the same repository stored under a tag
// whose target has that digest.
func (s *Store) Get(ctx context.Context, ref string) (Image, error) {
	name, err := NormalizeName(ref)
	if err != nil {
		return Image{}, err
	}
	idx, err := s.readIndex()
	if err != nil {
		return Image{}, err
	}
	e, ok := idx.Images[name]
	if !ok {
		e, ok = findByDigest(idx, name)
	}
	if !ok {
		return Image{}, fmt.Errorf("image %q: %w", name, ErrNotFound)
	}
	return s.resolve(ctx, name, e)
}

// findByDigest finds, for repo@digest, an entry of that repository whose
// target has that digest (an image pulled or imported by tag).
func findByDigest(idx indexFile, name string) (indexEntry, bool) {
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return indexEntry{}, false
	}
	canonical, ok := named.(reference.Canonical)
	if !ok {
		return indexEntry{}, false
	}
	for _, n := range sortedNames(idx) {
		if e := idx.Images[n]; repository(n) == canonical.Name() && e.Target.Digest == canonical.Digest() {
			return e, true
		}
	}
	return indexEntry{}, false
}

// List returns every image, sorted by name. An image whose content is broken
// is listed with what could be read and an error is not returned for it.
func (s *Store) List(ctx context.Context) ([]Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, name := range sortedNames(idx) {
		e := idx.Images[name]
		img, err := s.resolve(ctx, name, e)
		if err != nil {
			img = Image{Name: name, Target: e.Target, Stored: e.Stored}
		}
		out = append(out, img)
	}
	return out, nil
}

func sortedNames(idx indexFile) []string {
	names := make([]string, 0, len(idx.Images))
	for n := range idx.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Remove forgets the name ref. Its blobs and layers stay until GC finds nothing
// else referencing them.
func (s *Store) Remove(ctx context.Context, ref string) error {
	name, err := NormalizeName(ref)
	if err != nil {
		return err
	}
	return s.updateIndex(ctx, func(idx *indexFile) error {
		if _, ok := idx.Images[name]; !ok {
			return fmt.Errorf("removing image %q: %w", name, ErrNotFound)
		}
		delete(idx.Images, name)
		return nil
	})
}

// naming is a name to point at a target.
type naming struct {
	name   string
	target ocispec.Descriptor
}

// setNames points each name at its target after checking that every image
// resolves (all of its blobs for the store's platform are present and
// valid): all the names are set, or none.
func (s *Store) setNames(ctx context.Context, names []naming) ([]Image, error) {
	now := time.Now().UTC()
	imgs := make([]Image, 0, len(names))
	for _, n := range names {
		img, err := s.resolve(ctx, n.name, indexEntry{Target: n.target, Stored: now})
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	err := s.updateIndex(ctx, func(idx *indexFile) error {
		for _, n := range names {
			idx.Images[n.name] = indexEntry{Target: n.target, Stored: now}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return imgs, nil
}

func (s *Store) indexPath() string { return filepath.Join(s.root, "index.json") }

func (s *Store) readIndex() (indexFile, error) {
	idx := indexFile{Images: map[string]indexEntry{}}
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return idx, fmt.Errorf("reading image index: %w", err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("reading image index %s: %w", s.indexPath(), err)
	}
	if idx.Images == nil {
		idx.Images = map[string]indexEntry{}
	}
	return idx, nil
}

// updateIndex runs change on the index under the index lock and writes the
// result atomically (temporary file, then rename).
func (s *Store) updateIndex(ctx context.Context, change func(*indexFile) error) error {
	unlock, err := s.lock(ctx, "index.lock", true)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := change(&idx); err != nil {
		return err
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding image index: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.root, "tmp"), s.indexPath(), b); err != nil {
		return fmt.Errorf("writing image index: %w", err)
	}
	return nil
}

// lock takes a file lock under the root: exclusive, or shared. A fresh file
// descriptor per call makes flock(2) exclude goroutines of this process too.
// flock(2) cannot wait on a context, so waiting is a short retry loop.
func (s *Store) lock(ctx context.Context, name string, exclusive bool) (func(), error) {
	fl := flock.New(filepath.Join(s.root, name))
	var ok bool
	var err error
	if exclusive {
		ok, err = fl.TryLockContext(ctx, 5*time.Millisecond)
	} else {
		ok, err = fl.TryRLockContext(ctx, 5*time.Millisecond)
	}
	if err == nil && !ok {
		err = ctx.Err()
	}
	if err != nil {
		_ = fl.Close()
		return nil, fmt.Errorf("locking image store %s: %w", fl.Path(), err)
	}
	return func() { _ = fl.Unlock() }, nil
}

// ingest holds the GC lock shared for the duration of a write of new content,
// so that GC never removes blobs that are written but not yet named.
func (s *Store) ingest(ctx context.Context) (func(), error) {
	return s.lock(ctx, "gc.lock", false)
}

func writeFileAtomic(tmpDir, path string, b []byte) error {
	f, err := os.CreateTemp(tmpDir, "write-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
