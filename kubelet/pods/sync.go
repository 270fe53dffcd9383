package pods

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/kubelet/probe"
	"berth.dev/berth/kubelet/runtime"
	"berth.dev/berth/kubelet/volume"
)

// Waiting reasons and event reasons, as upstream's kubelet words them.
const (
	reasonContainerCreating     = "ContainerCreating"
	reasonPodInitializing       = "PodInitializing"
	reasonCrashLoopBackOff      = "CrashLoopBackOff"
	reasonCreateConfigError     = "CreateContainerConfigError"
	reasonCreateContainerError  = "CreateContainerError"
	reasonFailedMount           = "FailedMount"
	reasonSandboxChanged        = "SandboxChanged"
	reasonFailedCreateSandbox   = "FailedCreatePodSandBox"
	reasonCreated               = "Created"
	reasonStarted               = "Started"
	reasonFailed                = "Failed"
	reasonKilling               = "Killing"
	reasonBackOff               = "BackOff"
	reasonFailedPostStartHook   = "FailedPostStartHook"
	reasonFailedPreStopHook     = "FailedPreStopHook"
	reasonStartError            = "StartError"
	defaultTerminationGrace     = 30 * time.Second
	maxMountRetry               = 32 * time.Second
	firstMountRetry             = time.Second
	terminationMessageMaxLength = 4096
)

// sync reconciles the worker's pod once. It returns when to sync again
// without a cause (0: at the resync interval) and whether the pod is gone and
// cleaned up.
func (k *Kubelet) sync(ctx context.Context, w *worker) (time.Duration, bool) {
	pod, gone := w.current()
	s := &w.state
	k.refresh(ctx, s)
	k.removeStale(ctx, s)
	switch {
	case gone:
		// Deleted from the API (or never there, for adopted leftovers):
		// stop at once and remove every trace.
		if err := k.killPod(ctx, w, pod, 0); err != nil {
			k.log.Error("stopping containers of deleted pod", "pod", w.uid, "err", err)
			return time.Second, false
		}
		if err := k.cleanup(ctx, w); err != nil {
			k.log.Error("cleaning up deleted pod", "pod", w.uid, "err", err)
			return time.Second, false
		}
		return 0, true
	case pod.DeletionTimestamp != nil:
		return k.syncDeleted(ctx, w, pod), false
	}
	next := k.syncPod(ctx, w, pod)
	if s.phase != "" && !s.killed {
		// Done for good: stop the sandbox, keep containers for their logs.
		if err := k.killPod(ctx, w, pod, k.gracePeriod(pod)); err != nil {
			k.log.Error("stopping finished pod", "pod", klogRef(pod), "err", err)
			next = soonest(next, time.Second)
		}
	}
	if err := k.writeStatus(ctx, w, pod); err != nil {
		k.log.Warn("updating pod status", "pod", klogRef(pod), "err", err)
		next = soonest(next, time.Second)
	}
	return next, false
}

// syncPod brings a live pod's sandbox and containers to what its spec asks.
func (k *Kubelet) syncPod(ctx context.Context, w *worker, pod *corev1.Pod) time.Duration {
	s := &w.state
	if s.phase != "" {
		return 0
	}
	paths, err := k.cfg.Volumes.SetUp(ctx, pod)
	if err != nil {
		for _, e := range unwrapJoined(err) {
			k.podEvent(pod, corev1.EventTypeWarning, reasonFailedMount, "%v", e)
		}
		s.mountRetry = min(max(2*s.mountRetry, firstMountRetry), maxMountRetry)
		if !k.anyStarted(s) {
			return s.mountRetry
		}
		// Running containers keep running while a volume refresh fails.
	} else {
		s.mountRetry = 0
	}
	if next, ok := k.ensureSandbox(ctx, w, pod); !ok {
		return next
	}
	if err != nil {
		return s.mountRetry
	}
	k.probes.AddPod(ctx, pod)

	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := s.container(c.Name)
		// An init container is done once it succeeded in this sandbox: a
		// re-created sandbox runs them all again, as upstream.
		switch {
		case isSidecar(c) && running(cs.current):
			continue
		case succeeded(cs.current) && !isSidecar(c) && cs.current.SandboxID == s.sandbox.ID:
			continue
		case running(cs.current):
			return 0 // wait for it to finish
		case exited(cs.current) && cs.current.Exit.Code != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && !isSidecar(c):
			s.phase = corev1.PodFailed
			return 0
		}
		return k.startWithBackoff(ctx, w, pod, c, paths, true)
	}

	var next time.Duration
	done, failed := true, false
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := s.container(c.Name)
		if running(cs.current) && k.probeFailed(cs.current) {
			k.restartUnhealthy(ctx, w, pod, c, cs)
		}
		switch {
		case cs.current == nil:
			done = false
			next = soonest(next, k.startWithBackoff(ctx, w, pod, c, paths, false))
		case running(cs.current) && definitionChanged(cs.current, c):
			// A new image (the one field of a running container that can
			// change) restarts it whatever the restart policy, as upstream.
			done = false
			k.containerEvent(pod, c.Name, corev1.EventTypeNormal, reasonKilling, "Container %s definition changed, will be restarted", c.Name)
			k.stopContainer(ctx, w, pod, c, cs.current, k.gracePeriod(pod))
			next = soonest(next, k.startContainer(ctx, w, pod, c, paths, false))
		case running(cs.current):
			done = false
		case shouldRestart(pod.Spec.RestartPolicy, cs.current.Exit.Code):
			done = false
			next = soonest(next, k.startWithBackoff(ctx, w, pod, c, paths, false))
		case cs.current.Exit.Code != 0:
			failed = true
		}
	}
	if done {
		s.phase = corev1.PodSucceeded
		if failed {
			s.phase = corev1.PodFailed
		}
	}
	return next
}

// ensureSandbox makes sure the pod has a ready sandbox, replacing a dead one
// (and with it every container). It reports false, with when to retry, if the
// pod cannot go on.
func (k *Kubelet) ensureSandbox(ctx context.Context, w *worker, pod *corev1.Pod) (time.Duration, bool) {
	s := &w.state
	if s.sandbox != nil && s.sandbox.State == runtime.SandboxReady {
		if s.ips == nil {
			// Adopted after a restart: the network hands back its addresses.
			if err := k.connect(ctx, pod, s); err != nil {
				k.podEvent(pod, corev1.EventTypeWarning, reasonFailedCreateSandbox, "Failed to create pod sandbox: %v", err)
				return 5 * time.Second, false
			}
		}
		return 0, true
	}
	if s.sandbox != nil {
		k.podEvent(pod, corev1.EventTypeNormal, reasonSandboxChanged, "Pod sandbox changed, it will be killed and re-created.")
		if err := k.killPod(ctx, w, pod, 0); err != nil {
			k.log.Error("stopping containers of a dead sandbox", "pod", klogRef(pod), "err", err)
			return time.Second, false
		}
		s.oldSandboxes = append(s.oldSandboxes, s.sandbox.ID)
		if err := k.disconnect(ctx, w.uid, s); err != nil {
			k.log.Error("removing a dead sandbox from the pod network", "pod", klogRef(pod), "err", err)
			return time.Second, false
		}
		s.sandbox, s.killed = nil, false
	}
	sb, err := k.cfg.Runtime.RunSandbox(ctx, runtime.SandboxSpec{
		Name:                  pod.Name,
		Namespace:             pod.Namespace,
		UID:                   string(pod.UID),
		Hostname:              podHostname(pod),
		HostNetwork:           pod.Spec.HostNetwork,
		ShareProcessNamespace: pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace,
		Labels:                podLabels(pod),
	})
	if err != nil {
		k.podEvent(pod, corev1.EventTypeWarning, reasonFailedCreateSandbox, "Failed to create pod sandbox: %v", err)
		return 5 * time.Second, false
	}
	s.sandbox = &sb
	w.setNetNS(sb.NetNSPath)
	if err := k.connect(ctx, pod, s); err == nil {
		err = k.writePodFiles(pod, s)
	}
	if err != nil {
		k.podEvent(pod, corev1.EventTypeWarning, reasonFailedCreateSandbox, "Failed to create pod sandbox: %v", err)
		// The next sync finds the sandbox not ready and starts over.
		if err := k.cfg.Runtime.StopSandbox(ctx, sb.ID); err != nil {
			k.log.Warn("stopping a sandbox that failed", "pod", klogRef(pod), "err", err)
		}
		return 5 * time.Second, false
	}
	return 0, true
}

// connect puts the sandbox on the pod network (again, for a sandbox replaced
// or adopted) and keeps its addresses.
func (k *Kubelet) connect(ctx context.Context, pod *corev1.Pod, s *podState) error {
	if k.cfg.Network == nil || pod.Spec.HostNetwork {
		return nil
	}
	ips, err := k.cfg.Network.Add(ctx, string(pod.UID), s.sandbox.NetNSPath, hostPorts(pod))
	if err != nil {
		return fmt.Errorf("setting up the pod network: %w", err)
	}
	s.ips = s.ips[:0]
	for _, ip := range ips {
		s.ips = append(s.ips, ip.String())
	}
	return nil
}

// disconnect takes the pod off the pod network.
func (k *Kubelet) disconnect(ctx context.Context, uid types.UID, s *podState) error {
	if k.cfg.Network == nil {
		return nil
	}
	if err := k.cfg.Network.Remove(ctx, string(uid)); err != nil {
		return fmt.Errorf("removing pod %s from the pod network: %w", uid, err)
	}
	s.ips = nil
	return nil
}

// hostPorts are the container ports the pod publishes on the node.
func hostPorts(pod *corev1.Pod) []HostPort {
	var out []HostPort
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				out = append(out, HostPort{Protocol: p.Protocol, HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort})
			}
		}
	}
	return out
}

// startWithBackoff starts the next attempt of c unless its restarts are
// backing off; it returns when to look again.
func (k *Kubelet) startWithBackoff(ctx context.Context, w *worker, pod *corev1.Pod, c *corev1.Container, paths volume.Paths, init bool) time.Duration {
	cs := w.state.container(c.Name)
	key := backoffKey(pod, c.Name)
	if exited(cs.current) {
		if wait := k.back.remaining(key, cs.current.Exit.FinishedAt); wait > 0 {
			delay := k.back.delay(key)
			cs.waiting = &corev1.ContainerStateWaiting{
				Reason:  reasonCrashLoopBackOff,
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.Name, podDesc(pod)),
			}
			k.containerEvent(pod, c.Name, corev1.EventTypeWarning, reasonBackOff, "Back-off restarting failed container %s in pod %s", c.Name, podDesc(pod))
			return wait
		}
		k.back.next(key)
	}
	return k.startContainer(ctx, w, pod, c, paths, init)
}

// probeFailed reports a liveness or startup failure of a running container.
func (k *Kubelet) probeFailed(c *runtime.Container) bool {
	id := containerIDPrefix + c.ID
	for _, kind := range []probe.Kind{probe.Liveness, probe.Startup} {
		if r, ok := k.probes.Result(id, kind); ok && r == probe.Failure {
			return true
		}
	}
	return false
}

// restartUnhealthy stops a container whose liveness (or startup) probe failed;
// the sync then starts it again under the restart policy.
func (k *Kubelet) restartUnhealthy(ctx context.Context, w *worker, pod *corev1.Pod, c *corev1.Container, cs *containerState) {
	kind := "liveness"
	if r, ok := k.probes.Result(containerIDPrefix+cs.current.ID, probe.Startup); ok && r == probe.Failure {
		kind = "startup"
	}
	k.containerEvent(pod, c.Name, corev1.EventTypeNormal, reasonKilling, "Container %s failed %s probe, will be restarted", c.Name, kind)
	grace := k.gracePeriod(pod)
	if p := probeOf(c, kind); p != nil && p.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	k.stopContainer(ctx, w, pod, c, cs.current, grace)
	if v, err := k.cfg.Runtime.Container(ctx, cs.current.ID); err == nil {
		cs.current = &v
	}
}

func probeOf(c *corev1.Container, kind string) *corev1.Probe {
	if kind == "startup" {
		return c.StartupProbe
	}
	return c.LivenessProbe
}

// definitionChanged reports whether a container was made from another spec
// image than c names now.
func definitionChanged(ctr *runtime.Container, c *corev1.Container) bool {
	image, ok := ctr.Spec.Labels[labelSpecImage]
	return ok && image != c.Image
}

func shouldRestart(policy corev1.RestartPolicy, code int) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func (k *Kubelet) anyStarted(s *podState) bool {
	for _, cs := range s.containers {
		if running(cs.current) {
			return true
		}
	}
	return false
}

// removeStale removes containers of attempts no longer kept.
func (k *Kubelet) removeStale(ctx context.Context, s *podState) {
	kept := s.stale[:0]
	for _, c := range s.stale {
		if err := k.removeContainer(ctx, &c); err != nil {
			k.log.Warn("removing old container", "container", c.ID, "err", err)
			kept = append(kept, c)
		}
	}
	s.stale = kept
}

func unwrapJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (k *Kubelet) gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return defaultTerminationGrace
}

// podDesc names a pod as the kubelet's messages do: name_namespace(uid).
func podDesc(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// klogRef names a pod in logs; a pod gone from the API (nil) is "<deleted>".
func klogRef(pod *corev1.Pod) string {
	if pod == nil {
		return "<deleted>"
	}
	return pod.Namespace + "/" + pod.Name
}
