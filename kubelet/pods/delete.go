package pods

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncDeleted ends a pod being deleted gracefully: its containers get their
// preStop hooks and SIGTERM, then SIGKILL once the grace period is over; the
// final status is written, every trace removed, and the pod object deleted
// for good, as upstream's kubelet does.
func (k *Kubelet) syncDeleted(ctx context.Context, w *worker, pod *corev1.Pod) time.Duration {
	s := &w.state
	if !s.killed {
		grace := k.gracePeriod(pod)
		if k.anyStarted(s) {
			grace -= k.drain(ctx, pod, k.podIPs(pod, s), grace)
		}
		if err := k.killPod(ctx, w, pod, grace); err != nil {
			k.log.Error("stopping containers of deleted pod", "pod", klogRef(pod), "err", err)
			return time.Second
		}
	}
	if s.phase == "" && s.containers != nil {
		s.phase = corev1.PodSucceeded
		for _, cs := range s.containers {
			if cs.current == nil || !succeeded(cs.current) {
				s.phase = corev1.PodFailed
			}
		}
	}
	if s.containers != nil {
		if err := k.writeStatus(ctx, w, pod); err != nil {
			k.log.Warn("writing final pod status", "pod", klogRef(pod), "err", err)
		}
	}
	if err := k.cleanup(ctx, w); err != nil {
		k.log.Error("cleaning up deleted pod", "pod", klogRef(pod), "err", err)
		return time.Second
	}
	k.back.forget(string(pod.UID) + "/")
	err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.log.Error("deleting pod", "pod", klogRef(pod), "err", err)
		return time.Second
	}
	return 0
}
