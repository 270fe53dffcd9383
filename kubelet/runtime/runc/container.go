package runc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"berth.dev/berth/kubelet/runtime"
)

// containerRecord is what meta.json keeps.
type containerRecord struct {
	ID         string
	SandboxID  string
	Spec       runtime.ContainerSpec
	CgroupPath string
	CreatedAt  time.Time
	StartedAt  time.Time
}

// container is a container this process knows. lc is nil when libcontainer's
// state is gone or unusable: the container can then only be removed.
type container struct {
	rec  containerRecord
	lc   *libcontainer.Container
	cg   cgroups.Manager
	logs *logCopier
	// exited is closed once exit holds how the main process ended.
	exited chan struct{}
	exit   runtime.ExitStatus
	// stopWatch ends the exit watcher of an adopted container.
	stopWatch context.CancelFunc
}

func (r *Runtime) containerDir(id string) string {
	return filepath.Join(r.cfg.Root, containersDir, id)
}

func (r *Runtime) lookup(id string) (*container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

func validateContainer(spec runtime.ContainerSpec) error {
	switch {
	case len(spec.Args) == 0:
		return errors.New("no command")
	case !filepath.IsAbs(spec.Rootfs):
		return fmt.Errorf("rootfs %q is not an absolute path", spec.Rootfs)
	case !filepath.IsAbs(spec.LogPath):
		return fmt.Errorf("log path %q is not an absolute path", spec.LogPath)
	case spec.WorkingDir != "" && !filepath.IsAbs(spec.WorkingDir):
		return fmt.Errorf("working dir %q is not an absolute path", spec.WorkingDir)
	}
	if st, err := os.Stat(spec.Rootfs); err != nil || !st.IsDir() {
		return fmt.Errorf("rootfs %q is not a directory", spec.Rootfs)
	}
	return nil
}

// CreateContainer sets up a container in sandbox sandboxID: libcontainer's
// init runs in the container's namespaces and cgroup, mounts done, and waits
// for StartContainer. Its output goes to spec.LogPath from now on.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, spec runtime.ContainerSpec) (_ string, retErr error) {
	id := newID()
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("creating container %q (%s) in sandbox %s: %w", spec.Name, id, sandboxID, err)
	}
	if err := validateContainer(spec); err != nil {
		return fail(fmt.Errorf("%w: %w", runtime.ErrInvalidSpec, err))
	}
	sb, err := r.Sandbox(ctx, sandboxID)
	if err != nil {
		return fail(err)
	}
	if sb.State != runtime.SandboxReady {
		return fail(fmt.Errorf("sandbox: %w", runtime.ErrNotRunning))
	}
	rec := containerRecord{
		ID: id, SandboxID: sandboxID, Spec: spec,
		CgroupPath: r.podCgroup(sandboxID) + "/" + id,
		CreatedAt:  time.Now(),
	}
	cfg, err := containerConfig(spec, containerEnv{
		id: id, cgroupPath: rec.CgroupPath, sandboxPID: sb.PID,
		sharePID: sb.Spec.ShareProcessNamespace, shmDir: r.shmDir(sandboxID),
	})
	if err != nil {
		return fail(err)
	}
	cg, err := manager.New(cfg.Cgroups)
	if err != nil {
		return fail(err)
	}
	proc, err := newProcess(spec.Args, spec.Env, spec.WorkingDir, spec.User)
	if err != nil {
		return fail(err)
	}
	proc.Init = true
	dir := r.containerDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	defer func() {
		if retErr != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := writeJSON(filepath.Join(dir, "meta.json"), rec); err != nil {
		return fail(err)
	}
	logs, stdout, stderr, err := r.startLogs(dir, spec.LogPath)
	if err != nil {
		return fail(err)
	}
	proc.Stdout, proc.Stderr = stdout, stderr
	lc, err := libcontainer.Create(filepath.Join(r.cfg.Root, libcontainerDir), id, cfg)
	if err != nil {
		stdout.Close()
		stderr.Close()
		logs.wait()
		return fail(err)
	}
	err = lc.Start(proc)
	// The container holds its own ends now; ours would keep the log
	// copiers from ever seeing EOF.
	stdout.Close()
	stderr.Close()
	if err != nil {
		_ = lc.Destroy()
		logs.wait()
		return fail(err)
	}
	c := &container{rec: rec, lc: lc, cg: cg, logs: logs, exited: make(chan struct{})}
	go r.reap(c, proc)
	r.mu.Lock()
	r.containers[id] = c
	r.mu.Unlock()
	r.log.InfoContext(ctx, "container created", "container", id, "name", spec.Name, "sandbox", sandboxID)
	return id, nil
}

// StartContainer lets a created container's main process run.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	if c.lc == nil {
		return fmt.Errorf("starting container %s: %w", id, runtime.ErrNotRunning)
	}
	if err := c.lc.Exec(); err != nil {
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	r.mu.Lock()
	c.rec.StartedAt = time.Now()
	rec := c.rec
	r.mu.Unlock()
	if err := writeJSON(filepath.Join(r.containerDir(id), "meta.json"), rec); err != nil {
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	return nil
}

// WaitContainer blocks until container id has exited.
func (r *Runtime) WaitContainer(ctx context.Context, id string) (runtime.ExitStatus, error) {
	c, err := r.lookup(id)
	if err != nil {
		return runtime.ExitStatus{}, err
	}
	select {
	case <-c.exited:
		return c.exit, nil
	case <-ctx.Done():
		return runtime.ExitStatus{}, fmt.Errorf("waiting for container %s: %w", id, ctx.Err())
	}
}

// KillContainer sends sig to the container's main process; SIGKILL goes to
// every process of the container when it shares the pod's PID namespace.
func (r *Runtime) KillContainer(ctx context.Context, id string, sig syscall.Signal) error {
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	select {
	case <-c.exited:
		return fmt.Errorf("signalling container %s: %w", id, runtime.ErrNotRunning)
	default:
	}
	if err := c.lc.Signal(sig); err != nil {
		if errors.Is(err, libcontainer.ErrNotRunning) {
			return fmt.Errorf("signalling container %s: %w", id, runtime.ErrNotRunning)
		}
		return fmt.Errorf("signalling container %s: %w", id, err)
	}
	return nil
}

// StopContainer sends SIGTERM, then SIGKILL once grace has passed, and
// returns when the container has exited.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	if grace > 0 {
		if err := r.KillContainer(ctx, id, unix.SIGTERM); err != nil {
			if !errors.Is(err, runtime.ErrNotRunning) {
				return err
			}
			select {
			case <-c.exited:
				return nil
			default: // see below: libcontainer lost track of the process
				signalAll(c.cg, unix.SIGTERM)
			}
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-c.exited:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("stopping container %s: %w", id, ctx.Err())
		}
	}
	if err := r.KillContainer(ctx, id, unix.SIGKILL); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
		return err
	}
	// libcontainer refuses to signal a process it cannot prove is the
	// container's init (it then says "not running"); the container's cgroup
	// holds its processes and nothing else, so a process still alive after
	// SIGKILL is killed through it.
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-c.exited:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stopping container %s: %w", id, ctx.Err())
		case <-retry.C:
			r.log.WarnContext(ctx, "container survived SIGKILL, killing its cgroup's processes", "container", id)
			signalAll(c.cg, unix.SIGKILL)
		}
	}
}

// RemoveContainer kills container id if needed and removes its cgroup,
// libcontainer state and our records. The log file stays.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	c, err := r.lookup(id)
	if err != nil {
		return err
	}
	if err := r.StopContainer(ctx, id, 0); err != nil {
		return err
	}
	if c.lc != nil {
		if err := c.lc.Destroy(); err != nil {
			return fmt.Errorf("removing container %s: %w", id, err)
		}
	} else {
		if err := destroyCgroup(c.cg); err != nil {
			return fmt.Errorf("removing container %s: %w", id, err)
		}
		if err := os.RemoveAll(filepath.Join(r.cfg.Root, libcontainerDir, id)); err != nil {
			return fmt.Errorf("removing container %s: %w", id, err)
		}
	}
	if c.logs != nil {
		c.logs.wait()
	}
	if err := os.RemoveAll(r.containerDir(id)); err != nil {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.containers, id)
	r.mu.Unlock()
	r.log.InfoContext(ctx, "container removed", "container", id)
	return nil
}

// Container returns the current view of container id.
func (r *Runtime) Container(ctx context.Context, id string) (runtime.Container, error) {
	c, err := r.lookup(id)
	if err != nil {
		return runtime.Container{}, err
	}
	return r.view(c), nil
}

// Containers lists every container.
func (r *Runtime) Containers(ctx context.Context) ([]runtime.Container, error) {
	r.mu.Lock()
	ctrs := make([]*container, 0, len(r.containers))
	for _, c := range r.containers {
		ctrs = append(ctrs, c)
	}
	r.mu.Unlock()
	out := make([]runtime.Container, 0, len(ctrs))
	for _, c := range ctrs {
		out = append(out, r.view(c))
	}
	return out, nil
}

func (r *Runtime) view(c *container) runtime.Container {
	r.mu.Lock()
	rec := c.rec
	r.mu.Unlock()
	v := runtime.Container{
		ID: rec.ID, SandboxID: rec.SandboxID, Spec: rec.Spec,
		CreatedAt: rec.CreatedAt, StartedAt: rec.StartedAt,
	}
	select {
	case <-c.exited:
		v.State = runtime.ContainerExited
		exit := c.exit
		v.Exit = &exit
		return v
	default:
	}
	v.State = runtime.ContainerCreated
	if !rec.StartedAt.IsZero() {
		v.State = runtime.ContainerRunning
	}
	if st, err := c.lc.State(); err == nil {
		v.PID = st.InitProcessPid
	}
	return v
}

// reap waits for the main process of a container this process started and
// records how it ended.
func (r *Runtime) reap(c *container, proc *libcontainer.Process) {
	ps, err := proc.Wait()
	var ee *exec.ExitError
	if ps == nil && errors.As(err, &ee) {
		ps = ee.ProcessState
	}
	exit := unknownExit()
	if ps != nil {
		exit = exitFromWaitStatus(ps.Sys().(syscall.WaitStatus))
	}
	r.finish(c, exit)
}

func exitFromWaitStatus(ws syscall.WaitStatus) runtime.ExitStatus {
	if ws.Signaled() {
		return runtime.ExitStatus{Code: 128 + int(ws.Signal()), Signal: ws.Signal()}
	}
	return runtime.ExitStatus{Code: ws.ExitStatus()}
}

// finish completes exit with the OOM kill count and the time, keeps it in
// exit.json for a later process, and wakes the waiters.
func (r *Runtime) finish(c *container, exit runtime.ExitStatus) {
	exit.FinishedAt = time.Now()
	if n, err := c.cg.OOMKillCount(); err == nil && n > 0 {
		exit.OOMKilled = true
	}
	if err := writeJSON(filepath.Join(r.containerDir(c.rec.ID), "exit.json"), exit); err != nil {
		r.log.Warn("recording container exit", "container", c.rec.ID, "err", err)
	}
	c.exit = exit
	close(c.exited)
}

// destroyCgroup kills whatever runs in cg and removes it, for a container
// whose libcontainer state is gone.
func destroyCgroup(cg cgroups.Manager) error {
	signalAll(cg, unix.SIGKILL)
	return cg.Destroy()
}

// signalAll sends sig to every process in cg.
func signalAll(cg cgroups.Manager, sig unix.Signal) {
	if pids, err := cg.GetAllPids(); err == nil {
		for _, pid := range pids {
			_ = unix.Kill(pid, sig)
		}
	}
}
