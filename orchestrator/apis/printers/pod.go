package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeLostReason is the pod status reason the node lifecycle controller sets on the
// pods of a node that stopped reporting.
const nodeLostReason = "NodeLost"

// podSummary is what `kubectl get pods` says of a pod besides its name and age.
type podSummary struct {
	ready, total int    // READY: ready containers out of all long-running ones
	status       string // STATUS: phase, or the reason that best explains it
	restarts     int
	lastRestart  time.Time // when a counted container last terminated
}

// summarizePod reads a pod's status as upstream's printer does. In order:
//   - the phase, replaced by status.reason and by SchedulingGated;
//   - the first init container that has not finished decides ("Init:1/3",
//     "Init:CrashLoopBackOff", "Init:Error"): sidecars (restartable init containers)
//     count as finished once started, and count towards READY;
//   - once initialised, the first regular container with a waiting or terminated
//     reason decides ("ContainerCreating", "CrashLoopBackOff", "Completed", "Error").
//     "Completed" gives way to Running (or NotReady) while another container runs, and
//     to the reason of a container that failed;
//   - a deleted pod that has not finished is "Terminating"; any deleted pod whose
//     node was lost is "Unknown".
//
// RESTARTS counts the init containers while the pod initialises, and then the regular
// containers and the sidecars.
func summarizePod(pod *corev1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers), status: string(pod.Status.Phase)}
	if pod.Status.Reason != "" {
		s.status = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.status = corev1.PodReasonSchedulingGated
		}
	}

	sidecars := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			s.total++
		}
	}

	// Restarts while initialising (all init containers), and afterwards (sidecars only).
	var sidecarRestarts int
	var sidecarLastRestart time.Time
	initializing := false
	for i, c := range pod.Status.InitContainerStatuses {
		s.restarts += int(c.RestartCount)
		s.lastRestart = later(s.lastRestart, c.LastTerminationState)
		if sidecars[c.Name] {
			sidecarRestarts += int(c.RestartCount)
			sidecarLastRestart = later(sidecarLastRestart, c.LastTerminationState)
		}
		term, wait := c.State.Terminated, c.State.Waiting
		switch {
		case term != nil && term.ExitCode == 0:
			continue
		case sidecars[c.Name] && c.Started != nil && *c.Started:
			if c.Ready {
				s.ready++
			}
			continue
		case term != nil:
			s.status = "Init:" + terminationReason(term)
		case wait != nil && wait.Reason != "" && wait.Reason != "PodInitializing":
			s.status = "Init:" + wait.Reason
		default:
			s.status = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		// This init container has not finished, so the pod is still initialising.
		initializing = true
		break
	}

	if !initializing || hasCondition(pod, corev1.PodInitialized) {
		s.restarts, s.lastRestart = sidecarRestarts, sidecarLastRestart
		running := false
		failed := ""
		// The first container with a reason decides, so walk them from the last.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			c := pod.Status.ContainerStatuses[i]
			s.restarts += int(c.RestartCount)
			s.lastRestart = later(s.lastRestart, c.LastTerminationState)
			switch term, wait := c.State.Terminated, c.State.Waiting; {
			case wait != nil && wait.Reason != "":
				s.status = wait.Reason
			case term != nil:
				s.status = terminationReason(term)
				if term.ExitCode != 0 {
					failed = s.status
				}
			case c.Ready && c.State.Running != nil:
				running = true
				s.ready++
			}
		}
		switch {
		case s.status == "Completed" && running && hasCondition(pod, corev1.PodReady):
			s.status = "Running"
		case s.status == "Completed" && running:
			s.status = "NotReady"
		case s.status == "Completed" && failed != "":
			s.status = failed
		}
	}

	switch {
	case pod.DeletionTimestamp == nil:
	case pod.Status.Reason == nodeLostReason:
		s.status = "Unknown"
	case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
		s.status = "Terminating"
	}
	return s
}

// terminationReason names how a container terminated: its reason, else its signal or
// exit code ("Signal:9", "ExitCode:1").
func terminationReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

// later is the later of t and the time a container last terminated.
func later(t time.Time, last corev1.ContainerState) time.Time {
	if last.Terminated != nil && last.Terminated.FinishedAt.After(t) {
		return last.Terminated.FinishedAt.Time
	}
	return t
}

// hasCondition says whether the pod's first condition of a type is true.
func hasCondition(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
		column("Status", "string", "The aggregate status of the containers in this pod."),
		column("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
		ageColumn(),
		wide(column("IP", "string", corev1.PodStatus{}.SwaggerDoc()["podIP"])),
		wide(column("Node", "string", corev1.PodSpec{}.SwaggerDoc()["nodeName"])),
		wide(column("Nominated Node", "string", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"])),
		wide(column("Readiness Gates", "string", corev1.PodSpec{}.SwaggerDoc()["readinessGates"])),
	}
}

func podRow(pod *corev1.Pod, now time.Time) (metav1.TableRow, error) {
	s := summarizePod(pod)
	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, since(metav1.NewTime(s.lastRestart), now))
	}
	// v1 pods may carry podIP alone; upstream's conversion makes it podIPs[0].
	ip := pod.Status.PodIP
	if ip == "" && len(pod.Status.PodIPs) > 0 {
		ip = pod.Status.PodIPs[0].IP
	}
	row := metav1.TableRow{Cells: []any{
		pod.Name, fmt.Sprintf("%d/%d", s.ready, s.total), s.status, restarts, since(pod.CreationTimestamp, now),
		orNone(ip), orNone(pod.Spec.NodeName), orNone(pod.Status.NominatedNodeName), readinessGates(pod),
	}}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		row.Conditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	case corev1.PodFailed:
		row.Conditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodFailed), Message: "The pod failed."}}
	}
	return row, nil
}

// readinessGates is "true/all" of the pod's readiness gates, "<none>" without any.
func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	ready := 0
	for _, g := range pod.Spec.ReadinessGates {
		if hasCondition(pod, g.ConditionType) {
			ready++
		}
	}
	return fmt.Sprintf("%d/%d", ready, len(pod.Spec.ReadinessGates))
}
