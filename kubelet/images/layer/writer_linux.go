package layer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
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

// writer creates objects under a root directory descriptor. Every path
// component is opened with openat(O_NOFOLLOW) from the descriptor of the one
// before, so the kernel never follows a symlink on the writer's behalf: a
// symlink on the way is either resolved here, inside the root, or refused
// (see openDir).
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

// followLinks says whether a symlink on the way to an entry is followed.
// A layer being unpacked may write through its own symlinks, as containerd
// lets it, so they are resolved inside the root. Applying walks a directory
// Unpack made, writing each directory before what is in it, so a symlink
// there means something replaced it meanwhile: refused.
func (w *writer) followLinks() bool { return !w.apply }

// cleanName turns an archive name into path components below the root, read
// as containerd reads them: as if the root were "/". "/etc/x", "../etc/x" and
// "a/../../etc/x" all name etc/x; "", ".", "/" and ".." name the root (no
// parts). The cleaning is lexical, before any symlink is looked at.
func cleanName(name string) []string {
	c := path.Clean("/" + name)
	if c == "/" {
		return nil
	}
	return strings.Split(c[1:], "/")
}

// maxSymlinks bounds the symlinks followed resolving one path, as Linux's own
// limit does, so a loop of links fails instead of spinning.
const maxSymlinks = 40

// openDir opens the directory at parts below the root, creating missing
// directories (0755, as docker does) if create. A symlink on the way is
// followed only if w.followLinks(), and then inside the root: its target is
// read as if the root were "/", and ".." never climbs above the root, because
// the walk keeps the descriptor of every directory it passed and ".." returns
// to the previous one instead of opening "..". So a layer's link
// "etc -> /host/etc" means root/host/etc, never the host's.
func (w *writer) openDir(parts []string, create bool) (int, error) {
	root, err := unix.Openat(w.root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	stack := []int{root} // directories walked, the root first
	var names []string   // the name of each but the root, for messages
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()
	todo := slices.Clone(parts)
	links := 0
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				unix.Close(stack[len(stack)-1])
				stack, names = stack[:len(stack)-1], names[:len(names)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		next, err := openChild(cur, p, create)
		if err == nil {
			stack, names = append(stack, next), append(names, p)
			continue
		}
		at := strings.Join(append(slices.Clone(names), p), "/")
		if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("opening directory %q: %w", at, err)
		}
		target, isLink := readlinkAt(cur, p)
		switch {
		case !isLink:
			return -1, fmt.Errorf("%q is not a directory", at)
		case !w.followLinks():
			return -1, unsafeErr("path goes through symlink %q", at)
		}
		if links++; links > maxSymlinks {
			return -1, fmt.Errorf("resolving %q: %w", strings.Join(parts, "/"), unix.ELOOP)
		}
		if strings.HasPrefix(target, "/") {
			for _, fd := range stack[1:] {
				unix.Close(fd)
			}
			stack, names = stack[:1], nil
		}
		// Cleaned lexically, as containerd does, so "x/../.." is ".." and
		// creates no x; what ".." remains leads the target and pops the stack.
		todo = append(strings.Split(path.Clean(target), "/"), todo...)
	}
	fd := stack[len(stack)-1]
	stack = stack[:len(stack)-1]
	return fd, nil
}

// openChild opens the directory name in dir without following a symlink,
// creating it first if create and it is missing.
func openChild(dir int, name string, create bool) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dir, name, flags, 0)
	if errors.Is(err, unix.ENOENT) && create {
		if err = unix.Mkdirat(dir, name, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
			fd, err = unix.Openat(dir, name, flags, 0)
		}
	}
	return fd, err
}

// readlinkAt returns the target of name in dir, if it is a symlink.
func readlinkAt(dir int, name string) (string, bool) {
	// Linux refuses to create a symlink whose target is PATH_MAX or longer.
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dir, name, buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
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

// link makes parts a hard link to the existing entry at target, both inside
// the root: the target's directory is resolved as any entry's is, and its
// last component is linked itself (a symlink is linked, not followed).
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
