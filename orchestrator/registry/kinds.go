package registry

import (
	"context"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// namespaceNameLabel is set on every namespace so that selectors can pick
// namespaces by name, as upstream does.
const namespaceNameLabel = "kubernetes.io/metadata.name"

func prepareNamespace(_ context.Context, obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
	setNamespaceNameLabel(ns)
}

// prepareNamespaceUpdate keeps spec.finalizers: only the finalize subresource changes them.
func prepareNamespaceUpdate(_ context.Context, obj, old runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
	setNamespaceNameLabel(ns)
}

func setNamespaceNameLabel(ns *corev1.Namespace) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[namespaceNameLabel] = ns.Name
}

func preparePod(_ context.Context, obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&pod.Spec)}
}

// podNodeName is the node a pod is bound to, by which the watch cache indexes
// pods.
func podNodeName(obj runtime.Object) string { return obj.(*corev1.Pod).Spec.NodeName }

// qosClass is the quality of service class of a pod, derived from its containers'
// requests and limits as upstream does.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			sum := requests[name]
			sum.Add(q)
			requests[name] = sum
		}
		seen := 0
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			seen++
			sum := limits[name]
			sum.Add(q)
			limits[name] = sum
		}
		if seen < 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// prepareDeploymentUpdate counts a change of annotations as a new generation too:
// the deployment controller reads rollback requests from them.
func prepareDeploymentUpdate(_ context.Context, obj, old runtime.Object) {
	d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	if d.Generation == o.Generation && !equality.Semantic.DeepEqual(d.Annotations, o.Annotations) {
		d.Generation = o.Generation + 1
	}
}

// Labels the API server puts on a Job's pods to tie them to the Job.
const (
	jobControllerUIDLabel = "batch.kubernetes.io/controller-uid"
	jobNameLabel          = "batch.kubernetes.io/job-name"
	legacyControllerUID   = "controller-uid"
	legacyJobName         = "job-name"
)

// prepareJob generates the Job's selector from its uid unless the user chose one
// with spec.manualSelector.
func prepareJob(_ context.Context, obj runtime.Object) {
	job := obj.(*batchv1.Job)
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	uid := string(job.UID)
	job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: uid}}
	labels := job.Spec.Template.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range map[string]string{
		jobControllerUIDLabel: uid, legacyControllerUID: uid,
		jobNameLabel: job.Name, legacyJobName: job.Name,
	} {
		if _, ok := labels[k]; !ok {
			labels[k] = v
		}
	}
	job.Spec.Template.Labels = labels
}
