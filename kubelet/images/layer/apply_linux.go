package layer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Apply copies the unpacked layer in layerDir (overlayfs format, as Unpack
// writes it) onto the root filesystem in dst, as overlayfs would show it:
// whiteouts delete, opaque directories hide what lower layers put there, and
// an entry replaces whatever lower layers had at its path. It is the fallback
// where overlayfs cannot be mounted; hard links within the layer become copies.
func Apply(ctx context.Context, dst, layerDir string) error {
	w, err := newWriter(dst, true)
	if err != nil {
		return fmt.Errorf("applying layer %s: %w", layerDir, err)
	}
	defer w.close()
	err = filepath.WalkDir(layerDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(layerDir, path)
		if err != nil {
			return err
		}
		if err := w.applyOne(path, filepath.ToSlash(rel)); err != nil {
			return &Error{Layer: layerDir, Entry: rel, Err: err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying layer %s to %s: %w", layerDir, dst, err)
	}
	w.finish()
	return nil
}

func (w *writer) applyOne(path, rel string) error {
	parts := cleanName(rel)
	if len(parts) == 0 {
		return nil
	}
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	if err != nil {
		return err
	}
	kind := st.Mode & unix.S_IFMT
	if kind == unix.S_IFCHR && st.Rdev == 0 {
		return w.whiteout(parts)
	}
	n := node{
		kind:  kind,
		perm:  st.Mode & 0o7777,
		uid:   int(st.Uid),
		gid:   int(st.Gid),
		rdev:  st.Rdev,
		atime: time.Unix(st.Atim.Unix()),
		mtime: time.Unix(st.Mtim.Unix()),
	}
	switch kind {
	case unix.S_IFLNK:
		if n.linkname, err = os.Readlink(path); err != nil {
			return err
		}
	case unix.S_IFREG, unix.S_IFDIR:
		if n.xattrs, err = listXattrs(path); err != nil {
			return err
		}
	}
	if kind == unix.S_IFREG {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		n.body = f
	}
	if err := w.write(parts, n); err != nil {
		return err
	}
	if kind == unix.S_IFDIR && n.xattrs[opaqueXattr] == "y" {
		return w.opaque(parts)
	}
	return nil
}

// listXattrs reads the extended attributes of path (not following symlinks).
func listXattrs(path string) (map[string]string, error) {
	buf := make([]byte, 4096)
	sz, err := unix.Llistxattr(path, buf)
	if errors.Is(err, unix.ERANGE) {
		if sz, err = unix.Llistxattr(path, nil); err == nil {
			buf = make([]byte, sz)
			sz, err = unix.Llistxattr(path, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing xattrs: %w", err)
	}
	out := map[string]string{}
	for _, name := range strings.Split(string(buf[:sz]), "\x00") {
		if name == "" {
			continue
		}
		val := make([]byte, 4096)
		vsz, err := unix.Lgetxattr(path, name, val)
		if errors.Is(err, unix.ERANGE) {
			if vsz, err = unix.Lgetxattr(path, name, nil); err == nil {
				val = make([]byte, vsz)
				vsz, err = unix.Lgetxattr(path, name, val)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s: %w", name, err)
		}
		out[name] = string(val[:vsz])
	}
	return out, nil
}
