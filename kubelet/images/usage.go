package images

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"syscall"
)

// DiskUsage is what the kubelet needs to judge disk pressure on the image
// file system.
type DiskUsage struct {
	Capacity  int64 // bytes of the file system holding the store
	Available int64 // bytes free on it for unprivileged users
	Images    int64 // bytes the store's blobs and unpacked layers take
}

// DiskUsage measures the store and its file system. It walks every unpacked
// layer, so call it at the pace of a housekeeping loop, not per pod.
func (s *Store) DiskUsage(ctx context.Context) (DiskUsage, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.root, &st); err != nil {
		return DiskUsage{}, fmt.Errorf("measuring image store %s: %w", s.root, err)
	}
	u := DiskUsage{Capacity: int64(st.Blocks) * int64(st.Bsize), Available: int64(st.Bavail) * int64(st.Bsize)}
	for _, dir := range []string{"blobs", "layers"} {
		err := filepath.WalkDir(filepath.Join(s.root, dir), func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed by a concurrent GC
			}
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if fi, err := d.Info(); err == nil && d.Type().IsRegular() {
				u.Images += fi.Size()
			}
			return nil
		})
		if err != nil {
			return u, fmt.Errorf("measuring image store %s: %w", s.root, err)
		}
	}
	return u, nil
}

// Prune frees at least bytes of disk (or as much as it can) by removing the
// images inUse does not claim, least recently stored first, and collecting
// garbage after each. It returns the names removed and what GC freed. Which
// images pods use, and when to prune, is the kubelet's knowledge.
func (s *Store) Prune(ctx context.Context, bytes int64, inUse func(Image) bool) ([]string, GCResult, error) {
	var total GCResult
	var removed []string
	imgs, err := s.List(ctx)
	if err != nil {
		return nil, total, err
	}
	sort.SliceStable(imgs, func(i, j int) bool { return imgs[i].Stored.Before(imgs[j].Stored) })
	for _, img := range imgs {
		if total.Bytes >= bytes {
			break
		}
		if inUse(img) {
			continue
		}
		if err := s.Remove(ctx, img.Name); err != nil && !errors.Is(err, ErrNotFound) {
			return removed, total, err
		}
		removed = append(removed, img.Name)
		res, err := s.GC(ctx)
		total.Blobs += res.Blobs
		total.Layers += res.Layers
		total.Bytes += res.Bytes
		if err != nil {
			return removed, total, err
		}
	}
	return removed, total, nil
}
