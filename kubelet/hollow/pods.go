package hollow

import (
	"context"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// A pod on a hollow node goes through these stages, each taken once, after a
// delay, by a timer keyed by the pod's uid and the stage.
type stage int

const (
	stageStart  stage = iota // Pending → Running (Ready unless told otherwise)
	stageExit                // Running → Succeeded or Failed, for pods that end
	stageDelete              // deletion requested → gone
)

func (n *Nodes) podChanged(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	i, ours := n.names[pod.Spec.NodeName]
	if !ours {
		return
	}
	n.mu.Lock()
	stopped := n.stopped[pod.Spec.NodeName]
	n.mu.Unlock()
	if stopped {
		return // a dead kubelet reports nothing and deletes nothing
	}
	switch {
	case pod.DeletionTimestamp != nil:
		// Containers stop at once; the pod goes when the grace period allows.
		n.after(ctx, pod, stageDelete, 100*time.Millisecond, func(ctx context.Context) error {
			return n.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
				GracePeriodSeconds: new(int64),
				Preconditions:      &metav1.Preconditions{UID: &pod.UID},
			})
		})
	case pod.Status.Phase == corev1.PodPending && len(pod.Status.ContainerStatuses) == 0:
		n.after(ctx, pod, stageStart, n.cfg.StartDelay, func(ctx context.Context) error {
			return n.updateStatus(ctx, pod, func(p *corev1.Pod) { n.run(p, i) })
		})
	case pod.Status.Phase == corev1.PodRunning && pod.Spec.RestartPolicy != corev1.RestartPolicyAlways:
		seconds, _ := strconv.ParseFloat(pod.Annotations[AnnotationRunSeconds], 64)
		if seconds <= 0 {
			seconds = 1
		}
		code, _ := strconv.Atoi(pod.Annotations[AnnotationExitCode])
		n.after(ctx, pod, stageExit, time.Duration(seconds*float64(time.Second)), func(ctx context.Context) error {
			return n.updateStatus(ctx, pod, func(p *corev1.Pod) { exit(p, int32(code)) })
		})
	}
}

func (n *Nodes) podGone(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := stageStart; s <= stageDelete; s++ {
		if t, ok := n.pending[timerKey(pod.UID, s)]; ok {
			t.Stop()
			delete(n.pending, timerKey(pod.UID, s))
		}
	}
	delete(n.podIPs, string(pod.UID))
}

func timerKey(uid types.UID, s stage) string { return string(uid) + "/" + strconv.Itoa(int(s)) }

// after runs f once for a pod's stage, delay from now.
func (n *Nodes) after(ctx context.Context, pod *corev1.Pod, s stage, delay time.Duration, f func(context.Context) error) {
	key := timerKey(pod.UID, s)
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.pending[key]; ok {
		return
	}
	n.pending[key] = time.AfterFunc(delay, func() {
		if ctx.Err() != nil {
			return
		}
		if err := f(ctx); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			n.cfg.Log.Warn("hollow pod transition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	})
}

// updateStatus applies change to the pod as stored and writes its status.
func (n *Nodes) updateStatus(ctx context.Context, pod *corev1.Pod, change func(*corev1.Pod)) error {
	pods := n.cfg.Client.CoreV1().Pods(pod.Namespace)
	current, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if current.UID != pod.UID || current.DeletionTimestamp != nil {
		return nil
	}
	change(current)
	_, err = pods.UpdateStatus(ctx, current, metav1.UpdateOptions{})
	return err
}

// podIP hands out a made-up address in 100.96.0.0/11 for a pod.
func (n *Nodes) podIP(uid types.UID) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.podIPs[string(uid)]; ok {
		return ip
	}
	n.nextIP++
	v := n.nextIP % (1 << 21)
	ip := net.IPv4(100, 96+byte(v>>16), byte(v>>8), byte(v)).String()
	n.podIPs[string(uid)] = ip
	return ip
}

// run makes the pod Running on node i, its containers started, and Ready unless
// the pod says otherwise.
func (n *Nodes) run(p *corev1.Pod, i int) {
	now := metav1.Now()
	ready := p.Annotations[AnnotationReady] != "false"
	p.Status.Phase = corev1.PodRunning
	p.Status.HostIP = n.address(i)
	p.Status.HostIPs = []corev1.HostIP{{IP: p.Status.HostIP}}
	p.Status.PodIP = p.Status.HostIP
	if !p.Spec.HostNetwork {
		p.Status.PodIP = n.podIP(p.UID)
	}
	p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
	p.Status.StartTime = &now
	readyStatus := corev1.ConditionFalse
	if ready {
		readyStatus = corev1.ConditionTrue
	}
	for _, c := range []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: readyStatus},
		{Type: corev1.PodReady, Status: readyStatus},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	} {
		c.LastTransitionTime = now
		setCondition(&p.Status, c)
	}
	p.Status.InitContainerStatuses = nil
	for _, c := range p.Spec.InitContainers {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "hollow://" + c.Image, ContainerID: containerID(p, c.Name), Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
		})
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "hollow://" + c.Image, ContainerID: containerID(p, c.Name),
			Ready: ready, Started: new(bool(true)),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
}

// exit ends the pod's containers with code: Succeeded on 0, Failed otherwise.
func exit(p *corev1.Pod, code int32) {
	now := metav1.Now()
	reason, phase := "Completed", corev1.PodSucceeded
	if code != 0 {
		reason, phase = "Error", corev1.PodFailed
	}
	p.Status.Phase = phase
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		started := now
		if cs.State.Running != nil {
			started = cs.State.Running.StartedAt
		}
		cs.Ready, cs.Started = false, new(bool)
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, StartedAt: started, FinishedAt: now, ContainerID: cs.ContainerID}}
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
		setCondition(&p.Status, corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now})
	}
}

func containerID(p *corev1.Pod, name string) string { return "hollow://" + string(p.UID) + "/" + name }

func setCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	for i := range status.Conditions {
		if status.Conditions[i].Type == c.Type {
			if status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = status.Conditions[i].LastTransitionTime
			}
			status.Conditions[i] = c
			return
		}
	}
	status.Conditions = append(status.Conditions, c)
}
