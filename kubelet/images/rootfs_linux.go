package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"berth.dev/berth/kubelet/images/layer"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// CreateRootfs makes the root filesystem of the container id from img: the
// image's layers, unpacked once each and cached by diffID, under a writable
// layer of the container's own. Calling it again for the same id returns the
// existing root filesystem (so a restarted kubelet re-adopts it). Calls for
// one id must not overlap; the kubelet serialises the work of each pod.
func (s *Store) CreateRootfs(ctx context.Context, id string, img Image) (Rootfs, error) {
	if !containerIDPattern.MatchString(id) {
		return Rootfs{}, fmt.Errorf("creating rootfs: %w: container id %q must match %s", ErrInvalid, id, containerIDPattern)
	}
	unlock, err := s.ingest(ctx)
	if err != nil {
		return Rootfs{}, err
	}
	defer unlock()
	dir := filepath.Join(s.root, "containers", id)
	if rfs, ok := s.existingRootfs(dir); ok {
		return rfs, nil
	}
	if err := s.removeContainerDir(dir); err != nil {
		return Rootfs{}, fmt.Errorf("creating rootfs of %s: clearing a partial one: %w", id, err)
	}
	layers, err := s.unpackLayers(ctx, img)
	if err != nil {
		return Rootfs{}, fmt.Errorf("creating rootfs of %s from %s: %w", id, img.Name, err)
	}
	rfs, err := s.makeRootfs(ctx, dir, img, layers)
	if err != nil {
		_ = s.removeContainerDir(dir)
		return Rootfs{}, fmt.Errorf("creating rootfs of %s from %s: %w", id, img.Name, err)
	}
	return rfs, nil
}

func (s *Store) makeRootfs(ctx context.Context, dir string, img Image, layers []string) (Rootfs, error) {
	merged := filepath.Join(dir, "merged")
	if err := os.MkdirAll(merged, 0o755); err != nil {
		return Rootfs{}, err
	}
	// Recorded before mounting so GC keeps the layers while the container lives.
	b, err := json.Marshal(img.DiffIDs)
	if err != nil {
		return Rootfs{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "layers.json"), b, 0o600); err != nil {
		return Rootfs{}, err
	}
	if !s.noOverlay {
		err := mountOverlay(dir, merged, layers)
		if err == nil {
			return Rootfs{Path: merged, Overlay: true}, nil
		}
		if !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EINVAL) {
			return Rootfs{}, err
		}
		// overlayfs is unavailable here, refuses this file system, or the
		// layers are too many for its options (a page): copy instead.
	}
	for _, l := range layers {
		if err := layer.Apply(ctx, merged, l); err != nil {
			return Rootfs{}, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "copied"), nil, 0o600); err != nil {
		return Rootfs{}, err
	}
	return Rootfs{Path: merged}, nil
}

// mountOverlay mounts the layers (bottom first) at merged, with the
// container's upper and work directories in dir.
func mountOverlay(dir, merged string, layers []string) error {
	upper, work := filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	lower := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- { // overlayfs lists the top layer first
		lower = append(lower, layers[i])
	}
	if len(lower) == 0 {
		empty := filepath.Join(dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return err
		}
		lower = append(lower, empty)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"), upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", merged, err)
	}
	return nil
}

// existingRootfs finds a complete root filesystem in dir: a mounted overlay,
// or a finished copy.
func (s *Store) existingRootfs(dir string) (Rootfs, bool) {
	merged := filepath.Join(dir, "merged")
	if _, err := os.Stat(filepath.Join(dir, "copied")); err == nil {
		return Rootfs{Path: merged}, true
	}
	if isMountPoint(merged) {
		return Rootfs{Path: merged, Overlay: true}, true
	}
	return Rootfs{}, false
}

// isMountPoint: a mount point lies on another device than its parent.
func isMountPoint(p string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// RemoveRootfs unmounts and deletes the root filesystem of the container id,
// with its writable layer. A missing one is not an error.
func (s *Store) RemoveRootfs(ctx context.Context, id string) error {
	if !containerIDPattern.MatchString(id) {
		return fmt.Errorf("removing rootfs: %w: container id %q", ErrInvalid, id)
	}
	if err := s.removeContainerDir(filepath.Join(s.root, "containers", id)); err != nil {
		return fmt.Errorf("removing rootfs of %s: %w", id, err)
	}
	return nil
}

func (s *Store) removeContainerDir(dir string) error {
	merged := filepath.Join(dir, "merged")
	for isMountPoint(merged) {
		if err := unix.Unmount(merged, 0); err != nil {
			if !errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("unmounting %s: %w", merged, err)
			}
			// Still in use (a process holds it open): detach now, freed when released.
			if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmounting %s: %w", merged, err)
			}
		}
	}
	return os.RemoveAll(dir)
}

// unpackLayers returns the unpacked directory of each of img's layers, bottom
// first, unpacking those not cached yet. The caller holds the ingest lock.
func (s *Store) unpackLayers(ctx context.Context, img Image) ([]string, error) {
	if len(img.Layers) != len(img.DiffIDs) {
		return nil, fmt.Errorf("image %q: %w: %d layers, %d diff ids", img.Name, ErrInvalid, len(img.Layers), len(img.DiffIDs))
	}
	dirs := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		d, err := s.unpackLayer(ctx, l, img.DiffIDs[i])
		if err != nil {
			return nil, err
		}
		dirs[i] = d
	}
	return dirs, nil
}

func (s *Store) layerDir(diffID digest.Digest) (string, error) {
	if err := diffID.Validate(); err != nil || diffID.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("diff id %q: %w", diffID, ErrInvalid)
	}
	return filepath.Join(s.root, "layers", diffID.Encoded()), nil
}

// unpackLayer unpacks one layer blob into the cache, verifying that its
// uncompressed content has the digest diffID. Unpacking happens in a
// temporary directory renamed into place, so a cached layer is complete.
func (s *Store) unpackLayer(ctx context.Context, desc ocispec.Descriptor, diffID digest.Digest) (string, error) {
	dst, err := s.layerDir(diffID)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "layer-")
	if err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", desc.Digest, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", desc.Digest, err)
	}
	blob, err := s.openBlob(desc.Digest)
	if err != nil {
		return "", fmt.Errorf("unpacking layer: %w", err)
	}
	defer blob.Close()
	rc, err := layer.Decompress(blob)
	if err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	h := diffID.Algorithm().Digester()
	tee := io.TeeReader(rc, h.Hash())
	if err := layer.Unpack(ctx, tmp, desc.Digest.String(), tee); err != nil {
		return "", err
	}
	// The tar reader stops at the end-of-archive marker; the digest covers all.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", fmt.Errorf("unpacking layer %s: %w", desc.Digest, err)
	}
	if got := h.Digest(); got != diffID {
		return "", fmt.Errorf("unpacking layer %s: %w: uncompressed digest %s, config says %s", desc.Digest, ErrInvalid, got, diffID)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, serr := os.Stat(dst); serr == nil {
			return dst, nil // unpacked meanwhile by another caller
		}
		return "", fmt.Errorf("unpacking layer %s: %w", desc.Digest, err)
	}
	return dst, nil
}
