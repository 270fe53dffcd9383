package pods

import (
	corev1 "k8s.io/api/core/v1"
)

// podEvent records an event about the pod.
func (k *Kubelet) podEvent(pod *corev1.Pod, eventtype, reason, format string, args ...any) {
	k.cfg.Recorder.Eventf(pod, eventtype, reason, format, args...)
}

// containerEvent records an event about one of the pod's containers, pointing
// at it with a field path as upstream's kubelet does (spec.containers{web}).
func (k *Kubelet) containerEvent(pod *corev1.Pod, container, eventtype, reason, format string, args ...any) {
	ref := &corev1.ObjectReference{
		Kind:            "Pod",
		APIVersion:      "v1",
		Namespace:       pod.Namespace,
		Name:            pod.Name,
		UID:             pod.UID,
		ResourceVersion: pod.ResourceVersion,
		FieldPath:       containerFieldPath(pod, container),
	}
	k.cfg.Recorder.Eventf(ref, eventtype, reason, format, args...)
}

// ContainerEventf records probe events (probe.Recorder).
func (k *Kubelet) ContainerEventf(pod *corev1.Pod, container, eventtype, reason, format string, args ...any) {
	k.containerEvent(pod, container, eventtype, reason, format, args...)
}
