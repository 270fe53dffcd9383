package images

import (
	"context"
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's manifest media types, which registries still serve.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isIndex(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList
}

func isManifest(mt string) bool {
	return mt == ocispec.MediaTypeImageManifest || mt == mediaTypeDockerManifest
}

// manifestWithType peeks at the mediaType field a manifest or index carries.
type manifestWithType struct {
	MediaType string `json:"mediaType"`
	Manifests []any  `json:"manifests"`
}

// resolve reads name's target down to the platform manifest and its config.
func (s *Store) resolve(ctx context.Context, name string, e indexEntry) (Image, error) {
	img := Image{Name: name, Target: e.Target, Stored: e.Stored}
	m, mdesc, err := s.platformManifest(ctx, e.Target, 0)
	if err != nil {
		return img, fmt.Errorf("image %q: %w", name, err)
	}
	img.Manifest = mdesc
	img.ConfigDescriptor = m.Config
	img.Layers = m.Layers
	b, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return img, fmt.Errorf("image %q: reading config: %w", name, err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(b, &cfg); err != nil {
		return img, fmt.Errorf("image %q: config %s: %w: %w", name, m.Config.Digest, ErrInvalid, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return img, fmt.Errorf("image %q: %w: config has %d diff ids for %d layers", name, ErrInvalid, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	img.Config = cfg.Config
	img.DiffIDs = cfg.RootFS.DiffIDs
	img.Size = mdesc.Size + m.Config.Size
	for _, l := range m.Layers {
		if !s.hasBlob(l.Digest) {
			return img, fmt.Errorf("image %q: layer %s: %w", name, l.Digest, ErrNotFound)
		}
		img.Size += l.Size
	}
	return img, nil
}

// platformManifest follows desc (a manifest, or an index of them) to the
// manifest for the store's platform.
func (s *Store) platformManifest(ctx context.Context, desc ocispec.Descriptor, depth int) (ocispec.Manifest, ocispec.Descriptor, error) {
	if depth > 4 {
		return ocispec.Manifest{}, desc, fmt.Errorf("%s: %w: indexes nested too deep", desc.Digest, ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return ocispec.Manifest{}, desc, err
	}
	b, err := s.readBlob(desc.Digest)
	if err != nil {
		return ocispec.Manifest{}, desc, err
	}
	mt := desc.MediaType
	if mt == "" {
		var peek manifestWithType
		_ = json.Unmarshal(b, &peek)
		mt = peek.MediaType
		if mt == "" && peek.Manifests != nil {
			mt = ocispec.MediaTypeImageIndex
		}
	}
	switch {
	case isIndex(mt):
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return ocispec.Manifest{}, desc, fmt.Errorf("index %s: %w: %w", desc.Digest, ErrInvalid, err)
		}
		child, err := s.selectPlatform(idx, desc.Digest)
		if err != nil {
			return ocispec.Manifest{}, desc, err
		}
		return s.platformManifest(ctx, child, depth+1)
	case isManifest(mt) || mt == "":
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return m, desc, fmt.Errorf("manifest %s: %w: %w", desc.Digest, ErrInvalid, err)
		}
		if m.Config.Digest == "" {
			return m, desc, fmt.Errorf("manifest %s: %w: no config", desc.Digest, ErrInvalid)
		}
		if desc.MediaType == "" {
			desc.MediaType = mt
		}
		return m, desc, nil
	default:
		return ocispec.Manifest{}, desc, fmt.Errorf("%s: %w: unsupported media type %q", desc.Digest, ErrInvalid, mt)
	}
}

// selectPlatform picks the index entry for the store's platform; an entry
// without a platform (an OCI layout of one image) matches any.
func (s *Store) selectPlatform(idx ocispec.Index, d digest.Digest) (ocispec.Descriptor, error) {
	var fallback *ocispec.Descriptor
	for i, m := range idx.Manifests {
		p := m.Platform
		if p == nil {
			if fallback == nil && (isManifest(m.MediaType) || isIndex(m.MediaType)) {
				fallback = &idx.Manifests[i]
			}
			continue
		}
		if p.OS == s.platform.OS && p.Architecture == s.platform.Architecture &&
			(s.platform.Variant == "" || p.Variant == "" || p.Variant == s.platform.Variant) {
			return m, nil
		}
	}
	if fallback != nil {
		return *fallback, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("index %s: %w: no manifest for %s/%s", d, ErrNotFound, s.platform.OS, s.platform.Architecture)
}

// references returns every blob desc refers to that is present, desc included.
func (s *Store) references(desc ocispec.Descriptor, into map[digest.Digest]bool) {
	if into[desc.Digest] || !s.hasBlob(desc.Digest) {
		return
	}
	into[desc.Digest] = true
	b, err := s.readBlob(desc.Digest)
	if err != nil {
		return
	}
	var any struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if json.Unmarshal(b, &any) != nil {
		return
	}
	if any.Config != nil {
		into[any.Config.Digest] = true
	}
	for _, l := range any.Layers {
		into[l.Digest] = true
	}
	for _, m := range any.Manifests {
		s.references(m, into)
	}
}
