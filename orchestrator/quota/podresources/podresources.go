// Package podresources adds up what a pod requests and limits as a whole, the way
// the scheduler, quota and LimitRange see it: app containers and sidecars run
// together, init containers one at a time, and resources set for the pod as a whole
// replace the containers' sum. It owns that arithmetic only; pod overhead is left to
// the callers that charge it.
package podresources

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
)

// Requests returns what a pod requests as a whole, without overhead.
func Requests(pod *corev1.Pod) corev1.ResourceList {
	total := containerTotal(pod, func(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Requests })
	if pod.Spec.Resources != nil {
		overridePodLevel(total, pod.Spec.Resources.Requests)
	}
	return total
}

// Limits returns a pod's limits as a whole, without overhead.
func Limits(pod *corev1.Pod) corev1.ResourceList {
	total := containerTotal(pod, func(r *corev1.ResourceRequirements) corev1.ResourceList { return r.Limits })
	if pod.Spec.Resources != nil {
		overridePodLevel(total, pod.Spec.Resources.Limits)
	}
	return total
}

// containerTotal adds up one side (requests or limits) of a pod's containers. Init
// containers run one after another before the app containers, so they only raise
// the total to the largest of them; sidecars (init containers that always restart)
// keep running, so each adds to the total and to every init container after it.
//
// For example, app containers of 100m and 200m, a sidecar of 50m and then an init
// container of 500m: the app side is 100m+200m+50m = 350m, the init side peaks at
// 50m+500m = 550m, so the pod requests 550m.
func containerTotal(pod *corev1.Pod, side func(*corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range pod.Spec.Containers {
		total = quotav1.Add(total, side(&pod.Spec.Containers[i].Resources))
	}
	sidecars, initPeak := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		own := side(&c.Resources)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			total = quotav1.Add(total, own)
			sidecars = quotav1.Add(sidecars, own)
			initPeak = quotav1.Max(initPeak, sidecars)
			continue
		}
		initPeak = quotav1.Max(initPeak, quotav1.Add(sidecars, own))
	}
	return quotav1.Max(total, initPeak)
}

// overridePodLevel replaces the container total by the pod-level value for the
// resources that can be set for a pod as a whole (cpu, memory, hugepages).
func overridePodLevel(total, podLevel corev1.ResourceList) {
	for name, q := range podLevel {
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory ||
			strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
			total[name] = q.DeepCopy()
		}
	}
}
