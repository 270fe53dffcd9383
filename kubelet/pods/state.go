package pods

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/kubelet/runtime"
)

// Labels on runtime sandboxes and containers, as the CRI's kubelet sets them,
// so that a restarted kubelet knows whose they are.
const (
	labelPodUID       = "io.kubernetes.pod.uid"
	labelPodName      = "io.kubernetes.pod.name"
	labelPodNamespace = "io.kubernetes.pod.namespace"
	labelContainer    = "io.kubernetes.container.name"
	labelImageID      = "berth.dev/image-id"
	labelImageRef     = "berth.dev/image-ref"
	labelSpecImage    = "berth.dev/spec-image" // the container's spec.image, to see it change
	labelRootfs       = "berth.dev/rootfs"
	labelTermination  = "berth.dev/termination-message"
)

// containerIDPrefix is the runtime's name in container IDs ("berth://<id>").
const containerIDPrefix = "berth://"

// podState is what the worker knows of its pod's sandbox and containers.
type podState struct {
	sandbox *runtime.Sandbox
	// oldSandboxes are dead sandboxes of the pod, kept (stopped) while their
	// containers tell the pod's lastStates and previous logs; cleanup
	// removes them.
	oldSandboxes []string
	containers   map[string]*containerState // by container name
	// phase is Succeeded or Failed once the pod is done for good.
	phase corev1.PodPhase
	// mountRetry paces retries of failing volume mounts.
	mountRetry time.Duration
	// lastWritten is the status last written to the API.
	lastWritten *corev1.PodStatus
	// killed is set once the pod's containers were stopped for deletion.
	killed bool
	// ips are the addresses the pod network gave the sandbox.
	ips []string
	// stale are containers of attempts older than the two kept, found on
	// adoption; the next sync removes them.
	stale []runtime.Container
}

// containerState is one container of the pod: its latest attempt, the one
// before (for lastState and `logs --previous`), and why no new attempt runs.
type containerState struct {
	current, previous *runtime.Container
	// waiting explains a container that should run but does not (image
	// pull failures, configuration errors, back-off).
	waiting *corev1.ContainerStateWaiting
	// messages are the termination messages of attempts, by container ID.
	messages map[string]string
	// created counts the attempts made, also those whose containers went
	// with a dead sandbox: restart counts only grow.
	created int
}

func (s *podState) container(name string) *containerState {
	if s.containers == nil {
		s.containers = map[string]*containerState{}
	}
	cs := s.containers[name]
	if cs == nil {
		cs = &containerState{messages: map[string]string{}}
		s.containers[name] = cs
	}
	return cs
}

// nextAttempt is the restart count of the next container to create.
func (cs *containerState) nextAttempt() int {
	if cs.current != nil {
		return max(cs.created, cs.current.Spec.Attempt+1)
	}
	return cs.created
}

func (cs *containerState) restartCount() int32 {
	if cs.current == nil {
		return 0
	}
	return int32(cs.current.Spec.Attempt)
}

func running(c *runtime.Container) bool {
	return c != nil && c.State != runtime.ContainerExited
}

func exited(c *runtime.Container) bool {
	return c != nil && c.State == runtime.ContainerExited && c.Exit != nil
}

func succeeded(c *runtime.Container) bool { return exited(c) && c.Exit.Code == 0 }

// refresh re-reads the runtime's view of the pod's sandbox and containers.
func (k *Kubelet) refresh(ctx context.Context, s *podState) {
	if s.sandbox != nil {
		sb, err := k.cfg.Runtime.Sandbox(ctx, s.sandbox.ID)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			s.sandbox = nil
		case err == nil:
			s.sandbox = &sb
		}
	}
	for _, cs := range s.containers {
		for _, c := range []**runtime.Container{&cs.current, &cs.previous} {
			if *c == nil {
				continue
			}
			v, err := k.cfg.Runtime.Container(ctx, (*c).ID)
			switch {
			case errors.Is(err, runtime.ErrNotFound):
				*c = nil
			case err == nil:
				*c = &v
			}
		}
	}
}

// adopt finds the sandboxes and containers a previous kubelet left running
// and gives each pod a worker that knows them; the informer then tells which
// pods still exist.
func (k *Kubelet) adopt(ctx context.Context) error {
	sandboxes, err := k.cfg.Runtime.Sandboxes(ctx)
	if err != nil {
		return fmt.Errorf("listing sandboxes: %w", err)
	}
	containers, err := k.cfg.Runtime.Containers(ctx)
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	worker := func(uid types.UID) *worker {
		w := k.workers[uid]
		if w == nil {
			w = newWorker(k, uid)
			k.workers[uid] = w
		}
		return w
	}
	for i := range sandboxes {
		sb := sandboxes[i]
		uid := types.UID(sb.Spec.Labels[labelPodUID])
		if uid == "" {
			continue
		}
		w := worker(uid)
		switch {
		case w.state.sandbox == nil:
			w.state.sandbox = &sb
		case sb.CreatedAt.After(w.state.sandbox.CreatedAt):
			w.state.oldSandboxes = append(w.state.oldSandboxes, w.state.sandbox.ID)
			w.state.sandbox = &sb
		default:
			w.state.oldSandboxes = append(w.state.oldSandboxes, sb.ID)
		}
		w.net = w.state.sandbox.NetNSPath
	}
	for i := range containers {
		c := containers[i]
		uid := types.UID(c.Spec.Labels[labelPodUID])
		name := c.Spec.Labels[labelContainer]
		if uid == "" || name == "" {
			continue
		}
		s := &worker(uid).state
		cs := s.container(name)
		var dropped *runtime.Container
		switch {
		case cs.current == nil || c.Spec.Attempt > cs.current.Spec.Attempt:
			dropped, cs.previous, cs.current = cs.previous, cs.current, &c
		case cs.previous == nil || c.Spec.Attempt > cs.previous.Spec.Attempt:
			dropped, cs.previous = cs.previous, &c
		default:
			dropped = &c
		}
		if dropped != nil {
			s.stale = append(s.stale, *dropped)
		}
		cs.created = max(cs.created, c.Spec.Attempt+1)
		if running(&c) {
			k.watchExit(ctx, uid, c.ID)
		}
	}
	return nil
}

// watchExit wakes the pod's worker when the container exits.
func (k *Kubelet) watchExit(ctx context.Context, uid types.UID, id string) {
	go func() {
		if _, err := k.cfg.Runtime.WaitContainer(ctx, id); err == nil {
			k.kick(uid)
		}
	}()
}

// attemptLabel and the pod labels identify a container in the runtime.
func podLabels(pod *corev1.Pod) map[string]string {
	return map[string]string{
		labelPodUID:       string(pod.UID),
		labelPodName:      pod.Name,
		labelPodNamespace: pod.Namespace,
	}
}

func rootfsID(uid types.UID, container string, attempt int) string {
	return string(uid) + "_" + container + "_" + strconv.Itoa(attempt)
}
