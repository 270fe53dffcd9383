// Package layer unpacks untrusted image layers (tar streams, optionally gzip or
// zstd compressed) into a directory, and applies unpacked layers onto a root
// filesystem where overlayfs is unavailable.
//
// Its one promise is that a layer cannot write outside the directory it is
// unpacked into: entries with absolute names or ".." components are refused,
// and every path is resolved one component at a time with openat(2) and
// O_NOFOLLOW from a descriptor of that directory, so no path is ever resolved
// through a symlink (a layer's symlinks are created, never followed); hard
// links may only name entries inside the layer. A refused entry fails the
// whole unpack with an *Error naming the layer and the entry.
//
// Unpacked layers are in overlayfs's format: a whiteout (.wh.NAME) becomes a
// 0/0 character device NAME and an opaque marker (.wh..wh..opq) the
// trusted.overlay.opaque=y xattr on its directory. Ownership, modes (with
// setuid/setgid/sticky), times and extended attributes are kept where the
// process may set them.
//
// It knows nothing of images, digests or stores: callers name the layer for
// error messages and verify digests themselves.
package layer
