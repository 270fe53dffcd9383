package layer

import (
	"errors"
	"fmt"
)

// ErrUnsafe marks an entry refused because it names nothing inside the
// layer's root (a whiteout of "..", a hard link to the root itself) or,
// applying, because a symlink lies on its path.
var ErrUnsafe = errors.New("unsafe layer entry")

// Error is a failure to unpack or apply one entry of a layer.
type Error struct {
	Layer string // as the caller named it, e.g. the layer's digest
	Entry string // the entry's name as the archive spells it
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("layer %s: entry %q: %v", e.Layer, e.Entry, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func unsafeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafe, fmt.Sprintf(format, args...))
}
