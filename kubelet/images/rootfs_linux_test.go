package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"berth.dev/berth/kubelet/images/imagetest"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts, device nodes and ownership")
	}
}

func TestRootfs(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	src := layout(t, "layered:v1", ocispec.ImageConfig{},
		[]imagetest.File{{Name: "etc/", Dir: true}, {Name: "etc/motd", Body: []byte("lower")}, {Name: "etc/gone", Body: []byte("x")}},
		[]imagetest.File{{Name: "etc/", Dir: true}, {Name: "etc/.wh.gone"}, {Name: "etc/motd", Body: []byte("upper")}},
	)
	for _, tc := range []struct {
		name      string
		noOverlay bool
	}{{"overlay", false}, {"copy", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Config{NoOverlay: tc.noOverlay})
			if _, err := s.Import(ctx, src); err != nil {
				t.Fatal(err)
			}
			img, err := s.Get(ctx, "layered:v1")
			if err != nil {
				t.Fatal(err)
			}
			id := "berth-test-rootfs-" + tc.name
			rfs, err := s.CreateRootfs(ctx, id, img)
			if err != nil {
				t.Fatal(err)
			}
			if rfs.Overlay == tc.noOverlay {
				t.Errorf("Overlay = %v", rfs.Overlay)
			}
			if b, err := os.ReadFile(filepath.Join(rfs.Path, "etc/motd")); err != nil || string(b) != "upper" {
				t.Errorf("etc/motd = %q, %v", b, err)
			}
			if _, err := os.Lstat(filepath.Join(rfs.Path, "etc/gone")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("whited-out etc/gone: %v", err)
			}
			if err := os.WriteFile(filepath.Join(rfs.Path, "etc/motd"), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			// The cached layers are shared between containers: never written through.
			if b, _ := os.ReadFile(filepath.Join(s.root, "layers", img.DiffIDs[1].Encoded(), "etc/motd")); string(b) != "upper" {
				t.Errorf("cached layer changed to %q", b)
			}
			again, err := s.CreateRootfs(ctx, id, img)
			if err != nil || again != rfs {
				t.Errorf("second CreateRootfs = %+v, %v; want %+v", again, err, rfs)
			}
			if b, _ := os.ReadFile(filepath.Join(again.Path, "etc/motd")); string(b) != "mine" {
				t.Errorf("re-adopted rootfs lost the container's write: %q", b)
			}
			if err := s.RemoveRootfs(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(s.root, "containers", id)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("container dir left: %v", err)
			}
		})
	}
}

// importProgram builds testdata/images/<name>, imports it and makes a root
// filesystem of it.
func importProgram(t *testing.T, s *Store, name string) (Image, Rootfs) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), name)
	ref := "berth.test/" + name + ":v1"
	if _, err := imagetest.BuildProgram(ctx, name, ref, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, dir); err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	rfs, err := s.CreateRootfs(ctx, "berth-test-"+name, img)
	if err != nil {
		t.Fatal(err)
	}
	return img, rfs
}

// The test programs build into images whose binary runs in its own root.
func TestTestImagesRun(t *testing.T) {
	needRoot(t)
	s := newStore(t, Config{})
	t.Run("crash", func(t *testing.T) {
		img, rfs := importProgram(t, s, "crash")
		cmd := exec.Command(img.Config.Entrypoint[0])
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rfs.Path}
		cmd.Env = append(img.Config.Env, "EXIT_CODE=3")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(out), "exit code 3") {
			t.Errorf("crash = %q, %v; want exit code 3", out, err)
		}
	})
	t.Run("hello", func(t *testing.T) {
		img, rfs := importProgram(t, s, "hello")
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		var out bytes.Buffer
		cmd := exec.Command(img.Config.Entrypoint[0])
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rfs.Path}
		cmd.Env = append(img.Config.Env, "PORT="+port, "MESSAGE=hi there")
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		get := func(path string) (int, string) {
			for range 100 {
				resp, err := http.Get("http://127.0.0.1:" + port + path)
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the server is starting
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			t.Fatalf("GET %s: server never answered", path)
			return 0, ""
		}
		if code, body := get("/"); code != 200 || body != "hi there\n" {
			t.Errorf("GET / = %d %q", code, body)
		}
		if code, _ := get("/healthz"); code != 200 {
			t.Errorf("GET /healthz = %d", code)
		}
		get("/fail")
		if code, _ := get("/healthz"); code != 500 {
			t.Errorf("GET /healthz after /fail = %d, want 500", code)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil || !strings.Contains(out.String(), "terminating") {
			t.Errorf("after SIGTERM: %v, output %q", err, out.String())
		}
	})
}

// TestBusyboxImage uses the host's busybox-static, or the static busybox
// binary at $BERTH_TEST_BUSYBOX.
func TestBusyboxImage(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	bin := os.Getenv("BERTH_TEST_BUSYBOX")
	if bin == "" {
		bin = imagetest.HostBusybox
	}
	dir := filepath.Join(t.TempDir(), "busybox")
	if _, err := imagetest.Busybox(ctx, bin, "busybox:test", dir); errors.Is(err, imagetest.ErrNoBusybox) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Config{})
	if _, err := s.Import(ctx, dir); err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ctx, "busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	rfs, err := s.CreateRootfs(ctx, "berth-test-busybox", img)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", "echo hi from $0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rfs.Path}
	cmd.Env = img.Config.Env
	if out, err := cmd.CombinedOutput(); err != nil || string(out) != "hi from /bin/sh\n" {
		t.Errorf("sh = %q, %v", out, err)
	}
}

func TestCreateRootfsVerifiesDiffIDs(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := layout(t, "liar:v1", ocispec.ImageConfig{}, []imagetest.File{{Name: "f", Body: []byte("x")}})
	rewriteConfig(t, dir, func(c *ocispec.Image) { c.RootFS.DiffIDs[0] = digest.FromString("something else") })
	s := newStore(t, Config{})
	if _, err := s.Import(ctx, dir); err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ctx, "liar:v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRootfs(ctx, "berth-test-liar", img); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "uncompressed digest") {
		t.Errorf("CreateRootfs = %v, want a diff id mismatch", err)
	}
	if left, _ := os.ReadDir(filepath.Join(s.root, "layers")); len(left) != 0 {
		t.Errorf("a layer with the wrong diff id was cached")
	}
}
