package layer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, link   string
	typ          byte
	mode         int64
	body         string
	pax          map[string]string
	major, minor int64 // of a device node
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) entry { return entry{name: name, typ: tar.TypeLink, link: target} }

func tarball(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Size: int64(len(e.body)), PAXRecords: e.pax, Uid: 1000, Gid: 1000, Format: tar.FormatPAX,
			Devmajor: e.major, Devminor: e.minor}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a temporary directory holding the layer's root and, beside it, an
// "outside" directory with a sentinel file that hostile layers aim at.
type sandbox struct{ base, root, outside string }

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	base := t.TempDir()
	s := sandbox{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.root, s.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "sentinel"), []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// assertOutsideUntouched checks that nothing was written beside the root.
func (s sandbox) assertOutsideUntouched(t *testing.T) {
	t.Helper()
	var names []string
	err := filepath.WalkDir(s.base, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == s.root {
			return fs.SkipDir
		}
		names = append(names, strings.TrimPrefix(path, s.base))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != " /outside /outside/sentinel" {
		t.Errorf("files outside the root: %s", got)
	}
	b, err := os.ReadFile(filepath.Join(s.outside, "sentinel"))
	if err != nil || string(b) != "untouched" {
		t.Errorf("sentinel = %q, %v; want untouched", b, err)
	}
	// A hard link made to it from inside the root would leave it unchanged
	// but for its link count.
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(s.outside, "sentinel"), &st); err != nil || st.Nlink != 1 {
		t.Errorf("sentinel has %d links (%v); want 1", st.Nlink, err)
	}
}

// A later entry replaces an earlier symlink of the same name; it must not
// write through it.
func TestUnpackReplacesSymlinkWithoutFollowing(t *testing.T) {
	s := newSandbox(t)
	layer := tarball(t,
		symlink("f", filepath.Join(s.outside, "sentinel")),
		file("f", "mine"),
		symlink("d", s.outside),
		dir("d/"),
	)
	if err := Unpack(context.Background(), s.root, "sha256:replace", bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	s.assertOutsideUntouched(t)
	if b, err := os.ReadFile(filepath.Join(s.root, "f")); err != nil || string(b) != "mine" {
		t.Errorf("f = %q, %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(s.root, "d")); err != nil || !fi.IsDir() {
		t.Errorf("d is %v, %v; want a directory", fi, err)
	}
}

func TestUnpackKeepsMetadataAndWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: ownership, device nodes and trusted.* xattrs")
	}
	s := newSandbox(t)
	layer := tarball(t,
		dir("./etc/"),
		entry{name: "./bin/tool", typ: tar.TypeReg, mode: 0o4755, body: "#!", pax: map[string]string{"SCHILY.xattr.user.note": "hi"}},
		hardlink("./bin/tool2", "bin/tool"),
		symlink("./bin/sh", "/bin/busybox"),
		entry{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		file("etc/.wh.passwd", ""),
		file("var/.wh..wh..opq", ""),
		entry{name: "evil", typ: tar.TypeReg, mode: 0o644, pax: map[string]string{"SCHILY.xattr.trusted.overlay.redirect": "/x"}},
	)
	if err := Unpack(context.Background(), s.root, "sha256:meta", bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(s.root, "bin/tool"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o4755 || st.Uid != 1000 || st.Gid != 1000 || st.Nlink != 2 {
		t.Errorf("bin/tool mode %o uid %d gid %d nlink %d; want 4755 1000 1000 2", st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
	}
	if v := xattr(t, filepath.Join(s.root, "bin/tool"), "user.note"); v != "hi" {
		t.Errorf("user.note = %q", v)
	}
	if target, _ := os.Readlink(filepath.Join(s.root, "bin/sh")); target != "/bin/busybox" {
		t.Errorf("bin/sh -> %q", target)
	}
	if err := unix.Lstat(filepath.Join(s.root, "etc/passwd"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/passwd is not a whiteout: mode %o rdev %d err %v", st.Mode, st.Rdev, err)
	}
	if v := xattr(t, filepath.Join(s.root, "var"), opaqueXattr); v != "y" {
		t.Errorf("var opaque = %q", v)
	}
	if v := xattr(t, filepath.Join(s.root, "evil"), "trusted.overlay.redirect"); v != "" {
		t.Errorf("layer set overlay xattr: %q", v)
	}
	if err := unix.Lstat(filepath.Join(s.root, "fifo"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo mode %o err %v", st.Mode, err)
	}
}

func xattr(t *testing.T, path, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if errors.Is(err, unix.ENODATA) {
		return ""
	}
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, name, err)
	}
	return string(buf[:n])
}

func TestApplyLayersAsOverlayWould(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: whiteouts are device nodes")
	}
	ctx := context.Background()
	base := t.TempDir()
	layers := [][]entry{
		{file("a/x", "x"), file("a/y", "y"), file("b/z", "z"), dir("usr/lib/"), symlink("lib", "usr/lib"), file("keep", "lower")},
		{file("a/.wh.x", ""), file("b/.wh..wh..opq", ""), file("b/new", "new"), file("lib/own", "own"), file("keep", "upper")},
	}
	dst := filepath.Join(base, "rootfs")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, entries := range layers {
		dir := filepath.Join(base, "layer", string(rune('0'+i)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Unpack(ctx, dir, "test", bytes.NewReader(tarball(t, entries...))); err != nil {
			t.Fatal(err)
		}
		if err := Apply(ctx, dst, dir); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dst, path)
		got = append(got, rel)
		return nil
	})
	want := ". a a/y b b/new keep lib lib/own usr usr/lib"
	if strings.Join(got, " ") != want {
		t.Errorf("rootfs = %s\nwant      %s", strings.Join(got, " "), want)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "keep")); string(b) != "upper" {
		t.Errorf("keep = %q", b)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "lib")); err != nil || !fi.IsDir() {
		t.Errorf("lib should be the upper layer's directory: %v %v", fi, err)
	}
}

func TestDecompress(t *testing.T) {
	plain := []byte("plain tar bytes")
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain)
	gw.Close()
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(plain)
	zw.Close()
	for name, in := range map[string][]byte{"plain": plain, "gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		t.Run(name, func(t *testing.T) {
			r, err := Decompress(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("got %q, %v", got, err)
			}
		})
	}
}
