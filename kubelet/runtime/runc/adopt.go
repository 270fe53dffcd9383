package runc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/runc/libcontainer"

	"berth.dev/berth/kubelet/runtime"
)

// unknownExit is the status of a container that ended while no process of
// ours was its parent: the kernel gave its exit code to someone else. Like
// kubelet's ContainerStatusUnknown it counts as a failure.
func unknownExit() runtime.ExitStatus { return runtime.ExitStatus{Code: 255, Unknown: true} }

// adoptContainers loads the containers recorded under Root. Running ones are
// watched through a pidfd (they are no longer our children) and their logs
// copied again; ended ones report the exit recorded when it was seen, or an
// unknown exit.
func (r *Runtime) adoptContainers(ctx context.Context) error {
	ids, err := readDirNames(filepath.Join(r.cfg.Root, containersDir))
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	for _, id := range ids {
		if err := r.adoptContainer(ctx, id); err != nil {
			return fmt.Errorf("re-adopting container %s: %w", id, err)
		}
	}
	return nil
}

func (r *Runtime) adoptContainer(ctx context.Context, id string) error {
	dir := r.containerDir(id)
	var rec containerRecord
	if err := readJSON(filepath.Join(dir, "meta.json"), &rec); err != nil {
		// CreateContainer never finished: destroy whatever it made.
		r.log.WarnContext(ctx, "removing incomplete container", "container", id, "err", err)
		if lc, err := libcontainer.Load(filepath.Join(r.cfg.Root, libcontainerDir), id); err == nil {
			_ = lc.Destroy()
		}
		return os.RemoveAll(dir)
	}
	cg, err := manager.New(&cgroups.Cgroup{Path: rec.CgroupPath, Resources: &cgroups.Resources{}})
	if err != nil {
		return err
	}
	c := &container{rec: rec, cg: cg, exited: make(chan struct{})}
	if err := r.adoptRunning(ctx, c); err != nil {
		// Without libcontainer's state the container can only be reported
		// ended and removed (RemoveContainer kills what its cgroup holds).
		r.log.WarnContext(ctx, "container state unusable", "container", id, "err", err)
		c.lc = nil
		r.recordedExit(c)
	}
	return nil
}

// adoptRunning loads c's libcontainer state and, if its main process still
// runs, watches it and copies its logs; an ended c is registered with its
// recorded exit.
func (r *Runtime) adoptRunning(ctx context.Context, c *container) error {
	id := c.rec.ID
	lc, err := libcontainer.Load(filepath.Join(r.cfg.Root, libcontainerDir), id)
	if err != nil {
		return err
	}
	status, err := lc.Status()
	if err != nil {
		return err
	}
	st, err := lc.State()
	if err != nil {
		return err
	}
	var h *pidHandle
	if status != libcontainer.Stopped {
		h, err = openPID(st.InitProcessPid, st.InitProcessStartTime)
		if err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
	}
	c.lc = lc
	if h == nil {
		r.recordedExit(c)
		return nil
	}
	logs, err := r.copyLogs(r.containerDir(id), c.rec.Spec.LogPath)
	if err != nil {
		h.close()
		return err
	}
	c.logs = logs
	wctx, cancel := context.WithCancel(context.Background())
	c.stopWatch = cancel
	r.mu.Lock()
	r.containers[id] = c
	r.mu.Unlock()
	go func() {
		defer h.close()
		if err := h.wait(wctx); err != nil {
			return // detached
		}
		r.finish(c, unknownExit())
	}()
	r.log.InfoContext(ctx, "container re-adopted", "container", id, "pid", st.InitProcessPid, "status", status.String())
	return nil
}

// recordedExit registers an ended container with the exit recorded when it
// was seen, or an unknown one.
func (r *Runtime) recordedExit(c *container) {
	if err := readJSON(filepath.Join(r.containerDir(c.rec.ID), "exit.json"), &c.exit); err != nil {
		c.exit = unknownExit()
		if n, err := c.cg.OOMKillCount(); err == nil && n > 0 {
			c.exit.OOMKilled = true
		}
	}
	close(c.exited)
	r.mu.Lock()
	r.containers[c.rec.ID] = c
	r.mu.Unlock()
}

// detach stops watching c and copying its logs, leaving it running.
func (c *container) detach() {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	if c.logs != nil {
		c.logs.detach()
	}
}
