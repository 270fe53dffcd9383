package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// describe says what is at path (not following a symlink there), in the
// words the tests below expect: "file BODY", "dir", "dir opaque",
// "symlink TARGET", "whiteout", "block MAJ:MIN", "char MAJ:MIN", "fifo" or
// "missing".
func describe(t *testing.T, path string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); errors.Is(err, unix.ENOENT) {
		return "missing"
	} else if err != nil {
		t.Fatal(err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return "file " + string(b)
	case unix.S_IFDIR:
		if v, err := unix.Lgetxattr(path, opaqueXattr, make([]byte, 8)); err == nil && v == 1 {
			return "dir opaque"
		}
		return "dir"
	case unix.S_IFLNK:
		target, err := os.Readlink(path)
		if err != nil {
			t.Fatal(err)
		}
		return "symlink " + target
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			return "whiteout"
		}
		return fmt.Sprintf("char %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		return fmt.Sprintf("block %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		return "fifo"
	}
	return fmt.Sprintf("mode %o", st.Mode)
}

// TestUnpackKeepsHostileLayersInside unpacks layers that aim at the
// "outside" directory beside the root. As under containerd they unpack, and
// what they write lands inside the root, where the layer's names mean when
// the root is "/"; nothing outside changes. Every name and link aims inside
// the test's temporary directory, never at the host's own files (/etc), so a
// regression fails the test instead of damaging the machine running it.
func TestUnpackKeepsHostileLayersInside(t *testing.T) {
	// in names, relative to the root, where an absolute host path lands.
	in := func(abs string, rest ...string) string {
		return filepath.Join(append([]string{strings.TrimPrefix(abs, "/")}, rest...)...)
	}
	for _, tc := range []struct {
		name     string
		needRoot bool // whiteouts and devices are device nodes; opaque is a trusted.* xattr
		entries  func(s sandbox) []entry
		want     func(s sandbox) map[string]string // path in the root → describe
	}{
		{"dot-dot path", false,
			func(s sandbox) []entry { return []entry{file("../outside/evil", "x")} },
			func(s sandbox) map[string]string { return map[string]string{"outside/evil": "file x"} }},
		{"dot-dot deep inside path", false,
			func(s sandbox) []entry { return []entry{dir("a/"), file("a/../../../outside/evil", "x")} },
			func(s sandbox) map[string]string { return map[string]string{"outside/evil": "file x", "a": "dir"} }},
		{"absolute path", false,
			func(s sandbox) []entry { return []entry{file(s.outside+"/evil", "x")} },
			func(s sandbox) map[string]string { return map[string]string{in(s.outside, "evil"): "file x"} }},
		{"relative symlink written through", false,
			func(s sandbox) []entry { return []entry{symlink("up", "../outside"), file("up/evil", "x")} },
			func(s sandbox) map[string]string {
				return map[string]string{"up": "symlink ../outside", "outside/evil": "file x"}
			}},
		{"absolute symlink written through", false,
			func(s sandbox) []entry { return []entry{symlink("abs", s.outside), file("abs/evil", "x")} },
			func(s sandbox) map[string]string {
				return map[string]string{"abs": "symlink " + s.outside, in(s.outside, "evil"): "file x"}
			}},
		// As "a -> /etc" then "a/passwd" would, aimed at the sandbox so that a
		// regression cannot touch the host's own files.
		{"symlink to a system directory written through", false,
			func(s sandbox) []entry { return []entry{symlink("a", s.outside), file("a/sentinel", "root::0:0::/:")} },
			func(s sandbox) map[string]string {
				return map[string]string{in(s.outside, "sentinel"): "file root::0:0::/:"}
			}},
		{"nested symlink written through", false,
			func(s sandbox) []entry {
				return []entry{dir("a/"), dir("a/b/"), symlink("a/b/c", "../../../outside"), file("a/b/c/evil", "x")}
			},
			func(s sandbox) map[string]string { return map[string]string{"outside/evil": "file x"} }},
		{"chain of symlinks written through", false,
			func(s sandbox) []entry {
				return []entry{symlink("a", "b/c"), symlink("b", s.outside), file("a/evil", "x")}
			},
			func(s sandbox) map[string]string { return map[string]string{in(s.outside, "c", "evil"): "file x"} }},
		{"symlink with dot-dot through a missing directory", false,
			func(s sandbox) []entry { return []entry{symlink("a", "x/../../.."), file("a/outside/evil", "x")} },
			func(s sandbox) map[string]string {
				return map[string]string{"outside/evil": "file x", "x": "missing"}
			}},
		{"directory through symlink", false,
			func(s sandbox) []entry { return []entry{symlink("up", "../outside"), dir("up/newdir/")} },
			func(s sandbox) map[string]string { return map[string]string{"outside/newdir": "dir"} }},
		{"symlink through symlink", false,
			func(s sandbox) []entry {
				return []entry{symlink("up", "../outside"), symlink("up/evil", "/etc/passwd")}
			},
			func(s sandbox) map[string]string { return map[string]string{"outside/evil": "symlink /etc/passwd"} }},
		{"symlink replaced by a file, not written through", false,
			func(s sandbox) []entry {
				return []entry{symlink("sentinel", s.outside+"/sentinel"), file("sentinel", "mine")}
			},
			func(s sandbox) map[string]string { return map[string]string{"sentinel": "file mine"} }},
		{"hard link through symlink", false,
			func(s sandbox) []entry {
				return []entry{file("f", "x"), symlink("up", s.outside), hardlink("up/evil", "f")}
			},
			func(s sandbox) map[string]string { return map[string]string{in(s.outside, "evil"): "file x"} }},
		{"hard link to dot-dot path", false,
			func(s sandbox) []entry {
				return []entry{file("outside/sentinel", "inner"), hardlink("steal", "../outside/sentinel")}
			},
			func(s sandbox) map[string]string { return map[string]string{"steal": "file inner"} }},
		{"hard link to absolute path", false,
			func(s sandbox) []entry {
				return []entry{file(s.outside+"/sentinel", "inner"), hardlink("steal", s.outside+"/sentinel")}
			},
			func(s sandbox) map[string]string { return map[string]string{"steal": "file inner"} }},
		{"hard link whose target's directory is a symlink", false,
			func(s sandbox) []entry {
				return []entry{file("outside/sentinel", "inner"), symlink("up", "/outside"), hardlink("steal", "up/sentinel")}
			},
			func(s sandbox) map[string]string { return map[string]string{"steal": "file inner"} }},
		{"hard link to a symlink links the symlink", false,
			func(s sandbox) []entry {
				return []entry{symlink("l", s.outside+"/sentinel"), hardlink("steal", "l")}
			},
			func(s sandbox) map[string]string {
				return map[string]string{"steal": "symlink " + s.outside + "/sentinel"}
			}},
		{"whiteout through symlink", true,
			func(s sandbox) []entry { return []entry{symlink("up", s.outside), file("up/.wh.sentinel", "")} },
			func(s sandbox) map[string]string { return map[string]string{in(s.outside, "sentinel"): "whiteout"} }},
		{"whiteout with dot-dot path", true,
			func(s sandbox) []entry { return []entry{file("../outside/.wh.sentinel", "")} },
			func(s sandbox) map[string]string { return map[string]string{"outside/sentinel": "whiteout"} }},
		{"opaque marker through symlink", true,
			func(s sandbox) []entry { return []entry{symlink("up", "../outside"), file("up/.wh..wh..opq", "")} },
			func(s sandbox) map[string]string { return map[string]string{"outside": "dir opaque"} }},
		{"device node with dot-dot path", true,
			func(s sandbox) []entry {
				return []entry{{name: "../dev/sda", typ: tar.TypeBlock, mode: 0o600, major: 8, minor: 0}}
			},
			func(s sandbox) map[string]string { return map[string]string{"dev/sda": "block 8:0"} }},
		{"device node through symlink", true,
			func(s sandbox) []entry {
				return []entry{symlink("d", s.outside), {name: "d/mem", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 1}}
			},
			func(s sandbox) map[string]string { return map[string]string{in(s.outside, "mem"): "char 1:1"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needRoot && os.Geteuid() != 0 {
				t.Skip("needs root: device nodes and trusted.* xattrs")
			}
			s := newSandbox(t)
			layer := tarball(t, tc.entries(s)...)
			if err := Unpack(context.Background(), s.root, "sha256:hostile", bytes.NewReader(layer)); err != nil {
				t.Fatalf("Unpack = %v; want the layer unpacked inside the root", err)
			}
			s.assertOutsideUntouched(t)
			for p, want := range tc.want(s) {
				if got := describe(t, filepath.Join(s.root, p)); got != want {
					t.Errorf("%s in the root is %q, want %q", p, got, want)
				}
			}
		})
	}
}

// TestUnpackRefusesNonsense: entries that name nothing inside the root fail
// the unpack, naming the layer and the entry, and change nothing outside.
func TestUnpackRefusesNonsense(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries func(s sandbox) []entry
		entry   string // the entry the error must name
		want    error  // what the error must be, by errors.Is; nil: any *Error
	}{
		{"whiteout of parent", func(s sandbox) []entry { return []entry{file("a/.wh...", "")} }, "a/.wh...", ErrUnsafe},
		{"whiteout of itself", func(s sandbox) []entry { return []entry{file(".wh..", "")} }, ".wh..", ErrUnsafe},
		{"whiteout of nothing", func(s sandbox) []entry { return []entry{file(".wh.", "")} }, ".wh.", ErrUnsafe},
		{"hard link to the root", func(s sandbox) []entry { return []entry{hardlink("root", "../")} }, "root", ErrUnsafe},
		{"symlink loop", func(s sandbox) []entry {
			return []entry{dir("d/"), symlink("d/a", "../b"), symlink("b", "d/a"), file("b/evil", "x")}
		}, "b/evil", unix.ELOOP},
		{"symlink to a file written through", func(s sandbox) []entry {
			return []entry{file("f", "h"), symlink("a", "/f"), file("a/evil", "x")}
		}, "a/evil", nil},
		// The target is read inside the root, where there is no sentinel.
		{"hard link to outside", func(s sandbox) []entry {
			return []entry{hardlink("steal", "../outside/sentinel")}
		}, "steal", unix.ENOENT},
		{"hard link to absolute outside path", func(s sandbox) []entry {
			return []entry{hardlink("steal", s.outside+"/sentinel")}
		}, "steal", unix.ENOENT},
		{"hard link through symlink to outside", func(s sandbox) []entry {
			return []entry{symlink("up", s.outside), hardlink("steal", "up/sentinel")}
		}, "steal", unix.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			err := Unpack(context.Background(), s.root, "sha256:hostile", bytes.NewReader(tarball(t, tc.entries(s)...)))
			var lerr *Error
			if !errors.As(err, &lerr) {
				t.Fatalf("Unpack = %v, want a *layer.Error", err)
			}
			if lerr.Entry != tc.entry && lerr.Entry != s.outside+"/"+tc.entry {
				t.Errorf("error names entry %q, want %q", lerr.Entry, tc.entry)
			}
			if !strings.Contains(err.Error(), "sha256:hostile") {
				t.Errorf("error %q does not name the layer", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
			s.assertOutsideUntouched(t)
		})
	}
}

// TestApplyNeverWritesThroughLowerSymlinks applies layers onto a root
// filesystem whose lower layer left symlinks to the outside where the upper
// layer has directories: as overlayfs shows it, the upper directory replaces
// the symlink, and nothing is written, deleted or emptied through it.
func TestApplyNeverWritesThroughLowerSymlinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: whiteouts are device nodes, opaque a trusted.* xattr")
	}
	ctx := context.Background()
	s := newSandbox(t)
	lower := []entry{symlink("etc", s.outside), symlink("gone", s.outside+"/sentinel"),
		symlink("opq", s.outside), symlink("wh", s.outside)}
	upper := []entry{file("etc/sentinel", "pwned"), file(".wh.gone", ""),
		file("opq/.wh..wh..opq", ""), file("wh/.wh.sentinel", "")}
	for i, entries := range [][]entry{lower, upper} {
		dir := filepath.Join(s.base, fmt.Sprintf("layer%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := Unpack(ctx, dir, "test", bytes.NewReader(tarball(t, entries...))); err != nil {
			t.Fatal(err)
		}
		if err := Apply(ctx, s.root, dir); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	s.assertOutsideUntouched(t)
	for p, want := range map[string]string{"etc": "dir", "etc/sentinel": "file pwned", "gone": "missing",
		"opq": "dir", "wh": "dir", "wh/sentinel": "missing"} {
		if got := describe(t, filepath.Join(s.root, p)); got != want {
			t.Errorf("%s in the root is %q, want %q", p, got, want)
		}
	}
}
