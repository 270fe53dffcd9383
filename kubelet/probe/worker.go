package probe

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Kind is a probe's role.
type Kind int

const (
	// Liveness probes restart a failing container.
	Liveness Kind = iota
	// Readiness probes drive the container's ready flag.
	Readiness
	// Startup probes hold liveness and readiness back until they succeed.
	Startup
)

// String is the kind as events say it: "Liveness", "Readiness", "Startup".
func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	}
	return "Startup"
}

// Event reasons, as upstream.
const (
	ReasonUnhealthy    = "Unhealthy"
	ReasonProbeWarning = "ProbeWarning"
)

// maxRetries is how often a probe that could not run is retried at once.
const maxRetries = 3

// worker probes one container for one kind, each periodSeconds.
type worker struct {
	m   *Manager
	uid types.UID
	// pod is the latest pod AddPod was given (a deletion timestamp matters).
	pod       atomic.Pointer[corev1.Pod]
	container corev1.Container
	kind      Kind
	spec      *corev1.Probe

	stop    chan struct{}
	trigger chan struct{}

	// containerID is the container probed; a new one restarts the counting.
	containerID string
	lastResult  Result
	resultRun   int
	// onHold stops probing after a liveness or startup failure, until the
	// container is replaced.
	onHold bool
}

// initialResult is what a container is taken to be before its first probe:
// not ready, alive, not started.
func (k Kind) initialResult() Result {
	switch k {
	case Readiness:
		return Failure
	case Liveness:
		return Success
	}
	return Unknown
}

func (w *worker) run(ctx context.Context) {
	period := time.Duration(w.spec.PeriodSeconds) * time.Second
	if period <= 0 {
		period = 10 * time.Second
	}
	ticker := w.m.clock.NewTicker(period)
	defer ticker.Stop()
	defer w.m.removeWorker(w)
	for w.doProbe(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-w.stop:
			return
		case <-ticker.C():
		case <-w.trigger:
		}
	}
}

// doProbe probes once if the container is due; it returns false when the
// worker should stop.
func (w *worker) doProbe(ctx context.Context) bool {
	pod := w.pod.Load()
	status, ok := w.m.status.PodStatus(w.uid)
	if !ok {
		return true // no status yet
	}
	if status.Phase == corev1.PodFailed || status.Phase == corev1.PodSucceeded {
		return false
	}
	var c *corev1.ContainerStatus
	for _, list := range [][]corev1.ContainerStatus{status.ContainerStatuses, status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == w.container.Name {
				c = &list[i]
			}
		}
	}
	if c == nil || c.ContainerID == "" {
		return true // not created yet
	}
	if c.ContainerID != w.containerID {
		if w.containerID != "" {
			w.m.forget(w.containerID, w.kind)
		}
		w.containerID = c.ContainerID
		w.m.set(ctx, w, w.kind.initialResult())
		w.onHold = false
		w.lastResult, w.resultRun = Unknown, 0
	}
	if w.onHold {
		return true
	}
	if c.State.Running == nil {
		w.m.set(ctx, w, Failure)
		// Keep the worker for a container that will restart.
		return c.State.Terminated == nil || pod.Spec.RestartPolicy != corev1.RestartPolicyNever
	}
	if pod.DeletionTimestamp != nil && (w.kind == Liveness || w.kind == Startup) {
		// A pod shutting down is not restarted.
		w.m.set(ctx, w, Success)
		return false
	}
	if w.m.clock.Since(c.State.Running.StartedAt.Time) < time.Duration(w.spec.InitialDelaySeconds)*time.Second {
		return true
	}
	if w.m.started(pod, c) {
		if w.kind == Startup {
			return true // its work is done until the container restarts
		}
	} else if w.kind != Startup {
		return true // held back until the startup probe succeeds
	}

	result, err := w.probe(ctx, pod, status.PodIP)
	if err != nil {
		return true // a probe that could not run says nothing
	}
	if result == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult, w.resultRun = result, 1
	}
	if (result == Failure && w.resultRun < int(max(w.spec.FailureThreshold, 1))) ||
		(result == Success && w.resultRun < int(max(w.spec.SuccessThreshold, 1))) {
		return true // below the threshold: no change yet
	}
	w.m.set(ctx, w, result)
	if (w.kind == Liveness || w.kind == Startup) && result == Failure {
		// The container will be restarted: stop probing it until a new one runs.
		w.onHold = true
		w.resultRun = 0
	}
	return true
}

// probe runs the probe (retrying one that could not run), records its events
// and folds a warning into success.
func (w *worker) probe(ctx context.Context, pod *corev1.Pod, podIP string) (Result, error) {
	target := Target{PodIP: podIP, ContainerID: w.containerID, Container: &w.container}
	if dial := w.m.dial; dial != nil {
		target.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
			return dial(ctx, pod, network, address)
		}
	}
	var (
		result Result
		output string
		err    error
	)
	for range maxRetries {
		result, output, err = w.m.prober.Probe(ctx, w.spec, target)
		if err == nil {
			break
		}
	}
	rec := w.m.recorder
	switch {
	case err != nil:
		if rec != nil {
			rec.ContainerEventf(pod, w.container.Name, corev1.EventTypeWarning, ReasonUnhealthy, "%s probe errored: %v", w.kind, err)
		}
		return Failure, err
	case result == Warning:
		if rec != nil {
			rec.ContainerEventf(pod, w.container.Name, corev1.EventTypeWarning, ReasonProbeWarning, "%s probe warning: %s", w.kind, output)
		}
		return Success, nil
	case result != Success:
		if rec != nil {
			rec.ContainerEventf(pod, w.container.Name, corev1.EventTypeWarning, ReasonUnhealthy, "%s probe failed: %s", w.kind, output)
		}
		return Failure, nil
	}
	return Success, nil
}
