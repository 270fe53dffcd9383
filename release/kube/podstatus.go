package kube

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// imagePullReasons are the waiting reasons of a container whose image is not
// there yet.
var imagePullReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true,
	"InvalidImageName": true, "RegistryUnavailable": true,
}

// neverStarts are the waiting reasons that no retry ends: an image reference
// that cannot be parsed. (ErrImageNeverPull is not among them: the image may
// still be loaded onto the node by hand.)
var neverStarts = map[string]bool{"InvalidImageName": true}

// podProblem ranks what keeps a pod from being ready, the worst last: a
// workload's message names the pod with the worst.
type podProblem int

const (
	podFine podProblem = iota
	podNotReady
	podUnscheduled
	podWaiting
	podFailed
)

// podState is a pod's status and message, with what a workload's message and
// a diagnosis need.
type podState struct {
	status  Status
	message string
	problem podProblem
	// container is the container at fault, if one is: its log tells why.
	container string
	// probing is set when the container is running and only its readiness or
	// startup probe keeps it from being ready.
	probing bool
}

// podCheck judges a pod: failed, a container waiting for a reason (image
// pull, crash loop), not scheduled, or running but not ready, and why.
func podCheck(p *corev1.Pod) podState {
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		return podState{status: Current, message: "completed"}
	case corev1.PodFailed:
		return podFailedState(p)
	}
	for _, c := range p.Status.Conditions {
		switch {
		case c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue:
			return podState{status: Current, message: "ready"}
		case c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse:
			return podState{status: InProgress, message: "not scheduled" + reasonSuffix(c.Reason, c.Message), problem: podUnscheduled}
		}
	}
	if s, ok := podWaitingState(p); ok {
		return s
	}
	if p.Spec.NodeName == "" {
		return podState{status: InProgress, message: "waiting to be scheduled", problem: podUnscheduled}
	}
	return podNotReadyState(p)
}

// podFailedState says why a pod failed: its own reason, else the exit of the
// first container that failed.
func podFailedState(p *corev1.Pod) podState {
	s := podState{status: Failed, message: "failed" + reasonSuffix(p.Status.Reason, p.Status.Message), problem: podFailed}
	for _, cs := range allStatuses(p) {
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			s.container = cs.Name
			if p.Status.Reason == "" && p.Status.Message == "" {
				s.message = fmt.Sprintf("failed: container %s %s", cs.Name, exit(t))
			}
			break
		}
	}
	return s
}

// podWaitingState finds a container waiting for a telling reason, preferring
// one in trouble to one being created. PodInitializing says only that init
// containers run, which podNotReadyState tells better.
func podWaitingState(p *corev1.Pod) (podState, bool) {
	var creating *podState
	for _, cs := range allStatuses(p) {
		w := cs.State.Waiting
		if w == nil || w.Reason == "" || w.Reason == "PodInitializing" {
			continue
		}
		s := podState{status: InProgress, problem: podWaiting, container: cs.Name}
		switch {
		case imagePullReasons[w.Reason]:
			s.message = fmt.Sprintf("waiting for image pull (%s)", reasonMessage(w.Reason, w.Message))
			if neverStarts[w.Reason] {
				s.status = Failed
			}
		case w.Reason == "CrashLoopBackOff":
			// Its message names the container and pod again; the last exit
			// tells more.
			s.message = fmt.Sprintf("container %s waiting (%s)", cs.Name, w.Reason)
			if t := cs.LastTerminationState.Terminated; t != nil {
				s.message += ", last " + exit(t)
			}
		case w.Reason == "ContainerCreating":
			if creating == nil {
				s.problem = podNotReady
				s.message = fmt.Sprintf("container %s waiting (%s)", cs.Name, w.Reason)
				creating = &s
			}
			continue
		default:
			s.message = fmt.Sprintf("container %s waiting (%s)", cs.Name, reasonMessage(w.Reason, w.Message))
		}
		return s, true
	}
	if creating != nil {
		return *creating, true
	}
	return podState{}, false
}

// podNotReadyState says why a pod on a node is not ready: an init container
// still running, a container that exited, a probe not passing yet, a
// readiness gate.
func podNotReadyState(p *corev1.Pod) podState {
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.State.Running != nil && !isSidecar(p, cs.Name) {
			return podState{status: InProgress, problem: podNotReady, container: cs.Name, message: fmt.Sprintf("init container %s running", cs.Name)}
		}
	}
	ready := 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if s, ok := containerNotReady(p, cs); ok {
			return s
		}
	}
	if ready == len(p.Spec.Containers) {
		for _, g := range p.Spec.ReadinessGates {
			if !podCondition(p, g.ConditionType) {
				return podState{status: InProgress, problem: podNotReady, message: fmt.Sprintf("not ready: readiness gate %s not passing", g.ConditionType)}
			}
		}
	}
	s := podState{status: InProgress, problem: podNotReady, message: fmt.Sprintf("%d of %d containers ready", ready, len(p.Spec.Containers))}
	for _, cs := range p.Status.ContainerStatuses {
		if !cs.Ready {
			s.container = cs.Name
			break
		}
	}
	return s
}

// containerNotReady says why a container that runs or ran is not ready, when
// its state tells: it exited, or a probe has not passed yet.
func containerNotReady(p *corev1.Pod, cs corev1.ContainerStatus) (podState, bool) {
	s := podState{status: InProgress, problem: podNotReady, container: cs.Name}
	c := containerSpec(p, cs.Name)
	switch {
	case cs.Ready:
		return s, false
	case cs.State.Terminated != nil:
		s.message = fmt.Sprintf("not ready: container %s terminated, %s", cs.Name, exit(cs.State.Terminated))
		if cs.State.Terminated.ExitCode != 0 {
			s.problem = podWaiting
		}
	case cs.State.Running == nil || c == nil:
		return s, false
	case c.StartupProbe != nil && (cs.Started == nil || !*cs.Started):
		s.probing = true
		s.message = fmt.Sprintf("not ready: container %s: startup probe not passing yet", cs.Name)
	case c.ReadinessProbe != nil:
		s.probing = true
		s.message = fmt.Sprintf("not ready: container %s: readiness probe not passing yet", cs.Name)
	default:
		return s, false
	}
	return s, true
}

// allStatuses are the statuses of a pod's init containers, then of the others.
func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
}

func containerSpec(p *corev1.Pod, name string) *corev1.Container {
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == name {
			return &p.Spec.Containers[i]
		}
	}
	return nil
}

// isSidecar reports whether an init container keeps running beside the
// others (restartPolicy Always).
func isSidecar(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// exit describes how a container ended: "exit code 1 (Error)".
func exit(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("exit code %d", t.ExitCode)
	if r := reasonMessage(t.Reason, t.Message); r != "" {
		s += " (" + r + ")"
	}
	return s
}

// reasonMessage formats a reason and message as "Reason: message".
func reasonMessage(reason, message string) string {
	switch {
	case reason != "" && message != "":
		return reason + ": " + message
	case reason != "":
		return reason
	}
	return message
}

// mostTelling picks, of a workload's pods, the one in the worst state
// (failed, then waiting for a reason, then not scheduled, then not ready), the
// first by name among equals so that the message stays put while nothing
// changes. Pods being deleted are on their way out and tell nothing.
func mostTelling(pods []corev1.Pod) (*corev1.Pod, podState, bool) {
	var best *corev1.Pod
	var bestState podState
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		s := podCheck(p)
		if s.problem == podFine {
			continue
		}
		if best == nil || s.problem > bestState.problem || s.problem == bestState.problem && p.Name < best.Name {
			best, bestState = p, s
		}
	}
	return best, bestState, best != nil
}

// controlledPods lists the pods that match selector and owner controls.
func controlledPods(ctx context.Context, cl cluster, namespace string, selector *metav1.LabelSelector, owner types.UID) []corev1.Pod {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if selector == nil || err != nil || sel.Empty() {
		return nil
	}
	return controlledBy(cl.pods(ctx, namespace, sel), owner)
}

func controlledBy(pods []corev1.Pod, owner types.UID) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == owner {
			out = append(out, p)
		}
	}
	return out
}

// deploymentRevisionAnnotation numbers a Deployment's ReplicaSets, the newest
// highest.
const deploymentRevisionAnnotation = "deployment.kubernetes.io/revision"

// deploymentPods are the pods of a Deployment's newest ReplicaSet: those of the
// rollout under way. Until the controller has observed the Deployment's
// generation the newest ReplicaSet may not exist yet, and no pods are named.
func deploymentPods(ctx context.Context, d *appsv1.Deployment, cl cluster) []corev1.Pod {
	if d.Status.ObservedGeneration < d.Generation || d.Spec.Selector == nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil
	}
	var newest *appsv1.ReplicaSet
	newestRevision := int64(-1)
	rss := cl.replicaSets(ctx, d.Namespace, sel)
	for i := range rss {
		rs := &rss[i]
		if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[deploymentRevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		if rev > newestRevision {
			newest, newestRevision = rs, rev
		}
	}
	if newest == nil {
		return nil
	}
	// The pod-template-hash label narrows the list to the ReplicaSet's pods.
	if hash := newest.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; hash != "" {
		if req, err := labels.NewRequirement(appsv1.DefaultDeploymentUniqueLabelKey, selection.Equals, []string{hash}); err == nil {
			sel = sel.Add(*req)
		}
	}
	return controlledBy(cl.pods(ctx, d.Namespace, sel), newest.UID)
}

func statefulSetPods(ctx context.Context, s *appsv1.StatefulSet, cl cluster) []corev1.Pod {
	return controlledPods(ctx, cl, s.Namespace, s.Spec.Selector, s.UID)
}

func daemonSetPods(ctx context.Context, d *appsv1.DaemonSet, cl cluster) []corev1.Pod {
	return controlledPods(ctx, cl, d.Namespace, d.Spec.Selector, d.UID)
}

func replicaSetPods(ctx context.Context, r *appsv1.ReplicaSet, cl cluster) []corev1.Pod {
	return controlledPods(ctx, cl, r.Namespace, r.Spec.Selector, r.UID)
}

func replicationControllerPods(ctx context.Context, r *corev1.ReplicationController, cl cluster) []corev1.Pod {
	return controlledPods(ctx, cl, r.Namespace, &metav1.LabelSelector{MatchLabels: r.Spec.Selector}, r.UID)
}

func jobPods(ctx context.Context, j *batchv1.Job, cl cluster) []corev1.Pod {
	return controlledPods(ctx, cl, j.Namespace, j.Spec.Selector, j.UID)
}
