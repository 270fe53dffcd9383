package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	paxXattr       = "SCHILY.xattr."
)

// Unpack writes the tar stream r (already decompressed, see Decompress) into
// dir, an existing directory that should be empty, in overlayfs layer format.
// layerName names the layer in errors. On error dir holds a partial layer
// the caller must remove; nothing outside dir has been written.
func Unpack(ctx context.Context, dir, layerName string, r io.Reader) error {
	w, err := newWriter(dir, false)
	if err != nil {
		return fmt.Errorf("unpacking layer %s: %w", layerName, err)
	}
	defer w.close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("unpacking layer %s: %w", layerName, err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("unpacking layer %s: reading tar: %w", layerName, err)
		}
		if err := w.entry(hdr, tr); err != nil {
			return &Error{Layer: layerName, Entry: hdr.Name, Err: err}
		}
	}
	w.finish()
	return nil
}

func (w *writer) entry(hdr *tar.Header, body io.Reader) error {
	parts := cleanName(hdr.Name)
	if len(parts) == 0 {
		return nil // the root itself: it is ours, not the layer's
	}
	base := parts[len(parts)-1]
	switch {
	case base == opaqueMarker:
		return w.opaque(parts[:len(parts)-1])
	case strings.HasPrefix(base, whiteoutPrefix):
		target := strings.TrimPrefix(base, whiteoutPrefix)
		if target == "" || target == "." || target == ".." {
			return unsafeErr("whiteout of %q", target)
		}
		return w.whiteout(append(parts[:len(parts)-1:len(parts)-1], target))
	}
	n := node{
		perm:  uint32(hdr.Mode) & 0o7777,
		uid:   hdr.Uid,
		gid:   hdr.Gid,
		atime: hdr.AccessTime,
		mtime: hdr.ModTime,
		rdev:  unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)),
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattr); ok {
			if n.xattrs == nil {
				n.xattrs = map[string]string{}
			}
			n.xattrs[name] = v
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		n.kind = unix.S_IFDIR
	case tar.TypeReg, tar.TypeRegA:
		n.kind, n.body = unix.S_IFREG, body
	case tar.TypeSymlink:
		// The target is stored as written; it is never followed here.
		n.kind, n.linkname = unix.S_IFLNK, hdr.Linkname
	case tar.TypeChar:
		n.kind = unix.S_IFCHR
	case tar.TypeBlock:
		n.kind = unix.S_IFBLK
	case tar.TypeFifo:
		n.kind = unix.S_IFIFO
	case tar.TypeLink:
		return w.link(parts, cleanName(hdr.Linkname))
	case tar.TypeXGlobalHeader:
		return nil
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	return w.write(parts, n)
}
