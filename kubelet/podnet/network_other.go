//go:build !linux

package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Setup is supported on Linux only.
func (n *Network) Setup(ctx context.Context) error {
	return fmt.Errorf("setting up pod network %s: %w", n.cfg.Bridge, errors.ErrUnsupported)
}

// Add is supported on Linux only.
func (n *Network) Add(ctx context.Context, owner, netnsPath string, hostPorts []HostPort) ([]net.IP, error) {
	return nil, fmt.Errorf("adding pod %s to network %s: %w", owner, n.cfg.Bridge, errors.ErrUnsupported)
}

// Remove is supported on Linux only.
func (n *Network) Remove(ctx context.Context, owner string) error {
	return fmt.Errorf("removing pod %s from network %s: %w", owner, n.cfg.Bridge, errors.ErrUnsupported)
}

// Teardown is supported on Linux only.
func (n *Network) Teardown(ctx context.Context) error {
	return fmt.Errorf("tearing down pod network %s: %w", n.cfg.Bridge, errors.ErrUnsupported)
}

func defaultMTU() int { return 1500 }

// Clean needs Linux.
func Clean(bridge string) error { return errors.ErrUnsupported }
