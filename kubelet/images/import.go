package images

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"berth.dev/berth/kubelet/images/layer"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations that name an image inside an OCI layout.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = ocispec.AnnotationRefName
)

// ImportOption configures Import.
type ImportOption func(*importOptions) error

type importOptions struct {
	name string
}

// WithName names the imported image, overriding the names in the archive;
// the archive must then hold exactly one image.
func WithName(ref string) ImportOption {
	return func(o *importOptions) error {
		name, err := NormalizeName(ref)
		if err != nil {
			return err
		}
		o.name = name
		return nil
	}
}

// Import imports the images of an OCI image layout (a directory, or a tar of
// one, optionally gzip/zstd compressed) or of a `docker save` archive at src.
// Images are named from the archive (io.containerd.image.name, then
// org.opencontainers.image.ref.name annotations, or docker's RepoTags) unless
// WithName is given. Every blob is verified against its digest.
func (s *Store) Import(ctx context.Context, src string, opts ...ImportOption) ([]Image, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	var imgs []Image
	if fi.IsDir() {
		imgs, err = s.importWith(ctx, opts, func(a *archive) error { return a.addDir(ctx, src) })
	} else {
		var f *os.File
		if f, err = os.Open(src); err == nil {
			defer f.Close()
			imgs, err = s.ImportArchive(ctx, f, opts...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	return imgs, nil
}

// ImportArchive imports from a tar stream, as Import does for a file.
func (s *Store) ImportArchive(ctx context.Context, r io.Reader, opts ...ImportOption) ([]Image, error) {
	return s.importWith(ctx, opts, func(a *archive) error { return a.addTar(ctx, r) })
}

// importWith collects an archive with read, under the ingest lock, and
// names its images.
func (s *Store) importWith(ctx context.Context, opts []ImportOption, read func(*archive) error) ([]Image, error) {
	var o importOptions
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	unlock, err := s.ingest(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	a := &archive{s: s, meta: map[string][]byte{}, files: map[string]ocispec.Descriptor{}, links: map[string]string{}}
	if err := read(a); err != nil {
		return nil, err
	}
	return a.images(ctx, o)
}

// archive collects the files of an image archive: small metadata in memory,
// everything else as verified blobs.
type archive struct {
	s     *Store
	meta  map[string][]byte
	files map[string]ocispec.Descriptor
	links map[string]string
}

func (a *archive) addDir(ctx context.Context, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return a.add(ctx, filepath.ToSlash(rel), f)
	})
}

// addTar reads a tar stream, optionally compressed.
func (a *archive) addTar(ctx context.Context, r io.Reader) error {
	rc, err := layer.Decompress(r)
	if err != nil {
		return fmt.Errorf("reading image archive: %w", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading image archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			if err := a.add(ctx, name, tr); err != nil {
				return fmt.Errorf("reading image archive entry %q: %w", hdr.Name, err)
			}
		case tar.TypeSymlink, tar.TypeLink:
			// `docker save` links a layer it has already written.
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink {
				target = path.Join(path.Dir(name), target)
			}
			a.links[name] = path.Clean(target)
		}
	}
}

func (a *archive) add(ctx context.Context, name string, r io.Reader) error {
	switch {
	case name == "index.json" || name == "manifest.json" || name == "oci-layout":
		b, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
		if err != nil {
			return err
		}
		if len(b) > maxManifestSize {
			return fmt.Errorf("%s: %w: larger than %d bytes", name, ErrInvalid, maxManifestSize)
		}
		a.meta[name] = b
		return nil
	case name == "repositories" || path.Base(name) == "VERSION" || path.Base(name) == "json":
		return nil // legacy `docker save` metadata that manifest.json supersedes
	}
	var want ocispec.Descriptor
	if alg, hex, ok := strings.Cut(strings.TrimPrefix(name, "blobs/"), "/"); ok && strings.HasPrefix(name, "blobs/") {
		want.Digest = digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if err := want.Digest.Validate(); err != nil {
			return fmt.Errorf("%s: %w: %w", name, ErrInvalid, err)
		}
	}
	desc, err := a.s.writeBlob(ctx, r, want)
	if err != nil {
		return err
	}
	a.files[name] = desc
	return nil
}

// file finds an archive file by name, following links.
func (a *archive) file(name string) (ocispec.Descriptor, bool) {
	name = path.Clean(name)
	for range 8 {
		if d, ok := a.files[name]; ok {
			return d, true
		}
		next, ok := a.links[name]
		if !ok {
			break
		}
		name = next
	}
	return ocispec.Descriptor{}, false
}

// named is one image of an archive and the names it should get.
type named struct {
	target ocispec.Descriptor
	names  []string
}

func (a *archive) images(ctx context.Context, o importOptions) ([]Image, error) {
	var found []named
	var err error
	switch {
	case a.meta["index.json"] != nil:
		found, err = a.ociImages()
	case a.meta["manifest.json"] != nil:
		found, err = a.dockerImages(ctx)
	default:
		return nil, fmt.Errorf("%w: neither an OCI image layout (index.json) nor a docker save archive (manifest.json)", ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w: the archive holds no image", ErrInvalid)
	}
	if o.name != "" {
		if len(found) != 1 {
			return nil, fmt.Errorf("%w: the archive holds %d images, a name can be given to one only", ErrInvalid, len(found))
		}
		found[0].names = []string{o.name}
	}
	var names []naming
	for _, f := range found {
		if len(f.names) == 0 {
			return nil, fmt.Errorf("%w: image %s has no name in the archive; give one", ErrInvalid, f.target.Digest)
		}
		for _, n := range f.names {
			names = append(names, naming{name: n, target: f.target})
		}
	}
	return a.s.setNames(ctx, names)
}

func (a *archive) ociImages() ([]named, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(a.meta["index.json"], &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w: %w", ErrInvalid, err)
	}
	var out []named
	for _, m := range idx.Manifests {
		if _, ok := a.files["blobs/"+m.Digest.Algorithm().String()+"/"+m.Digest.Encoded()]; !ok {
			return nil, fmt.Errorf("index.json names %s: %w in the layout", m.Digest, ErrNotFound)
		}
		n := named{target: m}
		ref := m.Annotations[annotationContainerdName]
		if ref == "" {
			ref = m.Annotations[annotationRefName]
			// A ref.name may be just a tag (skopeo's oci:dir:tag): no repository to name.
			if !strings.ContainsAny(ref, "/:@") {
				ref = ""
			}
		}
		if ref != "" {
			name, err := NormalizeName(ref)
			if err != nil {
				return nil, fmt.Errorf("index.json: %w", err)
			}
			n.names = []string{name}
		}
		out = append(out, n)
	}
	return out, nil
}

// dockerManifest is one entry of a `docker save` archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// dockerImages turns each docker save entry into an OCI manifest blob.
func (a *archive) dockerImages(ctx context.Context) ([]named, error) {
	var dms []dockerManifest
	if err := json.Unmarshal(a.meta["manifest.json"], &dms); err != nil {
		return nil, fmt.Errorf("manifest.json: %w: %w", ErrInvalid, err)
	}
	var out []named
	for _, dm := range dms {
		cfg, ok := a.file(dm.Config)
		if !ok {
			return nil, fmt.Errorf("manifest.json names config %q: %w in the archive", dm.Config, ErrNotFound)
		}
		cfg.MediaType = ocispec.MediaTypeImageConfig
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
		for _, l := range dm.Layers {
			d, ok := a.file(l)
			if !ok {
				return nil, fmt.Errorf("manifest.json names layer %q: %w in the archive", l, ErrNotFound)
			}
			mt, err := a.s.layerMediaType(d.Digest)
			if err != nil {
				return nil, err
			}
			d.MediaType = mt
			m.Layers = append(m.Layers, d)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encoding manifest: %w", err)
		}
		desc, err := a.s.writeBlob(ctx, bytes.NewReader(b), ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest})
		if err != nil {
			return nil, err
		}
		n := named{target: desc}
		for _, t := range dm.RepoTags {
			name, err := NormalizeName(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			n.names = append(n.names, name)
		}
		out = append(out, n)
	}
	return out, nil
}

// layerMediaType tells a stored layer's compression from its first bytes.
func (s *Store) layerMediaType(d digest.Digest) (string, error) {
	f, err := s.openBlob(d)
	if err != nil {
		return "", err
	}
	defer f.Close()
	magic := make([]byte, 4)
	n, err := io.ReadFull(f, magic)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading layer %s: %w", d, err)
	}
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return ocispec.MediaTypeImageLayerGzip, nil
	case n == 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return ocispec.MediaTypeImageLayerZstd, nil
	}
	return ocispec.MediaTypeImageLayer, nil
}
