package runc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/runtime"
)

// starterEnv makes the test binary a "previous kubelet": it starts a
// sandbox and containers under the given config, prints their IDs and exits
// without stopping them.
const starterEnv = "BERTH_RUNTIME_TEST_STARTER"

type starterConfig struct {
	Config  Config
	Rootfs  string
	LogDir  string
	Exited  string // "exit 4", ended before the starter exits
	Running string // "sleep", runs on
	Late    string // "sleep", killed while nobody watches
	LatePID int
	Sandbox string
}

func runStarter(arg string) int {
	var sc starterConfig
	if err := json.Unmarshal([]byte(arg), &sc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	sc.Config.Logger = slog.New(slog.DiscardHandler)
	r, err := New(ctx, sc.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sb, err := r.RunSandbox(ctx, runtime.SandboxSpec{Name: "adopt", Namespace: "default", Hostname: "adopted"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sc.Sandbox = sb.ID
	start := func(name string, args ...string) (string, error) {
		spec := runtime.ContainerSpec{
			Name: name, Rootfs: sc.Rootfs, Args: append([]string{"/bin/ctrtool"}, args...),
			LogPath: filepath.Join(sc.LogDir, name+".log"),
		}
		id, err := r.CreateContainer(ctx, sb.ID, spec)
		if err == nil {
			err = r.StartContainer(ctx, id)
		}
		return id, err
	}
	if sc.Exited, err = start("exited", "exit", "4"); err == nil {
		_, err = r.WaitContainer(ctx, sc.Exited)
	}
	if err == nil {
		sc.Running, err = start("running", "sleep")
	}
	if err == nil {
		sc.Late, err = start("late", "sleep")
	}
	if err == nil {
		var late runtime.Container
		late, err = r.Container(ctx, sc.Late)
		sc.LatePID = late.PID
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Let both sleeps install their SIGTERM handler before we go.
	for _, name := range []string{"running.log", "late.log"} {
		for {
			if b, _ := os.ReadFile(filepath.Join(sc.LogDir, name)); len(b) > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	out, _ := json.Marshal(sc)
	os.Stdout.Write(out)
	return 0
}

func TestReadopt(t *testing.T) {
	_, cfg := newTestRuntime(t)
	cfg.Logger = nil // not marshalled
	sc := starterConfig{Config: cfg, Rootfs: testRootfs, LogDir: t.TempDir()}
	arg, _ := json.Marshal(sc)
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), starterEnv+"="+string(arg))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("starter: %v", err)
	}
	if err := json.Unmarshal(out, &sc); err != nil {
		t.Fatalf("starter output %q: %v", out, err)
	}

	// "late" ends while no process of ours runs.
	if err := unix.Kill(sc.LatePID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for ctx.Err() == nil {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", sc.LatePID)); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sb, err := r.Sandbox(ctx, sc.Sandbox)
	if err != nil || sb.State != runtime.SandboxReady {
		t.Fatalf("re-adopted sandbox = %+v, %v; want ready", sb, err)
	}

	exited, err := r.Container(ctx, sc.Exited)
	if err != nil || exited.State != runtime.ContainerExited || exited.Exit.Code != 4 || exited.Exit.Unknown {
		t.Errorf("container that exited before the restart = %+v, %v; want its recorded exit 4", exited, err)
	}

	running, err := r.Container(ctx, sc.Running)
	if err != nil || running.State != runtime.ContainerRunning || running.PID == 0 {
		t.Fatalf("running container = %+v, %v; want still running", running, err)
	}
	// Its log is copied again: SIGTERM makes it say so.
	if err := r.KillContainer(ctx, sc.Running, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st, err := r.WaitContainer(ctx, sc.Running)
	if err != nil || !st.Unknown {
		t.Errorf("exit of a re-adopted container = %+v, %v; want unknown (not our child)", st, err)
	}
	logPath := filepath.Join(sc.LogDir, "running.log")
	if got := logMessages(t, r, sc.Running, logPath); !slices.Contains(got, "stdout got SIGTERM") {
		t.Errorf("log after re-adoption = %q, want the SIGTERM line", got)
	}

	late, err := r.Container(ctx, sc.Late)
	if err != nil || late.State != runtime.ContainerExited || !late.Exit.Unknown {
		t.Errorf("exit of a container that ended unwatched = %+v, %v", late, err)
	}

	// Everything can be removed by the new process (checked by cleanup too).
	if err := r.RemoveSandbox(ctx, sc.Sandbox); err != nil {
		t.Fatal(err)
	}
	if ctrs, _ := r.Containers(ctx); len(ctrs) != 0 {
		t.Errorf("containers left after RemoveSandbox: %+v", ctrs)
	}
}

func TestReadoptBrokenState(t *testing.T) {
	r, cfg := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{})
	id := startContainer(t, r, sb.ID, ctrSpec(t, "sleep"))
	r.Close()
	if err := os.WriteFile(filepath.Join(cfg.Root, libcontainerDir, id, "state.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	r2, err := New(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("New with one broken container: %v", err)
	}
	defer r2.Close()
	got, err := r2.Container(testCtx(t), id)
	if err != nil || got.State != runtime.ContainerExited || !got.Exit.Unknown {
		t.Fatalf("broken container = %+v, %v; want exited, unknown", got, err)
	}
	// Remove still kills what its cgroup holds and removes every trace.
	if err := r2.RemoveContainer(testCtx(t), id); err != nil {
		t.Fatal(err)
	}
	// The first runtime is still the process's parent: it sees it killed.
	if st, err := r.WaitContainer(testCtx(t), id); err != nil || st.Signal != unix.SIGKILL {
		t.Errorf("the process was not killed: %+v, %v", st, err)
	}
}
