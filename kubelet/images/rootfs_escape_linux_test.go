package images

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"berth.dev/berth/kubelet/images/imagetest"
	"berth.dev/berth/kubelet/images/layer"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// escapeSandbox is a test directory holding the store (base/a/b/store, so
// that "../" climbs stay inside the test's directory) and, beside it, an
// "outside" directory with a sentinel hostile layers aim at. No hostile name
// here points at the host's own files: a regression fails, it breaks nothing.
type escapeSandbox struct{ base, store, outside string }

func newEscapeSandbox(t *testing.T) escapeSandbox {
	t.Helper()
	base := t.TempDir()
	e := escapeSandbox{base: base, store: filepath.Join(base, "a", "b", "store"), outside: filepath.Join(base, "outside")}
	if err := os.Mkdir(e.outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.outside, "sentinel"), []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// assertOutsideUntouched checks that nothing outside the store was written,
// removed or linked to.
func (e escapeSandbox) assertOutsideUntouched(t *testing.T) {
	t.Helper()
	var names []string
	err := filepath.WalkDir(e.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == e.store {
			return fs.SkipDir
		}
		names = append(names, strings.TrimPrefix(p, e.base))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != " /a /a/b /outside /outside/sentinel" {
		t.Errorf("files outside the store: %s", got)
	}
	b, err := os.ReadFile(filepath.Join(e.outside, "sentinel"))
	if err != nil || string(b) != "untouched" {
		t.Errorf("sentinel = %q, %v; want untouched", b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(e.outside, "sentinel"), &st); err != nil || st.Nlink != 1 {
		t.Errorf("sentinel has %d links (%v); want 1", st.Nlink, err)
	}
}

// TestCreateRootfsKeepsHostileLayersInside pulls (imports) images whose
// layer aims outside and makes root filesystems of them, through overlayfs
// and by copying: as under containerd the image runs, with what the layer
// wrote inside its root filesystem.
func TestCreateRootfsKeepsHostileLayersInside(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		files func(e escapeSandbox) []imagetest.File
		want  func(e escapeSandbox) map[string]string // path in the rootfs → content
	}{
		{"dot-dot", func(e escapeSandbox) []imagetest.File {
			return []imagetest.File{{Name: "../../../../evil", Body: []byte("x")}}
		}, func(e escapeSandbox) map[string]string { return map[string]string{"evil": "x"} }},
		{"absolute", func(e escapeSandbox) []imagetest.File {
			return []imagetest.File{{Name: e.outside + "/sentinel", Body: []byte("x")}}
		}, func(e escapeSandbox) map[string]string { return map[string]string{e.outside + "/sentinel": "x"} }},
		{"relative symlink", func(e escapeSandbox) []imagetest.File {
			return []imagetest.File{{Name: "up", Symlink: "../../../.."}, {Name: "up/evil", Body: []byte("x")}}
		}, func(e escapeSandbox) map[string]string { return map[string]string{"evil": "x"} }},
		{"absolute symlink", func(e escapeSandbox) []imagetest.File {
			return []imagetest.File{{Name: "etc", Symlink: e.outside}, {Name: "etc/sentinel", Body: []byte("pwned")}}
		}, func(e escapeSandbox) map[string]string { return map[string]string{e.outside + "/sentinel": "pwned"} }},
		{"hard link", func(e escapeSandbox) []imagetest.File {
			return []imagetest.File{{Name: e.outside + "/sentinel", Body: []byte("inner")},
				{Name: "pw", Hardlink: "../../../../../.." + e.outside + "/sentinel"}}
		}, func(e escapeSandbox) map[string]string { return map[string]string{"pw": "inner"} }},
	} {
		for _, mode := range []struct {
			name      string
			noOverlay bool
		}{{"overlay", false}, {"copy", true}} {
			t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
				e := newEscapeSandbox(t)
				s := newStore(t, Config{Root: e.store, NoOverlay: mode.noOverlay})
				src := layout(t, "hostile:v1", ocispec.ImageConfig{}, tc.files(e))
				if _, err := s.Import(ctx, src); err != nil {
					t.Fatal(err)
				}
				img, err := s.Get(ctx, "hostile:v1")
				if err != nil {
					t.Fatal(err)
				}
				rfs, err := s.CreateRootfs(ctx, "berth-test-hostile", img)
				if err != nil {
					t.Fatalf("CreateRootfs = %v; want the layer kept inside the rootfs", err)
				}
				e.assertOutsideUntouched(t)
				for p, want := range tc.want(e) {
					if b, err := os.ReadFile(filepath.Join(rfs.Path, p)); err != nil || string(b) != want {
						t.Errorf("%s in the rootfs = %q, %v; want %q", p, b, err, want)
					}
				}
				if err := s.RemoveRootfs(ctx, "berth-test-hostile"); err != nil {
					t.Fatal(err)
				}
				e.assertOutsideUntouched(t)
			})
		}
	}
}

// TestCreateRootfsRefusesNonsenseLayer: a layer entry that names nothing in
// the root fails the rootfs with an error naming the layer and the entry,
// and leaves nothing cached.
func TestCreateRootfsRefusesNonsenseLayer(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	e := newEscapeSandbox(t)
	s := newStore(t, Config{Root: e.store})
	src := layout(t, "hostile:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "etc/.wh..."}})
	if _, err := s.Import(ctx, src); err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ctx, "hostile:v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateRootfs(ctx, "berth-test-hostile", img)
	var lerr *layer.Error
	if !errors.As(err, &lerr) || !errors.Is(err, layer.ErrUnsafe) || lerr.Entry != "etc/.wh..." {
		t.Fatalf("CreateRootfs = %v; want an unsafe-entry error for etc/.wh...", err)
	}
	if !strings.Contains(err.Error(), img.Layers[0].Digest.String()) {
		t.Errorf("error %q does not name the layer", err)
	}
	if left, _ := os.ReadDir(filepath.Join(s.root, "layers")); len(left) != 0 {
		t.Errorf("a refused layer was cached")
	}
	if left, _ := os.ReadDir(filepath.Join(s.root, "containers")); len(left) != 0 {
		t.Errorf("a failed rootfs was left behind")
	}
	e.assertOutsideUntouched(t)
}
