//go:build !linux

package images

import (
	"context"
	"errors"
)

// CreateRootfs needs overlayfs or layer.Apply: Linux only.
func (s *Store) CreateRootfs(ctx context.Context, id string, img Image) (Rootfs, error) {
	return Rootfs{}, errors.ErrUnsupported
}

// RemoveRootfs has nothing to remove where CreateRootfs cannot create.
func (s *Store) RemoveRootfs(ctx context.Context, id string) error { return nil }
