package server

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/gofrs/flock"
)

// lockFile, in the storage directory, keeps gc and servers apart: servers
// hold it shared, gc exclusively. Distribution's collector is only safe while
// nothing writes: a manifest pushed during the mark phase would lose the
// blobs it references in the sweep.
const lockFile = ".berth-registry.lock"

// errLocked is returned when the storage directory is in use by a server (for
// gc) or by gc (for a server).
var errLocked = errors.New("storage directory is in use")

// lockRoot takes the lock on the storage directory root: exclusive for gc,
// shared for a server. It does not wait.
func lockRoot(root string, exclusive bool) (*flock.Flock, error) {
	l := flock.New(filepath.Join(root, lockFile))
	var ok bool
	var err error
	if exclusive {
		ok, err = l.TryLock()
	} else {
		ok, err = l.TryRLock()
	}
	if err != nil {
		return nil, fmt.Errorf("locking storage directory %s: %w", root, err)
	}
	if !ok {
		if exclusive {
			return nil, fmt.Errorf("%w: %s is being served; stop the registry (berth registry serve or berth server) before collecting garbage", errLocked, root)
		}
		return nil, fmt.Errorf("%w: garbage collection is running on %s; serve it once gc has finished", errLocked, root)
	}
	return l, nil
}
