package runc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/runtime"
)

// The sandbox holder is this binary re-executed in pause mode (see Init), not
// a libcontainer container: it needs no rootfs, mounts or init handshake, so
// it starts in a few milliseconds, and as plain Go code it reaps orphans when
// it is the pod's PID 1. It lives in the pod cgroup's "pause" child.

// sandboxRecord is what sandbox.json keeps.
type sandboxRecord struct {
	ID        string
	Spec      runtime.SandboxSpec
	PID       int
	StartTime uint64
	CreatedAt time.Time
	// Stopped is set once the holder was stopped on purpose.
	Stopped bool
}

// sandbox is a sandbox this process knows.
type sandbox struct {
	rec sandboxRecord
	// reaped is closed once the holder was reaped, when it is our child.
	reaped chan struct{}
}

func (r *Runtime) sandboxDir(id string) string { return filepath.Join(r.cfg.Root, sandboxesDir, id) }
func (r *Runtime) podCgroup(id string) string  { return r.cfg.CgroupParent + "/pod-" + id }
func (r *Runtime) shmDir(id string) string     { return filepath.Join(r.sandboxDir(id), "shm") }

// RunSandbox starts the holder of a pod's network, IPC, UTS (and, for
// ShareProcessNamespace, PID) namespaces, with the hostname set and loopback
// up, and a /dev/shm tmpfs its containers share.
func (r *Runtime) RunSandbox(ctx context.Context, spec runtime.SandboxSpec) (_ runtime.Sandbox, retErr error) {
	if strings.ContainsRune(spec.Hostname, 0) || len(spec.Hostname) > 64 {
		return runtime.Sandbox{}, fmt.Errorf("running sandbox for pod %s/%s: %w: hostname %q", spec.Namespace, spec.Name, runtime.ErrInvalidSpec, spec.Hostname)
	}
	id := newID()
	fail := func(err error) (runtime.Sandbox, error) {
		return runtime.Sandbox{}, fmt.Errorf("running sandbox %s for pod %s/%s: %w", id, spec.Namespace, spec.Name, err)
	}
	dir := r.sandboxDir(id)
	if err := os.MkdirAll(r.shmDir(id), 0o700); err != nil {
		return fail(err)
	}
	defer func() {
		if retErr != nil {
			_ = r.cleanupSandbox(id)
		}
	}()
	if err := unix.Mount("shm", r.shmDir(id), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fail(fmt.Errorf("mounting /dev/shm tmpfs: %w", err))
	}

	flags := uintptr(unix.CLONE_NEWNET | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	hostname := spec.Hostname
	if spec.HostNetwork {
		flags, hostname = unix.CLONE_NEWIPC, ""
	}
	if spec.ShareProcessNamespace {
		flags |= unix.CLONE_NEWPID
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer ready.Close()
	cmd := exec.Command("/proc/self/exe", pauseArg, hostname)
	cmd.Args[0] = os.Args[0]
	cmd.Env = []string{pauseEnv + "=" + hostname} // see pause_linux.go
	cmd.Stdout = readyW
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: flags, Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return fail(fmt.Errorf("starting sandbox holder: %w", err))
	}
	reaped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(reaped) }()
	killHolder := func() { _ = cmd.Process.Kill(); <-reaped }

	cg, err := r.pauseCgroup(id)
	if err == nil {
		err = cg.Apply(cmd.Process.Pid)
	}
	if err != nil {
		killHolder()
		return fail(fmt.Errorf("placing sandbox holder in its cgroup: %w", err))
	}
	msg, err := readReady(ctx, ready)
	if err != nil || msg != "ok" {
		killHolder()
		if err == nil {
			err = fmt.Errorf("sandbox holder: %s", msg)
		}
		return fail(err)
	}
	start, err := procStartTime(cmd.Process.Pid)
	if err != nil {
		killHolder()
		return fail(err)
	}
	rec := sandboxRecord{ID: id, Spec: spec, PID: cmd.Process.Pid, StartTime: start, CreatedAt: time.Now()}
	if err := writeJSON(filepath.Join(dir, "sandbox.json"), rec); err != nil {
		killHolder()
		return fail(err)
	}
	r.mu.Lock()
	r.sandboxes[id] = &sandbox{rec: rec, reaped: reaped}
	r.mu.Unlock()
	r.log.InfoContext(ctx, "sandbox started", "sandbox", id, "pod", spec.Namespace+"/"+spec.Name, "pid", rec.PID)
	return sandboxView(rec), nil
}

// readReady reads the holder's report: "ok" or its error.
func readReady(ctx context.Context, f *os.File) (string, error) {
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("waiting for sandbox holder: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

func (r *Runtime) pauseCgroup(id string) (cgroups.Manager, error) {
	return manager.New(&cgroups.Cgroup{Path: r.podCgroup(id) + "/pause", Resources: &cgroups.Resources{}})
}

// sandboxView is the public view of a record; the holder is checked alive.
func sandboxView(rec sandboxRecord) runtime.Sandbox {
	sb := runtime.Sandbox{ID: rec.ID, Spec: rec.Spec, State: runtime.SandboxNotReady, CreatedAt: rec.CreatedAt}
	if !rec.Stopped {
		if st, err := procStartTime(rec.PID); err == nil && st == rec.StartTime {
			sb.State = runtime.SandboxReady
			sb.PID = rec.PID
			sb.NetNSPath = "/proc/" + strconv.Itoa(rec.PID) + "/ns/net"
		}
	}
	return sb
}

func (r *Runtime) lookupSandbox(id string) (*sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[id]
	if !ok {
		return nil, fmt.Errorf("sandbox %s: %w", id, runtime.ErrNotFound)
	}
	return sb, nil
}

// Sandbox returns the current view of sandbox id.
func (r *Runtime) Sandbox(ctx context.Context, id string) (runtime.Sandbox, error) {
	sb, err := r.lookupSandbox(id)
	if err != nil {
		return runtime.Sandbox{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return sandboxView(sb.rec), nil
}

// Sandboxes lists every sandbox.
func (r *Runtime) Sandboxes(ctx context.Context) ([]runtime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]runtime.Sandbox, 0, len(r.sandboxes))
	for _, sb := range r.sandboxes {
		out = append(out, sandboxView(sb.rec))
	}
	return out, nil
}

// StopSandbox kills the sandbox's holder (its namespaces go with it once no
// container uses them) and waits for it to end.
func (r *Runtime) StopSandbox(ctx context.Context, id string) error {
	sb, err := r.lookupSandbox(id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	rec := sb.rec
	r.mu.Unlock()
	if err := stopHolder(ctx, rec, sb.reaped); err != nil {
		return fmt.Errorf("stopping sandbox %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sb.rec.Stopped = true
	if err := writeJSON(filepath.Join(r.sandboxDir(id), "sandbox.json"), sb.rec); err != nil {
		return fmt.Errorf("stopping sandbox %s: %w", id, err)
	}
	return nil
}

// stopHolder SIGKILLs the holder if it still runs and waits until it has
// ended (and was reaped, when it is our child).
func stopHolder(ctx context.Context, rec sandboxRecord, reaped chan struct{}) error {
	h, err := openPID(rec.PID, rec.StartTime)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	if err != nil {
		return err
	}
	defer h.close()
	if err := h.signal(unix.SIGKILL); err != nil {
		return err
	}
	if err := h.wait(ctx); err != nil {
		return err
	}
	if reaped != nil {
		select {
		case <-reaped:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// RemoveSandbox removes the sandbox's containers, stops it, and removes its
// /dev/shm mount, cgroups and state.
func (r *Runtime) RemoveSandbox(ctx context.Context, id string) error {
	if _, err := r.lookupSandbox(id); err != nil {
		return err
	}
	ctrs, err := r.Containers(ctx)
	if err != nil {
		return err
	}
	for _, c := range ctrs {
		if c.SandboxID == id {
			if err := r.RemoveContainer(ctx, c.ID); err != nil {
				return fmt.Errorf("removing sandbox %s: %w", id, err)
			}
		}
	}
	if err := r.StopSandbox(ctx, id); err != nil {
		return err
	}
	if err := r.cleanupSandbox(id); err != nil {
		return fmt.Errorf("removing sandbox %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.sandboxes, id)
	r.mu.Unlock()
	r.log.InfoContext(ctx, "sandbox removed", "sandbox", id)
	return nil
}

// cleanupSandbox removes what RunSandbox made once the holder is gone.
func (r *Runtime) cleanupSandbox(id string) error {
	var errs []error
	if err := unix.Unmount(r.shmDir(id), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmounting /dev/shm: %w", err))
	}
	if cg, err := r.pauseCgroup(id); err != nil {
		errs = append(errs, err)
	} else if err := destroyCgroup(cg); err != nil {
		// (A holder is left in it only by a RunSandbox that never finished.)
		errs = append(errs, fmt.Errorf("removing holder cgroup: %w", err))
	}
	if pod, err := manager.New(&cgroups.Cgroup{Path: r.podCgroup(id), Resources: &cgroups.Resources{}}); err != nil {
		errs = append(errs, err)
	} else if err := pod.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("removing pod cgroup: %w", err))
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(r.sandboxDir(id)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// adoptSandboxes loads the sandboxes recorded under Root.
func (r *Runtime) adoptSandboxes(ctx context.Context) error {
	ids, err := readDirNames(filepath.Join(r.cfg.Root, sandboxesDir))
	if err != nil {
		return fmt.Errorf("listing sandboxes: %w", err)
	}
	for _, id := range ids {
		var rec sandboxRecord
		if err := readJSON(filepath.Join(r.sandboxDir(id), "sandbox.json"), &rec); err != nil {
			// A sandbox whose RunSandbox never finished: nothing runs.
			r.log.WarnContext(ctx, "removing incomplete sandbox", "sandbox", id, "err", err)
			if err := r.cleanupSandbox(id); err != nil {
				return fmt.Errorf("removing incomplete sandbox %s: %w", id, err)
			}
			continue
		}
		r.sandboxes[id] = &sandbox{rec: rec}
	}
	return nil
}
