package runc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/runtime"
)

// startContainer creates and starts a container and waits for its first
// log line (so that signal handlers are installed).
func startContainer(t testing.TB, r *Runtime, sandboxID string, spec runtime.ContainerSpec) string {
	t.Helper()
	id := createStarted(t, r, sandboxID, spec)
	for ctx := testCtx(t); ctx.Err() == nil; {
		if b, _ := os.ReadFile(spec.LogPath); len(b) > 0 {
			return id
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("container %s wrote nothing", id)
	return ""
}

func TestStop(t *testing.T) {
	r, _ := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	tests := []struct {
		name     string
		args     []string
		grace    time.Duration
		wantCode int
		wantSig  syscall.Signal
	}{
		{name: "SIGTERM handled", args: []string{"sleep"}, grace: 10 * time.Second, wantCode: 0},
		{name: "SIGTERM ignored then SIGKILL", args: []string{"sleep", "ignore-term"}, grace: 200 * time.Millisecond, wantCode: 137, wantSig: unix.SIGKILL},
		{name: "no grace", args: []string{"sleep"}, grace: 0, wantCode: 137, wantSig: unix.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := startContainer(t, r, sb.ID, ctrSpec(t, tt.args...))
			c, err := r.Container(testCtx(t), id)
			if err != nil || c.State != runtime.ContainerRunning || c.PID == 0 {
				t.Fatalf("Container = %+v, %v; want running with a pid", c, err)
			}
			if err := r.StopContainer(testCtx(t), id, tt.grace); err != nil {
				t.Fatal(err)
			}
			c, err = r.Container(testCtx(t), id)
			if err != nil || c.State != runtime.ContainerExited || c.Exit.Code != tt.wantCode || c.Exit.Signal != tt.wantSig {
				t.Errorf("Container = %+v (exit %+v), %v; want exited with %d/%v", c, c.Exit, err, tt.wantCode, tt.wantSig)
			}
			if err := r.RemoveContainer(testCtx(t), id); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Container(testCtx(t), id); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("Container after remove: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestKillAndRemoveRunning(t *testing.T) {
	r, _ := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	id := startContainer(t, r, sb.ID, ctrSpec(t, "sleep", "ignore-term"))
	if err := r.KillContainer(testCtx(t), id, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st, err := r.WaitContainer(testCtx(t), id)
	if err != nil || st.Signal != unix.SIGKILL || st.Code != 137 || st.OOMKilled {
		t.Fatalf("WaitContainer = %+v, %v; want killed by SIGKILL", st, err)
	}
	if err := r.KillContainer(testCtx(t), id, unix.SIGKILL); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("KillContainer of an exited container: %v, want ErrNotRunning", err)
	}
	// A running container is killed by Remove; so is a created one.
	running := startContainer(t, r, sb.ID, ctrSpec(t, "sleep"))
	created, err := r.CreateContainer(testCtx(t), sb.ID, ctrSpec(t, "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := r.Container(testCtx(t), created); c.State != runtime.ContainerCreated {
		t.Errorf("state after create = %s, want Created", c.State)
	}
	for _, id := range []string{running, created} {
		if err := r.RemoveContainer(testCtx(t), id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInvalidSpecChangesNothing(t *testing.T) {
	r, cfg := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	tests := []struct {
		name   string
		mutate func(*runtime.ContainerSpec)
	}{
		{"no command", func(s *runtime.ContainerSpec) { s.Args = nil }},
		{"relative rootfs", func(s *runtime.ContainerSpec) { s.Rootfs = "rootfs" }},
		{"missing rootfs", func(s *runtime.ContainerSpec) { s.Rootfs = "/nonexistent-berth-rootfs" }},
		{"unknown capability", func(s *runtime.ContainerSpec) { s.Capabilities.Add = []string{"CAP_FLY"} }},
		{"relative mount", func(s *runtime.ContainerSpec) { s.Mounts = []runtime.Mount{{Source: "data", Destination: "/data"}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := ctrSpec(t, "true")
			tt.mutate(&spec)
			_, err := r.CreateContainer(testCtx(t), sb.ID, spec)
			if !errors.Is(err, runtime.ErrInvalidSpec) {
				t.Errorf("CreateContainer: %v, want ErrInvalidSpec", err)
			}
			if left, _ := readDirNames(filepath.Join(cfg.Root, containersDir)); len(left) > 0 {
				t.Errorf("state left behind: %v", left)
			}
		})
	}
	if _, err := r.CreateContainer(testCtx(t), "nosuchsandbox", ctrSpec(t, "true")); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("CreateContainer in a missing sandbox: %v, want ErrNotFound", err)
	}
}

func TestMountsAndShm(t *testing.T) {
	r, _ := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "hosts"), []byte("10.0.0.7 web-0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := func(args ...string) runtime.ContainerSpec {
		s := ctrSpec(t, args...)
		s.Mounts = []runtime.Mount{
			{Source: vol, Destination: "/data"},
			{Source: filepath.Join(vol, "hosts"), Destination: "/etc/hosts", ReadOnly: true},
		}
		return s
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantLog  string
	}{
		{"read a file bind", []string{"read", "/etc/hosts"}, 0, "stdout 10.0.0.7 web-0"},
		{"read-only bind", []string{"write", "/etc/hosts"}, 1, "stdout write error: open /etc/hosts: read-only file system"},
		{"write a volume", []string{"write", "/data/out"}, 0, ""},
		{"write /dev/shm", []string{"write", "/dev/shm/seg"}, 0, ""},
		{"read /dev/shm from another container", []string{"read", "/dev/shm/seg"}, 0, "stdout x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(tt.args...)
			id, st := runToExit(t, r, sb.ID, s)
			if st.Code != tt.wantCode {
				t.Errorf("exit = %+v, want %d", st, tt.wantCode)
			}
			if got := logMessages(t, r, id, s.LogPath); tt.wantLog != "" && !slices.Contains(got, tt.wantLog) {
				t.Errorf("log = %q, want %q", got, tt.wantLog)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(vol, "out")); err != nil {
		t.Errorf("volume write not seen on the host: %v", err)
	}
}

func TestCgroupLimits(t *testing.T) {
	r, cfg := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	s := ctrSpec(t, "sleep")
	s.Resources = runtime.Resources{CPURequestMilli: 250, CPULimitMilli: 500, MemoryLimitBytes: 64 << 20, PidsLimit: 100}
	id := startContainer(t, r, sb.ID, s)
	path := cfg.CgroupParent + "/pod-" + sb.ID + "/" + id
	want := map[string]string{ // cgroup v1 controllers
		"cpu/cpu.shares":               "256",
		"cpu/cpu.cfs_quota_us":         "50000",
		"cpu/cpu.cfs_period_us":        "100000",
		"memory/memory.limit_in_bytes": strconv.Itoa(64 << 20),
		"pids/pids.max":                "100",
	}
	if cgroups.IsCgroup2UnifiedMode() {
		want = map[string]string{
			"cpu.weight": "10", // 256 shares
			"cpu.max":    "50000 100000",
			"memory.max": strconv.Itoa(64 << 20),
			"pids.max":   "100",
		}
	}
	for file, v := range want {
		dir, name := filepath.Split(file)
		p := filepath.Join("/sys/fs/cgroup", dir, path, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
			continue
		}
		if got := strings.TrimSpace(string(b)); got != v {
			t.Errorf("%s = %q, want %q", p, got, v)
		}
	}
	if err := r.StopContainer(testCtx(t), id, 0); err != nil {
		t.Fatal(err)
	}
}

func TestOOMKilled(t *testing.T) {
	r, _ := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	s := ctrSpec(t, "alloc", "256")
	s.Resources.MemoryLimitBytes = 32 << 20
	_, st := runToExit(t, r, sb.ID, s)
	if !st.OOMKilled || st.Signal != unix.SIGKILL || st.Code != 137 {
		t.Errorf("exit = %+v, want OOMKilled by SIGKILL", st)
	}
	_, st = runToExit(t, r, sb.ID, ctrSpec(t, "alloc", "8"))
	if st.OOMKilled || st.Code != 0 {
		t.Errorf("exit without limit = %+v, want 0", st)
	}
}

func TestSandboxNamespaces(t *testing.T) {
	r, _ := newTestRuntime(t)
	for _, share := range []bool{false, true} {
		t.Run("sharePID="+strconv.FormatBool(share), func(t *testing.T) {
			sb := runSandbox(t, r, runtime.SandboxSpec{Hostname: "pod-host", ShareProcessNamespace: share})
			if sb.State != runtime.SandboxReady || sb.PID == 0 {
				t.Fatalf("sandbox = %+v, want ready", sb)
			}
			host, _ := os.Readlink("/proc/self/ns/net")
			pod, err := os.Readlink(sb.NetNSPath)
			if err != nil || pod == host {
				t.Errorf("netns %s = %q (%v), host %q: want a namespace of its own", sb.NetNSPath, pod, err, host)
			}
			s := ctrSpec(t, "info")
			id, _ := runToExit(t, r, sb.ID, s)
			got := logMessages(t, r, id, s.LogPath)
			if !slices.Contains(got, "stdout hostname=pod-host") {
				t.Errorf("log lacks the hostname: %q", got)
			}
			// With a shared PID namespace the holder is PID 1.
			if isInit := slices.Contains(got, "stdout pid=1"); isInit == share {
				t.Errorf("container is PID 1: %v, want %v", isInit, !share)
			}
			// A container's netns is the sandbox's.
			id = startContainer(t, r, sb.ID, ctrSpec(t, "sleep"))
			c, _ := r.Container(testCtx(t), id)
			if ns, _ := os.Readlink("/proc/" + strconv.Itoa(c.PID) + "/ns/net"); ns != pod {
				t.Errorf("container netns %q, want the sandbox's %q", ns, pod)
			}
			if err := r.RemoveSandbox(testCtx(t), sb.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(sb.PID)); err == nil {
				if st, _ := procStartTime(sb.PID); st != 0 {
					// The pid may have been reused; the sandbox must be gone from the list.
					t.Logf("pid %d exists again", sb.PID)
				}
			}
			if _, err := r.Sandbox(testCtx(t), sb.ID); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("Sandbox after remove: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestLogRotation(t *testing.T) {
	r, cfg := newTestRuntime(t)
	r.Close()
	cfg.LogMaxBytes, cfg.LogMaxFiles = 64<<10, 3
	r, err := New(testCtx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	s := ctrSpec(t, "spam", "5000") // ~650 KB of records
	id, st := runToExit(t, r, sb.ID, s)
	if st.Code != 0 {
		t.Fatalf("exit = %+v", st)
	}
	logMessages(t, r, id, s.LogPath)
	var total int
	for _, p := range []string{s.LogPath, s.LogPath + ".1", s.LogPath + ".2"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 64<<10 {
			t.Errorf("%s is %d bytes, over the limit", p, len(b))
		}
		total += bytes.Count(b, []byte("\n"))
	}
	if _, err := os.Stat(s.LogPath + ".3"); err == nil {
		t.Errorf("more than LogMaxFiles files")
	}
	if total == 0 || total >= 5000 {
		t.Errorf("%d records kept, want the newest only", total)
	}
}

// sizes is a Resize channel that yields the given sizes.
func sizes(s ...runtime.TerminalSize) <-chan runtime.TerminalSize {
	ch := make(chan runtime.TerminalSize, len(s))
	for _, sz := range s {
		ch <- sz
	}
	return ch
}

func TestExec(t *testing.T) {
	r, _ := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{Hostname: "exec-host"})
	id := startContainer(t, r, sb.ID, ctrSpec(t, "sleep"))
	// A caller's stdin that never ends must not hold Exec.
	openStdin, stdinW := io.Pipe()
	defer stdinW.Close()
	tests := []struct {
		name     string
		spec     runtime.ExecSpec
		wantCode int
		wantOut  string
	}{
		{"stdin to stdout", runtime.ExecSpec{Args: []string{"/bin/ctrtool", "cat"}, Stdin: strings.NewReader("ping\n")}, 0, "ping\n"},
		{"exit code", runtime.ExecSpec{Args: []string{"/bin/ctrtool", "exit", "7"}}, 7, ""},
		{"stdin left open", runtime.ExecSpec{Args: []string{"/bin/ctrtool", "echo", "done"}, Stdin: openStdin}, 0, "done"},
		{"user and namespaces", runtime.ExecSpec{Args: []string{"/bin/ctrtool", "info"}, User: &runtime.User{UID: 33, GID: 33}}, 0, "uid=33"},
		{"tty", runtime.ExecSpec{Args: []string{"/bin/ctrtool", "echo", "on a tty"}, TTY: true}, 0, "on a tty\r\n"},
		{"tty size", runtime.ExecSpec{Args: []string{"/bin/ctrtool", "winsize"}, TTY: true, Resize: sizes(runtime.TerminalSize{Width: 120, Height: 40})}, 0, "120x40"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.spec.Stdout, tt.spec.Stderr = &out, &out
			code, err := r.Exec(testCtx(t), id, tt.spec)
			if err != nil || code != tt.wantCode {
				t.Fatalf("Exec = %d, %v; want %d", code, err, tt.wantCode)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output %q lacks %q", out.String(), tt.wantOut)
			}
		})
	}
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
		defer cancel()
		_, err := r.Exec(ctx, id, runtime.ExecSpec{Args: []string{"/bin/ctrtool", "wait", "1h"}})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Exec = %v, want DeadlineExceeded", err)
		}
	})
	if err := r.StopContainer(testCtx(t), id, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Exec(testCtx(t), id, runtime.ExecSpec{Args: []string{"/bin/ctrtool", "true"}}); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("Exec in a stopped container: %v, want ErrNotRunning", err)
	}
}
