//go:build !linux

package nodestatus

import (
	"context"
	"errors"
	"runtime"
)

// Facts is not implemented off Linux.
func (LocalHost) Facts(ctx context.Context, fsPath string) (Facts, error) {
	return Facts{}, errors.New("reading host facts on " + runtime.GOOS + " is not supported")
}
