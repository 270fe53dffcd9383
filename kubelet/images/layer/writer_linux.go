package layer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// overlay's names for whiteouts and opaque directories in a layer directory.
const (
	opaqueXattr = "trusted.overlay.opaque"
	xattrPrefix = "trusted.overlay."
)

// node is one file system object to create, from a tar header or from an
// unpacked layer directory.
type node struct {
	kind     uint32 // unix.S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO
	perm     uint32 // permission bits with setuid, setgid and sticky
	uid, gid int
	linkname string // symlink target
	rdev     uint64
	atime    time.Time
	mtime    time.Time
	xattrs   map[string]string
	body     io.Reader // content of a regular file
}

// writer creates objects under a root directory descriptor, resolving every
// path component with openat(O_NOFOLLOW): a symlink on the way is an error,
// never followed.
type writer struct {
	root  int
	chown bool // ownership is kept only where the process may set it
	// apply: whiteouts remove and opaque markers clear (building a root
	// filesystem), instead of being recorded in overlay format.
	apply bool
	dirs  []dirTime
}

type dirTime struct {
	parts        []string
	atime, mtime time.Time
}

func newWriter(dir string, apply bool) (*writer, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	return &writer{root: fd, chown: os.Geteuid() == 0, apply: apply}, nil
}

func (w *writer) close() error { return unix.Close(w.root) }

// splitName turns an archive name into path components, refusing absolute
// names and any "..". "./a//b/" is a, b; "." and "./" are the root (no parts).
func splitName(name string) ([]string, error) {
	if strings.HasPrefix(name, "/") {
		return nil, unsafeErr("absolute path")
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return nil, unsafeErr("path contains \"..\"")
		default:
			parts = append(parts, p)
		}
	}
	return parts, nil
}

// openDir opens the directory at parts below the root without following any
// symlink. Missing directories are created (0755, as docker does) if create.
func (w *writer) openDir(parts []string, create bool) (int, error) {
	fd, err := unix.Openat(w.root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for i, p := range parts {
		next, err := unix.Openat(fd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, p, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Fstatat(fd, p, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				err = unsafeErr("path goes through symlink %q", strings.Join(parts[:i+1], "/"))
			} else {
				err = fmt.Errorf("%q is not a directory", strings.Join(parts[:i+1], "/"))
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// whiteout records (or, applying, performs) the deletion of parts.
func (w *writer) whiteout(parts []string) error {
	parent, err := w.openDir(parts[:len(parts)-1], true)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	base := parts[len(parts)-1]
	if err := removeAllAt(parent, base); err != nil {
		return err
	}
	if w.apply {
		return nil
	}
	return unix.Mknodat(parent, base, unix.S_IFCHR, 0)
}

// opaque marks (or, applying, empties) the directory at parts.
func (w *writer) opaque(parts []string) error {
	fd, err := w.openDir(parts, true)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if w.apply {
		return removeChildren(fd)
	}
	return unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0)
}

// link makes parts a hard link to the existing entry at target.
func (w *writer) link(parts, target []string) error {
	if len(target) == 0 {
		return unsafeErr("hard link to the layer's root")
	}
	tparent, err := w.openDir(target[:len(target)-1], false)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	defer unix.Close(tparent)
	parent, base, err := w.prepare(parts, false)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	// Flags 0: linkat does not follow a symlink target; it links the symlink.
	return unix.Linkat(tparent, target[len(target)-1], parent, base, 0)
}

// prepare opens the parent of parts and clears the way for a new entry: an
// existing directory is kept only if a directory is being written.
func (w *writer) prepare(parts []string, dir bool) (int, string, error) {
	parent, err := w.openDir(parts[:len(parts)-1], true)
	if err != nil {
		return -1, "", err
	}
	base := parts[len(parts)-1]
	var st unix.Stat_t
	err = unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && !(dir && st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		err = removeAllAt(parent, base)
	} else if errors.Is(err, unix.ENOENT) {
		err = nil
	}
	if err != nil {
		unix.Close(parent)
		return -1, "", err
	}
	return parent, base, nil
}

// write creates n at parts.
func (w *writer) write(parts []string, n node) error {
	if len(parts) == 0 {
		return nil // the root itself: it is ours, not the layer's
	}
	parent, base, err := w.prepare(parts, n.kind == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	switch n.kind {
	case unix.S_IFDIR:
		if err := unix.Mkdirat(parent, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := w.meta(fd, n); err != nil {
			return err
		}
		w.dirs = append(w.dirs, dirTime{parts: parts, atime: n.atime, mtime: n.mtime})
		return nil
	case unix.S_IFREG:
		fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		defer f.Close()
		if n.body != nil {
			if _, err := io.Copy(f, n.body); err != nil {
				return fmt.Errorf("writing content: %w", err)
			}
		}
		if err := w.meta(fd, n); err != nil {
			return err
		}
		return setTimes(fd, n)
	case unix.S_IFLNK:
		if err := unix.Symlinkat(n.linkname, parent, base); err != nil {
			return err
		}
		if w.chown {
			if err := unix.Fchownat(parent, base, n.uid, n.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("setting owner: %w", err)
			}
		}
		return unix.UtimesNanoAt(parent, base, timespecs(n), unix.AT_SYMLINK_NOFOLLOW)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknodat(parent, base, n.kind|n.perm, int(n.rdev)); err != nil {
			return err
		}
		if w.chown {
			if err := unix.Fchownat(parent, base, n.uid, n.gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("setting owner: %w", err)
			}
		}
		return unix.UtimesNanoAt(parent, base, timespecs(n), unix.AT_SYMLINK_NOFOLLOW)
	}
	return fmt.Errorf("unsupported file type %#o", n.kind)
}

// meta sets owner, then mode (chown clears setuid bits), then xattrs on fd.
func (w *writer) meta(fd int, n node) error {
	if w.chown {
		if err := unix.Fchown(fd, n.uid, n.gid); err != nil {
			return fmt.Errorf("setting owner: %w", err)
		}
	}
	if err := unix.Fchmod(fd, n.perm); err != nil {
		return fmt.Errorf("setting mode: %w", err)
	}
	for k, v := range n.xattrs {
		if strings.HasPrefix(k, xattrPrefix) {
			continue // overlayfs's own attributes are ours to set, never a layer's
		}
		err := unix.Fsetxattr(fd, k, []byte(v), 0)
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
			continue // kept where possible: not every file system or user may set every namespace
		}
		if err != nil {
			return fmt.Errorf("setting xattr %s: %w", k, err)
		}
	}
	return nil
}

// finish sets directory times last, since creating entries changes them.
func (w *writer) finish() {
	for i := len(w.dirs) - 1; i >= 0; i-- {
		d := w.dirs[i]
		fd, err := w.openDir(d.parts, false)
		if err != nil {
			continue // replaced by a later entry
		}
		_ = setTimes(fd, node{atime: d.atime, mtime: d.mtime})
		unix.Close(fd)
	}
}

func timespecs(n node) []unix.Timespec {
	at, mt := n.atime, n.mtime
	if at.IsZero() {
		at = mt
	}
	return []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
}

func setTimes(fd int, n node) error {
	if n.mtime.IsZero() {
		return nil
	}
	ts := timespecs(n)
	tv := []unix.Timeval{unix.NsecToTimeval(unix.TimespecToNsec(ts[0])), unix.NsecToTimeval(unix.TimespecToNsec(ts[1]))}
	return unix.Futimes(fd, tv)
}

// removeAllAt removes name under parent and, if a directory, everything in it,
// without following symlinks.
func removeAllAt(parent int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(parent, name, 0)
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = removeChildren(fd)
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(parent, name, unix.AT_REMOVEDIR)
}

// removeChildren empties the directory open at fd.
func removeChildren(fd int) error {
	dup, err := unix.Dup(fd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := removeAllAt(fd, n); err != nil {
			return err
		}
	}
	return nil
}
