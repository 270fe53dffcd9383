//go:build !linux

package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Dial connects to address on network from the host's network namespace when
// nsPath is empty; other namespaces are supported on Linux only.
func Dial(ctx context.Context, nsPath, network, address string) (net.Conn, error) {
	if nsPath == "" {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	return nil, fmt.Errorf("dialing %s in network namespace %q: %w", address, nsPath, errors.ErrUnsupported)
}
