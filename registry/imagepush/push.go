// Package imagepush owns pushing container images to an OCI registry, as
// `berth image push` does: from an OCI image layout (a directory or a tar of
// one) or a `docker save` archive, or from a node's image store. Every blob,
// the manifest and the index if there is one are copied by digest, so the
// pushed manifest's digest is the source's.
//
// Archives are read by kubelet/images' import into a scratch store, which
// verifies every blob and turns a docker archive into OCI manifests; this
// package must not parse image archives itself, must not change a node's
// store (it only reads it) and knows nothing of serving registries.
package imagepush

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"berth.dev/berth/kubelet/images"
)

// ErrUnauthorized: the registry refused the push's credentials (or wanted
// some and none were given). Test with errors.Is.
var ErrUnauthorized = errors.New("the registry refused the credentials")

// Options says how to reach the registry.
type Options struct {
	// PlainHTTP talks HTTP rather than HTTPS.
	PlainHTTP bool
	// InsecureSkipTLSVerify accepts any server certificate.
	InsecureSkipTLSVerify bool
	// Username and Password, when Username is set, are the credentials for
	// the destination registry; they take precedence over CredentialsFile.
	Username, Password string
	// CredentialsFile is a docker-style config.json (berth's registry
	// config, written by `berth registry login`); "" means none.
	CredentialsFile string
	// TempDir is where archives are unpacked into a scratch store while they
	// are pushed; "" means the system's temporary directory.
	TempDir string
}

// Result is what a push wrote.
type Result struct {
	// Reference is the destination, HOST/REPO:TAG.
	Reference string
	// Descriptor is the pushed manifest or index; its digest is the source's.
	Descriptor ocispec.Descriptor
	// PlatformOnly is set when the source was a stored image whose index
	// lacks other platforms' manifests (the store pulls only its own), so the
	// platform manifest was pushed instead of the index.
	PlatformOnly bool
}

// PushArchive pushes the one image of the OCI layout directory, OCI layout
// tar or `docker save` archive at src to dst (HOST/REPO:TAG).
func PushArchive(ctx context.Context, src, dst string, o Options) (Result, error) {
	ref, err := parseDestination(dst)
	if err != nil {
		return Result{}, err
	}
	if _, err := os.Stat(src); err != nil {
		return Result{}, fmt.Errorf("pushing %s: %w", src, err)
	}
	dir, err := os.MkdirTemp(o.TempDir, "berth-image-push-")
	if err != nil {
		return Result{}, fmt.Errorf("pushing %s: creating a scratch image store: %w", src, err)
	}
	defer os.RemoveAll(dir)
	store, err := images.New(images.Config{Root: dir, NoOverlay: true})
	if err != nil {
		return Result{}, fmt.Errorf("pushing %s: %w", src, err)
	}
	// Named after the destination: the archive's own names do not matter,
	// and an archive without names can be pushed.
	imgs, err := store.Import(ctx, src, images.WithName(dst))
	if err != nil {
		return Result{}, fmt.Errorf("pushing %s (an archive of one image is needed): %w", src, err)
	}
	res, err := push(ctx, store, imgs[0].Target, ref, o)
	if err != nil {
		return res, fmt.Errorf("pushing %s: %w", src, err)
	}
	return res, nil
}

// PushImage pushes the image named name in store to dst (HOST/REPO:TAG).
func PushImage(ctx context.Context, store *images.Store, name, dst string, o Options) (Result, error) {
	ref, err := parseDestination(dst)
	if err != nil {
		return Result{}, err
	}
	img, err := store.Get(ctx, name)
	if err != nil {
		return Result{}, fmt.Errorf("pushing image %s: %w", name, err)
	}
	root := img.Target
	complete, err := hasGraph(ctx, store, root)
	if err != nil {
		return Result{}, fmt.Errorf("pushing image %s: %w", name, err)
	}
	if !complete {
		root = img.Manifest
	}
	res, err := push(ctx, store, root, ref, o)
	res.PlatformOnly = !complete
	if err != nil {
		return res, fmt.Errorf("pushing image %s: %w", name, err)
	}
	return res, nil
}

// parseDestination checks dst is HOST/REPO:TAG: a push names its tag.
func parseDestination(dst string) (registry.Reference, error) {
	ref, err := registry.ParseReference(dst)
	if err != nil {
		return ref, fmt.Errorf("destination %q: %w (give HOST/REPO:TAG, e.g. 127.0.0.1:5000/app:1)", dst, err)
	}
	if ref.Reference == "" || ref.ValidateReferenceAsDigest() == nil {
		return ref, fmt.Errorf("destination %q has no tag (give HOST/REPO:TAG, e.g. 127.0.0.1:5000/app:1)", dst)
	}
	return ref, nil
}

// push copies root and everything it references from store to ref.
func push(ctx context.Context, store *images.Store, root ocispec.Descriptor, ref registry.Reference, o Options) (Result, error) {
	res := Result{Reference: ref.String()}
	repo, err := repository(ref, o)
	if err != nil {
		return res, err
	}
	src := storeTarget{store: store, root: root}
	desc, err := oras.Copy(ctx, src, root.Digest.String(), repo, ref.Reference, oras.DefaultCopyOptions)
	if err != nil {
		var er *errcode.ErrorResponse
		refused := errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden)
		if refused || errors.Is(err, auth.ErrBasicCredentialNotFound) {
			return res, fmt.Errorf("pushing to %s: %w (give --username and --password, or run 'berth registry login %s'): %w", ref, ErrUnauthorized, ref.Registry, err)
		}
		if errors.Is(err, http.ErrSchemeMismatch) {
			return res, fmt.Errorf("pushing to %s: %s serves plain HTTP, give --plain-http: %w", ref, ref.Registry, err)
		}
		return res, fmt.Errorf("pushing to %s: %w", ref, err)
	}
	res.Descriptor = desc
	return res, nil
}

// repository is an oras client for ref configured by o.
func repository(ref registry.Reference, o Options) (*remote.Repository, error) {
	repo, err := remote.NewRepository(ref.Registry + "/" + ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", ref, err)
	}
	repo.PlainHTTP = o.PlainHTTP
	httpClient := http.DefaultClient
	if o.InsecureSkipTLSVerify {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		httpClient = &http.Client{Transport: tr}
	}
	client := &auth.Client{Client: httpClient, Cache: auth.NewCache()}
	switch {
	case o.Username != "":
		client.Credential = auth.StaticCredential(ref.Registry, auth.Credential{Username: o.Username, Password: o.Password})
	case o.Password != "":
		return nil, errors.New("a password was given without a username: give --username too")
	case o.CredentialsFile != "":
		creds, err := credentials.NewStore(o.CredentialsFile, credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading registry credentials %s: %w", o.CredentialsFile, err)
		}
		client.Credential = credentials.Credential(creds)
	}
	repo.Client = client
	return repo, nil
}

// hasGraph reports whether every manifest below desc (an index, or a
// manifest) is in the store. Layers are not checked: the store's name index
// holds only images whose platform layers are present.
func hasGraph(ctx context.Context, store *images.Store, desc ocispec.Descriptor) (bool, error) {
	rc, err := store.Fetch(ctx, desc)
	if errors.Is(err, images.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rc.Close()
	switch desc.MediaType {
	case ocispec.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
	default:
		return true, nil
	}
	children, err := content.Successors(ctx, storeTarget{store: store}, desc)
	if err != nil {
		return false, fmt.Errorf("reading index %s: %w", desc.Digest, err)
	}
	for _, c := range children {
		ok, err := hasGraph(ctx, store, c)
		if err != nil || !ok {
			return ok, err
		}
	}
	return true, nil
}

// storeTarget is an image store as the source of an oras copy; its one
// reference is root's digest.
type storeTarget struct {
	store *images.Store
	root  ocispec.Descriptor
}

func (t storeTarget) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := t.store.Fetch(ctx, desc)
	if errors.Is(err, images.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", errdef.ErrNotFound, err)
	}
	return rc, err
}

func (t storeTarget) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	rc, err := t.store.Fetch(ctx, desc)
	if errors.Is(err, images.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, rc.Close()
}

func (t storeTarget) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if reference != t.root.Digest.String() {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", reference, errdef.ErrNotFound)
	}
	return t.root, nil
}
