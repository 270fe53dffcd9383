package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"berth.dev/berth/kubelet/envvars"
	"berth.dev/berth/kubelet/runtime"
	"berth.dev/berth/kubelet/volume"
)

// startContainer creates and starts the next attempt of c. A failure before
// the process runs leaves the container waiting with upstream's reason; it
// returns when to try again.
func (k *Kubelet) startContainer(ctx context.Context, w *worker, pod *corev1.Pod, c *corev1.Container, paths volume.Paths, init bool) time.Duration {
	cs := w.state.container(c.Name)
	img, waiting, retry := k.images.ensure(ctx, pod, c)
	if waiting != nil {
		cs.waiting = waiting
		return retry
	}
	fail := func(reason string, err error) time.Duration {
		cs.waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}
		k.containerEvent(pod, c.Name, corev1.EventTypeWarning, reasonFailed, "Error: %v", err)
		return 5 * time.Second
	}
	env, err := k.cfg.Env.Env(ctx, envvars.Input{
		Pod: pod, Container: c,
		PodIPs: k.podIPs(pod, &w.state), HostIPs: k.cfg.HostIPs,
		NodeAllocatable: k.cfg.NodeAllocatable,
	})
	if err != nil {
		return fail(reasonCreateConfigError, err)
	}
	attempt := cs.nextAttempt()
	rootfsKey := rootfsID(pod.UID, c.Name, attempt)
	rootfs, err := k.cfg.Images.CreateRootfs(ctx, rootfsKey, img)
	if err != nil {
		return fail(reasonCreateContainerError, fmt.Errorf("preparing root filesystem: %w", err))
	}
	spec, err := k.containerSpec(pod, c, img, env, paths, rootfs.Path, attempt)
	if err != nil {
		_ = k.cfg.Images.RemoveRootfs(ctx, rootfsKey)
		return fail(reasonCreateConfigError, err)
	}
	spec.Labels[labelRootfs] = rootfsKey
	spec.Labels[labelImageID] = img.ID().String()
	spec.Labels[labelImageRef] = img.RepoDigest()
	if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o755); err != nil {
		return fail(reasonCreateContainerError, err)
	}
	id, err := k.cfg.Runtime.CreateContainer(ctx, w.state.sandbox.ID, spec)
	if err != nil {
		_ = k.cfg.Images.RemoveRootfs(ctx, rootfsKey)
		return fail(reasonCreateContainerError, err)
	}
	k.containerEvent(pod, c.Name, corev1.EventTypeNormal, reasonCreated, "Created container: %s", c.Name)

	// Only two attempts are kept: the one starting and the one before.
	if cs.previous != nil {
		if err := k.removeContainer(ctx, cs.previous); err != nil {
			k.log.Warn("removing old container", "pod", klogRef(pod), "container", c.Name, "err", err)
		}
	}
	created, err := k.cfg.Runtime.Container(ctx, id)
	if err != nil {
		return fail(reasonCreateContainerError, err)
	}
	cs.previous, cs.current, cs.waiting = cs.current, &created, nil
	cs.created = attempt + 1

	if err := k.cfg.Runtime.StartContainer(ctx, id); err != nil {
		k.containerEvent(pod, c.Name, corev1.EventTypeWarning, reasonFailed, "Error: %v", err)
		cs.messages[id] = err.Error()
		if v, verr := k.cfg.Runtime.Container(ctx, id); verr == nil {
			cs.current = &v
		}
		return time.Second
	}
	k.watchExit(ctx, pod.UID, id)
	k.containerEvent(pod, c.Name, corev1.EventTypeNormal, reasonStarted, "Started container %s", c.Name)
	if v, err := k.cfg.Runtime.Container(ctx, id); err == nil {
		cs.current = &v
	}
	if h := lifecycleHook(c, true); h != nil {
		if msg, err := k.runHook(ctx, w, id, c, h, k.gracePeriod(pod)); err != nil {
			k.containerEvent(pod, c.Name, corev1.EventTypeWarning, reasonFailedPostStartHook, "PostStartHook failed")
			k.log.Info("postStart hook failed", "pod", klogRef(pod), "container", c.Name, "err", err, "output", msg)
			k.stopContainer(ctx, w, pod, c, cs.current, k.gracePeriod(pod))
			if v, err := k.cfg.Runtime.Container(ctx, id); err == nil {
				cs.current = &v
			}
		}
	}
	return 0
}

// stopContainer runs c's preStop hook and stops the container within grace.
func (k *Kubelet) stopContainer(ctx context.Context, w *worker, pod *corev1.Pod, c *corev1.Container, ctr *runtime.Container, grace time.Duration) {
	if !running(ctr) {
		return
	}
	deadline := k.clock.Now().Add(grace)
	if h := lifecycleHook(c, false); h != nil && grace > 0 && ctr.State == runtime.ContainerRunning {
		hookCtx, cancel := context.WithTimeout(ctx, grace)
		if msg, err := k.runHook(hookCtx, w, ctr.ID, c, h, grace); err != nil {
			k.containerEvent(pod, c.Name, corev1.EventTypeWarning, reasonFailedPreStopHook, "PreStopHook failed")
			k.log.Info("preStop hook failed", "pod", klogRef(pod), "container", c.Name, "err", err, "output", msg)
		}
		cancel()
	}
	remaining := max(deadline.Sub(k.clock.Now()), 0)
	if grace > 0 && remaining == 0 {
		remaining = 2 * time.Second // upstream's minimum after a hook used up the grace
	}
	if err := k.cfg.Runtime.StopContainer(ctx, ctr.ID, remaining); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		k.log.Error("stopping container", "pod", klogRef(pod), "container", c.Name, "err", err)
	}
}

// removeContainer removes a container with its root filesystem and log.
func (k *Kubelet) removeContainer(ctx context.Context, c *runtime.Container) error {
	if err := k.cfg.Runtime.RemoveContainer(ctx, c.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	if key := c.Spec.Labels[labelRootfs]; key != "" {
		if err := k.cfg.Images.RemoveRootfs(ctx, key); err != nil {
			return err
		}
	}
	for _, f := range []string{c.Spec.LogPath, c.Spec.Labels[labelTermination]} {
		if f != "" {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// killPod stops every container of the pod (in parallel, each with its
// preStop hook, within grace) and then its sandbox.
func (k *Kubelet) killPod(ctx context.Context, w *worker, pod *corev1.Pod, grace time.Duration) error {
	s := &w.state
	var wg sync.WaitGroup
	for name, cs := range s.containers {
		if !running(cs.current) {
			continue
		}
		c := specContainer(pod, name)
		if pod != nil && c != nil && pod.DeletionTimestamp != nil {
			k.containerEvent(pod, name, corev1.EventTypeNormal, reasonKilling, "Stopping container %s", name)
		}
		if c == nil {
			c = &corev1.Container{Name: name}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.stopContainer(ctx, w, pod, c, cs.current, grace)
		}()
	}
	wg.Wait()
	k.refresh(ctx, s)
	if s.sandbox != nil && s.sandbox.State == runtime.SandboxReady {
		if err := k.cfg.Runtime.StopSandbox(ctx, s.sandbox.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("stopping sandbox: %w", err)
		}
		k.refresh(ctx, s)
	}
	w.setNetNS("")
	s.killed = true
	return nil
}

// cleanup removes every trace of a stopped pod: containers, root filesystems,
// logs, sandbox, volumes and the kubelet's files.
func (k *Kubelet) cleanup(ctx context.Context, w *worker) error {
	s := &w.state
	k.probes.RemovePod(w.uid)
	var errs []error
	for _, cs := range s.containers {
		for _, c := range []*runtime.Container{cs.current, cs.previous} {
			if c != nil {
				if err := k.removeContainer(ctx, c); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	sandboxes := s.oldSandboxes
	if s.sandbox != nil {
		sandboxes = append(sandboxes, s.sandbox.ID)
	}
	for _, id := range sandboxes {
		if err := k.cfg.Runtime.RemoveSandbox(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if err := k.disconnect(ctx, w.uid, s); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.sandbox, s.oldSandboxes, s.containers = nil, nil, nil
	// The logs directory is <namespace>_<name>_<uid>: found by UID, also for
	// a pod deleted while the kubelet was down.
	dirs, err := filepath.Glob(filepath.Join(k.cfg.LogsDir, "*_"+string(w.uid)))
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return k.removePodFiles(ctx, w.uid)
}

func specContainer(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// containerFieldPath is how events point at a container of a pod.
func containerFieldPath(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return "spec.initContainers{" + name + "}"
		}
	}
	return "spec.containers{" + name + "}"
}

func (k *Kubelet) podLogsDir(pod *corev1.Pod) string {
	return filepath.Join(k.cfg.LogsDir, pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

func (k *Kubelet) logPath(pod *corev1.Pod, container string, attempt int) string {
	return filepath.Join(k.podLogsDir(pod), container, strconv.Itoa(attempt)+".log")
}

// imageOf is the image a container record was made from, for its status.
func imageOf(c *runtime.Container) (id, ref string) {
	return c.Spec.Labels[labelImageID], c.Spec.Labels[labelImageRef]
}
