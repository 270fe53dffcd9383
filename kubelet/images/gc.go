package images

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"
)

// GCResult says what a garbage collection removed.
type GCResult struct {
	Blobs  int   // blobs removed
	Layers int   // unpacked layers removed
	Bytes  int64 // size of the blobs removed
}

// GC removes the blobs no image name references and the unpacked layers that
// neither an image nor a container's root filesystem uses, and leftovers of
// interrupted writes. Which images to forget under disk pressure is the
// caller's policy (it knows which ones pods use): Remove them, then GC.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	var res GCResult
	unlockGC, err := s.lock(ctx, "gc.lock", true)
	if err != nil {
		return res, err
	}
	defer unlockGC()
	unlockIndex, err := s.lock(ctx, "index.lock", true)
	if err != nil {
		return res, err
	}
	defer unlockIndex()

	idx, err := s.readIndex()
	if err != nil {
		return res, err
	}
	blobs := map[digest.Digest]bool{}
	layers := map[string]bool{}
	for name, e := range idx.Images {
		s.references(e.Target, blobs)
		if img, err := s.resolve(ctx, name, e); err == nil {
			for _, d := range img.DiffIDs {
				layers[d.Encoded()] = true
			}
		}
	}
	containers, err := os.ReadDir(filepath.Join(s.root, "containers"))
	if err != nil {
		return res, fmt.Errorf("collecting garbage: %w", err)
	}
	for _, c := range containers {
		b, err := os.ReadFile(filepath.Join(s.root, "containers", c.Name(), "layers.json"))
		if err != nil {
			continue // no layers recorded: it uses none yet
		}
		var ids []digest.Digest
		if err := json.Unmarshal(b, &ids); err != nil {
			return res, fmt.Errorf("collecting garbage: reading layers of container %s: %w", c.Name(), err)
		}
		for _, d := range ids {
			layers[d.Encoded()] = true
		}
	}

	n, size, err := sweep(filepath.Join(s.root, "blobs", "sha256"), func(name string) bool {
		return blobs[digest.NewDigestFromEncoded(digest.SHA256, name)]
	})
	res.Blobs, res.Bytes = n, size
	if err != nil {
		return res, err
	}
	if res.Layers, _, err = sweep(filepath.Join(s.root, "layers"), func(name string) bool { return layers[name] }); err != nil {
		return res, err
	}
	// Holding both locks, nothing is being written: tmp holds only leftovers.
	if _, _, err := sweep(filepath.Join(s.root, "tmp"), func(string) bool { return false }); err != nil {
		return res, err
	}
	return res, nil
}

// sweep removes the entries of dir that keep refuses; it returns how many it
// removed and the size of the files among them.
func sweep(dir string, keep func(name string) bool) (int, int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("collecting garbage: %w", err)
	}
	var n int
	var size int64
	for _, e := range entries {
		if keep(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			size += fi.Size()
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, size, fmt.Errorf("collecting garbage: %w", err)
		}
		n++
	}
	return n, size, nil
}
