package runc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/kubelet/runtime"
)

// testRootfs is a root filesystem holding only /bin/ctrtool, built once.
var testRootfs string

func TestMain(m *testing.M) {
	Init() // serves libcontainer's init and the sandbox holder
	if spec := os.Getenv(starterEnv); spec != "" {
		os.Exit(runStarter(spec))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("runtime tests need root; skipping")
		return 0
	}
	dir, err := os.MkdirTemp("", "berth-test-rootfs-")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildRootfs(dir); err != nil {
		fmt.Println(err)
		return 1
	}
	testRootfs = dir
	return m.Run()
}

func buildRootfs(dir string) error {
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "ctrtool"), "./testdata/ctrtool")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building ctrtool: %v\n%s", err, out)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newTestRuntime returns a runtime under a fresh state dir and cgroup
// parent /berth-runtime-test-<random>, and removes every sandbox, container, cgroup
// and state dir at the end, even if the test failed.
func newTestRuntime(t testing.TB) (*Runtime, Config) {
	t.Helper()
	cfg := Config{
		Root:         filepath.Join(t.TempDir(), "state"),
		CgroupParent: "/berth-runtime-test-" + randomSuffix(),
		Logger:       slog.New(slog.DiscardHandler),
	}
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanupRuntime(t, cfg) })
	return r, cfg
}

// cleanupRuntime removes everything under cfg through a fresh runtime (so it
// also covers re-adoption) and checks nothing is left.
func cleanupRuntime(t testing.TB, cfg Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := New(ctx, cfg)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer r.Close()
	sbs, _ := r.Sandboxes(ctx)
	for _, sb := range sbs {
		if err := r.RemoveSandbox(ctx, sb.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	ctrs, _ := r.Containers(ctx)
	for _, c := range ctrs {
		if err := r.RemoveContainer(ctx, c.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	// The cgroup parent itself, in every hierarchy.
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	for _, h := range hierarchies {
		p := filepath.Join(h, cfg.CgroupParent)
		if entries, err := os.ReadDir(p); err == nil {
			for _, e := range entries {
				if e.IsDir() {
					t.Errorf("cleanup: cgroup %s/%s left behind", p, e.Name())
				}
			}
			if err := os.Remove(p); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	if left, _ := readDirNames(filepath.Join(cfg.Root, sandboxesDir)); len(left) > 0 {
		t.Errorf("cleanup: sandbox state left: %v", left)
	}
	if left, _ := readDirNames(filepath.Join(cfg.Root, libcontainerDir)); len(left) > 0 {
		t.Errorf("cleanup: libcontainer state left: %v", left)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), cfg.Root) {
		t.Errorf("cleanup: mounts left under %s", cfg.Root)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func runSandbox(t testing.TB, r *Runtime, spec runtime.SandboxSpec) runtime.Sandbox {
	t.Helper()
	if spec.Name == "" {
		spec.Name, spec.Namespace = "pod", "default"
	}
	sb, err := r.RunSandbox(testCtx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// ctrSpec is a spec running ctrtool with args in the test rootfs.
func ctrSpec(t testing.TB, args ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		Name:    "c",
		Rootfs:  testRootfs,
		Args:    append([]string{"/bin/ctrtool"}, args...),
		Env:     []string{"PATH=/bin"},
		LogPath: filepath.Join(t.TempDir(), "0.log"),
	}
}

// createStarted creates and starts a container.
func createStarted(t testing.TB, r *Runtime, sandboxID string, spec runtime.ContainerSpec) string {
	t.Helper()
	ctx := testCtx(t)
	id, err := r.CreateContainer(ctx, sandboxID, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// runToExit creates, starts and waits for a container.
func runToExit(t testing.TB, r *Runtime, sandboxID string, spec runtime.ContainerSpec) (string, runtime.ExitStatus) {
	t.Helper()
	id := createStarted(t, r, sandboxID, spec)
	st, err := r.WaitContainer(testCtx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return id, st
}

// logMessages reads a CRI log (after the container's streams closed) as
// "stream message" lines.
func logMessages(t testing.TB, r *Runtime, id, path string) []string {
	t.Helper()
	c, err := r.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	if c.logs != nil {
		c.logs.wait()
	}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Errorf("bad timestamp in %q", l)
		}
		out = append(out, f[1]+" "+f[3])
	}
	return out
}
