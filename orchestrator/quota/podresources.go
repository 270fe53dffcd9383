package quota

import (
	corev1 "k8s.io/api/core/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"

	"berth.dev/berth/orchestrator/quota/podresources"
)

// podRequests returns what a pod requests as a whole, overhead included: the
// overhead of running the pod is charged like its containers.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	return quotav1.Add(podresources.Requests(pod), pod.Spec.Overhead)
}

// podLimits returns a pod's limits as a whole; overhead only adds to resources that
// are limited at all.
func podLimits(pod *corev1.Pod) corev1.ResourceList {
	limits := podresources.Limits(pod)
	for name, q := range pod.Spec.Overhead {
		if l, ok := limits[name]; ok {
			l.Add(q)
			limits[name] = l
		}
	}
	return limits
}
