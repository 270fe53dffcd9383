//go:build !linux

package layer

import (
	"context"
	"errors"
	"io"
)

// Unpack needs openat(2) semantics only Linux is known to give here.
func Unpack(ctx context.Context, dir, layerName string, r io.Reader) error {
	return errors.ErrUnsupported
}

// Apply needs openat(2) semantics only Linux is known to give here.
func Apply(ctx context.Context, dst, layerDir string) error { return errors.ErrUnsupported }
