package images

import (
	"context"
	_ "crypto/sha256" // registers the algorithm go-digest computes
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize bounds manifests, indexes and configs read into memory.
const maxManifestSize = 8 << 20

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob digest %q: %w: %w", d, ErrInvalid, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("blob digest %q: %w: only sha256 is supported", d, ErrInvalid)
	}
	return filepath.Join(s.root, "blobs", "sha256", d.Encoded()), nil
}

// hasBlob reports whether the blob is present.
func (s *Store) hasBlob(d digest.Digest) bool {
	p, err := s.blobPath(d)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// openBlob opens a stored blob for reading.
func (s *Store) openBlob(d digest.Digest) (*os.File, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", d, err)
	}
	return f, nil
}

// Fetch opens the stored blob desc names by digest, for callers that read the
// store's content (an oras copy to a registry: it is an oras content.Fetcher).
// ErrNotFound if absent; the caller closes the reader.
func (s *Store) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return s.openBlob(desc.Digest)
}

// readBlob reads a small blob (manifest, index, config) into memory.
func (s *Store) readBlob(d digest.Digest) ([]byte, error) {
	f, err := s.openBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", d, err)
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("reading blob %s: %w: larger than %d bytes", d, ErrInvalid, maxManifestSize)
	}
	return b, nil
}

// writeBlob stores the content of r. If want has a digest (and a size > 0)
// the content must match them; it is verified before it becomes visible. The
// caller holds the ingest lock. The returned descriptor carries want's media
// type and annotations, and the computed digest and size.
func (s *Store) writeBlob(ctx context.Context, r io.Reader, want ocispec.Descriptor) (ocispec.Descriptor, error) {
	if want.Digest != "" && s.hasBlob(want.Digest) {
		// Content-addressed: the stored copy was verified when written.
		return want, nil
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "blob-")
	if err != nil {
		return want, fmt.Errorf("writing blob %s: %w", want.Digest, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := digest.SHA256.Digester()
	n, err := io.Copy(io.MultiWriter(f, h.Hash()), ctxReader{ctx, r})
	if err != nil {
		return want, fmt.Errorf("writing blob %s: %w", want.Digest, err)
	}
	got := h.Digest()
	if want.Digest != "" && got != want.Digest {
		return want, fmt.Errorf("writing blob %s: %w: content has digest %s", want.Digest, ErrInvalid, got)
	}
	if want.Size > 0 && n != want.Size {
		return want, fmt.Errorf("writing blob %s: %w: content is %d bytes, descriptor says %d", got, ErrInvalid, n, want.Size)
	}
	if err := f.Sync(); err != nil {
		return want, fmt.Errorf("writing blob %s: %w", got, err)
	}
	if err := f.Close(); err != nil {
		return want, fmt.Errorf("writing blob %s: %w", got, err)
	}
	p, err := s.blobPath(got)
	if err != nil {
		return want, err
	}
	if err := os.Chmod(f.Name(), 0o444); err != nil {
		return want, fmt.Errorf("writing blob %s: %w", got, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return want, fmt.Errorf("writing blob %s: %w", got, err)
	}
	want.Digest, want.Size = got, n
	return want, nil
}

// ctxReader stops a long copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
