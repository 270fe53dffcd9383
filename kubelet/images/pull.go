package images

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// PullOption configures Pull.
type PullOption func(*pullOptions) error

type pullOptions struct {
	auths map[string]RegistryAuth // by registryKey
}

// WithDockerConfig adds the credentials of a docker config JSON (the
// .dockerconfigjson of an imagePullSecret, or a legacy .dockercfg). Given
// several times, the first to name a registry wins, as the kubelet's
// imagePullSecrets order does.
func WithDockerConfig(configJSON []byte) PullOption {
	return func(o *pullOptions) error {
		auths, err := parseDockerConfig(configJSON)
		if err != nil {
			return err
		}
		for k, a := range auths {
			if _, ok := o.auths[registryKey(k)]; !ok {
				o.auths[registryKey(k)] = a
			}
		}
		return nil
	}
}

// Pull fetches ref (normalised as NormalizeName does) for the store's
// platform, from the registry's mirrors in Config.Registries and then the
// registry itself, verifies every blob, and names it. Whether to pull at all
// (imagePullPolicy) is the caller's decision.
func (s *Store) Pull(ctx context.Context, ref string, opts ...PullOption) (Image, error) {
	o := pullOptions{auths: map[string]RegistryAuth{}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Image{}, fmt.Errorf("pulling %s: %w", ref, err)
		}
	}
	name, err := NormalizeName(ref)
	if err != nil {
		return Image{}, err
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return Image{}, fmt.Errorf("pulling %s: %w", name, err)
	}
	object := ""
	if d, ok := named.(reference.Digested); ok {
		object = d.Digest().String()
	} else if t, ok := named.(reference.Tagged); ok {
		object = t.Tag()
	}
	unlock, err := s.ingest(ctx)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	var errs []error
	for _, ep := range s.registries.endpoints(reference.Domain(named)) {
		target, err := s.pullFrom(ctx, ep, reference.Path(named), object, o)
		if err == nil {
			imgs, err := s.setNames(ctx, []naming{{name: name, target: target}})
			if err != nil {
				return Image{}, fmt.Errorf("pulling %s: %w", name, err)
			}
			return imgs[0], nil
		}
		errs = append(errs, fmt.Errorf("from %s: %w", ep.host, err))
		if ctx.Err() != nil {
			break
		}
	}
	return Image{}, fmt.Errorf("pulling %s: %w", name, errors.Join(errs...))
}

// pullFrom fetches the image from one endpoint and returns its target.
func (s *Store) pullFrom(ctx context.Context, ep endpoint, path, object string, o pullOptions) (ocispec.Descriptor, error) {
	repo, err := remote.NewRepository(ep.host + "/" + path)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	repo.PlainHTTP = ep.plainHTTP
	httpClient := http.DefaultClient
	if c, ok := s.registries.Configs[ep.host]; ok && c.TLS != nil && c.TLS.InsecureSkipVerify {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		httpClient = &http.Client{Transport: tr}
	}
	repo.Client = &auth.Client{
		Client: httpClient,
		Cache:  auth.NewCache(),
		Credential: func(ctx context.Context, hostport string) (auth.Credential, error) {
			return s.credential(hostport, o)
		},
	}
	target, err := repo.Resolve(ctx, object)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return target, err
	}
	if err := s.fetchImage(ctx, repo, target, 0); err != nil {
		return target, err
	}
	return target, nil
}

// fetchImage fetches desc (an index: only the platform's manifest) and the
// blobs it needs, skipping those already stored.
func (s *Store) fetchImage(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, depth int) error {
	if depth > 4 {
		return fmt.Errorf("%s: %w: indexes nested too deep", desc.Digest, ErrInvalid)
	}
	if err := s.fetchBlob(ctx, repo, desc); err != nil {
		return err
	}
	b, err := s.readBlob(desc.Digest)
	if err != nil {
		return err
	}
	switch {
	case isIndex(desc.MediaType):
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("index %s: %w: %w", desc.Digest, ErrInvalid, err)
		}
		child, err := s.selectPlatform(idx, desc.Digest)
		if err != nil {
			return err
		}
		return s.fetchImage(ctx, repo, child, depth+1)
	case isManifest(desc.MediaType):
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("manifest %s: %w: %w", desc.Digest, ErrInvalid, err)
		}
		for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if err := s.fetchBlob(ctx, repo, d); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: %w: unsupported media type %q", desc.Digest, ErrInvalid, desc.MediaType)
}

func (s *Store) fetchBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) error {
	if s.hasBlob(desc.Digest) {
		return nil
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	_, err = s.writeBlob(ctx, rc, desc)
	return err
}

// credential finds the credential for hostport: the pull's secrets first,
// then the registries config.
func (s *Store) credential(hostport string, o pullOptions) (auth.Credential, error) {
	if a, ok := o.auths[registryKey(hostport)]; ok {
		return a.credential()
	}
	if c, ok := s.registries.Configs[hostport]; ok && c.Auth != nil {
		return c.Auth.credential()
	}
	return auth.EmptyCredential, nil
}
