package pods

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/kubelet/runtime"
	"berth.dev/berth/kubelet/runtime/crilog"
)

// Condition reasons, as upstream's.
const (
	reasonContainersNotInitialized = "ContainersNotInitialized"
	reasonContainersNotReady       = "ContainersNotReady"
	reasonPodCompleted             = "PodCompleted"
)

// writeStatus computes the pod's status and writes it when it changed.
func (k *Kubelet) writeStatus(ctx context.Context, w *worker, pod *corev1.Pod) error {
	status := k.podStatus(w, pod)
	k.setStatus(pod.UID, status)
	if apiequality.Semantic.DeepEqual(status, pod.Status) ||
		w.state.lastWritten != nil && apiequality.Semantic.DeepEqual(status, *w.state.lastWritten) {
		return nil
	}
	update := pod.DeepCopy()
	update.Status = status
	updated, err := k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, update, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return nil // a newer pod is on its way; its sync writes again
	}
	if err != nil {
		return fmt.Errorf("updating status of pod %s: %w", klogRef(pod), err)
	}
	w.state.lastWritten = &updated.Status
	return nil
}

// podStatus is the pod's status as this node sees it now.
func (k *Kubelet) podStatus(w *worker, pod *corev1.Pod) corev1.PodStatus {
	s := &w.state
	old := pod.Status
	now := metav1.NewTime(k.clock.Now()).Rfc3339Copy()
	status := corev1.PodStatus{
		QOSClass:          old.QOSClass,
		NominatedNodeName: old.NominatedNodeName,
		StartTime:         old.StartTime,
		Resize:            old.Resize,
	}
	if status.StartTime == nil {
		status.StartTime = &now
	}
	for _, ip := range k.cfg.HostIPs {
		status.HostIPs = append(status.HostIPs, corev1.HostIP{IP: ip})
	}
	if len(status.HostIPs) > 0 {
		status.HostIP = status.HostIPs[0].IP
	}
	for _, ip := range k.podIPs(pod, s) {
		status.PodIPs = append(status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(status.PodIPs) > 0 {
		status.PodIP = status.PodIPs[0].IP
	}

	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := k.containerStatus(s, c, reasonContainerCreating)
		status.InitContainerStatuses = append(status.InitContainerStatuses, cs)
		if !(isSidecar(c) && cs.State.Running != nil) && !(cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0) {
			initDone = false
		}
	}
	waitReason := reasonContainerCreating
	if !initDone {
		waitReason = reasonPodInitializing
	}
	for i := range pod.Spec.Containers {
		status.ContainerStatuses = append(status.ContainerStatuses, k.containerStatus(s, &pod.Spec.Containers[i], waitReason))
	}
	status.Phase = podPhase(pod, s, initDone, status.ContainerStatuses)
	if status.Phase == corev1.PodFailed || status.Phase == corev1.PodSucceeded {
		initDone = true
	}
	k.probes.UpdatePodStatus(pod, &status)

	var unready []string
	for _, cs := range status.ContainerStatuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	var uninitialized []string
	for _, cs := range status.InitContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			if !(cs.State.Running != nil && cs.Started != nil && *cs.Started) {
				uninitialized = append(uninitialized, cs.Name)
			}
		}
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, message string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: message}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		c.LastTransitionTime = now
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	sandboxReady := s.sandbox != nil && s.sandbox.State == runtime.SandboxReady
	notReady := func(names []string) string {
		return fmt.Sprintf("containers with unready status: [%s]", strings.Join(names, " "))
	}
	ready, readyReason, readyMsg := len(unready) == 0, reasonContainersNotReady, notReady(unready)
	if status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed {
		ready, readyReason, readyMsg = false, reasonPodCompleted, ""
	}
	status.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, initDone && len(uninitialized) == 0 || status.Phase == corev1.PodSucceeded || status.Phase == corev1.PodFailed,
			reasonContainersNotInitialized, fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(uninitialized, " "))),
		cond(corev1.PodReady, ready, readyReason, readyMsg),
		cond(corev1.ContainersReady, ready, readyReason, readyMsg),
	}
	for _, o := range old.Conditions {
		switch o.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady:
		default:
			status.Conditions = append(status.Conditions, o) // PodScheduled and others' conditions
		}
	}
	sort.SliceStable(status.Conditions, func(i, j int) bool {
		return conditionOrder(status.Conditions[i].Type) < conditionOrder(status.Conditions[j].Type)
	})
	return status
}

func conditionOrder(t corev1.PodConditionType) int {
	switch t {
	case corev1.PodReadyToStartContainers:
		return 0
	case corev1.PodInitialized:
		return 1
	case corev1.PodReady:
		return 2
	case corev1.ContainersReady:
		return 3
	case corev1.PodScheduled:
		return 4
	}
	return 5
}

// podPhase follows upstream's rules: Pending until the init containers are
// done and a container has run; Running while any runs or will be
// restarted; Succeeded or Failed once all are done for good.
func podPhase(pod *corev1.Pod, s *podState, initDone bool, statuses []corev1.ContainerStatus) corev1.PodPhase {
	if s.phase != "" {
		return s.phase
	}
	if !initDone {
		return corev1.PodPending
	}
	running, everStarted := 0, 0
	for _, cs := range statuses {
		if cs.State.Running != nil {
			running++
		}
		if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
			everStarted++
		}
	}
	if running > 0 || everStarted == len(statuses) && len(statuses) > 0 {
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// containerStatus reports one container: its latest attempt's state, the
// attempt before as lastState, and why it waits.
func (k *Kubelet) containerStatus(s *podState, c *corev1.Container, waitReason string) corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	cs := s.containers[c.Name]
	if cs == nil || cs.current == nil {
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: waitReason}
		if cs != nil && cs.waiting != nil {
			st.State.Waiting = cs.waiting.DeepCopy()
		}
		return st
	}
	cur := cs.current
	st.ContainerID = containerIDPrefix + cur.ID
	st.RestartCount = cs.restartCount()
	if id, ref := imageOf(cur); id != "" {
		st.ImageID = ref
	}
	started := false
	st.Started = &started
	switch {
	case cur.State == runtime.ContainerCreated:
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: reasonContainerCreating}
	case cur.State == runtime.ContainerRunning:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.StartedAt).Rfc3339Copy()}
	default:
		term := k.terminated(cs, cur, c)
		if cs.waiting != nil {
			st.State.Waiting = cs.waiting.DeepCopy()
			st.LastTerminationState.Terminated = term
		} else {
			st.State.Terminated = term
		}
	}
	if st.LastTerminationState.Terminated == nil && exited(cs.previous) {
		st.LastTerminationState.Terminated = k.terminated(cs, cs.previous, c)
	}
	return st
}

// terminated describes an exited container with upstream's reasons:
// Completed, Error, OOMKilled, StartError.
func (k *Kubelet) terminated(cs *containerState, ctr *runtime.Container, c *corev1.Container) *corev1.ContainerStateTerminated {
	if ctr.Exit == nil {
		return nil
	}
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(ctr.Exit.Code),
		Signal:      int32(ctr.Exit.Signal),
		ContainerID: containerIDPrefix + ctr.ID,
		FinishedAt:  metav1.NewTime(ctr.Exit.FinishedAt).Rfc3339Copy(),
	}
	if !ctr.StartedAt.IsZero() {
		t.StartedAt = metav1.NewTime(ctr.StartedAt).Rfc3339Copy()
	}
	switch {
	case ctr.Exit.OOMKilled:
		t.Reason = "OOMKilled"
	case ctr.StartedAt.IsZero():
		t.Reason = reasonStartError
		t.ExitCode = 128
	case ctr.Exit.Code == 0:
		t.Reason = "Completed"
	default:
		t.Reason = "Error"
	}
	t.Message = k.terminationMessage(cs, ctr, c)
	return t
}

// terminationMessage reads what the container wrote to its termination log
// (or, with FallbackToLogsOnError and an error exit, its log's tail); it is
// read once and kept.
func (k *Kubelet) terminationMessage(cs *containerState, ctr *runtime.Container, c *corev1.Container) string {
	if msg, ok := cs.messages[ctr.ID]; ok {
		return msg
	}
	var msg string
	if path := ctr.Spec.Labels[labelTermination]; path != "" {
		if b, err := readLimited(path, terminationMessageMaxLength); err == nil {
			msg = string(b)
		}
	}
	if msg == "" && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && ctr.Exit.Code != 0 {
		msg = tailLog(ctr.Spec.LogPath, 80, 2048)
	}
	cs.messages[ctr.ID] = msg
	return msg
}

func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, limit)
	n, err := f.Read(b)
	if n > 0 {
		return b[:n], nil
	}
	return nil, err
}

// tailLog is the last lines of a container's log, at most maxBytes of them.
func tailLog(path string, lines, maxBytes int) string {
	var b bytes.Buffer
	if err := crilog.Read(context.Background(), path, crilog.ReadOptions{TailLines: int64(lines)}, &b); err != nil {
		return ""
	}
	msg := strings.TrimSuffix(b.String(), "\n")
	if len(msg) > maxBytes {
		msg = msg[len(msg)-maxBytes:]
	}
	return msg
}
