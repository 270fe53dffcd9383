// Package layer unpacks untrusted image layers (tar streams, optionally gzip or
// zstd compressed) into a directory, and applies unpacked layers onto a root
// filesystem where overlayfs is unavailable.
//
// Its one promise is that a layer cannot write outside the directory it is
// unpacked into. Names are read as containerd reads them, as if that
// directory were "/": "/etc/x", "../etc/x" and "a/../../etc/x" all mean etc/x.
// Every path is resolved one component at a time with openat(2) and
// O_NOFOLLOW from a descriptor of that directory, so the kernel never follows
// a symlink; a layer's own symlinks on the way to an entry are followed here,
// inside the directory (a link "a -> /etc" makes "a/passwd" etc/passwd, ".."
// stops at the top), and the entry's last component is replaced, never
// written through. Hard links are resolved the same way, so they only ever
// name entries inside. Such layers unpack as under containerd; what fails the
// whole unpack, with an *Error naming the layer and the entry, is what names
// nothing sensible (a whiteout of "..", a symlink loop). Apply, copying a
// directory Unpack made onto a root filesystem, follows no symlink at all: an
// entry replaces a lower layer's symlink, as overlayfs shows it.
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
