package daemonset

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// desired is the number of nodes that should run ds.
func desired(ds *appsv1.DaemonSet, nodes []*corev1.Node) int {
	spec := daemonPodSpec(ds)
	n := 0
	for _, node := range nodes {
		if shouldRun, _ := placement(spec, node); shouldRun {
			n++
		}
	}
	return n
}

// calculateStatus counts ds's nodes and pods into status (which carries the
// collision count the history may have raised). A node with several pods
// counts its oldest.
func calculateStatus(ds *appsv1.DaemonSet, status appsv1.DaemonSetStatus, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string, now time.Time) appsv1.DaemonSetStatus {
	spec := daemonPodSpec(ds)
	status.DesiredNumberScheduled, status.CurrentNumberScheduled, status.NumberMisscheduled = 0, 0, 0
	status.NumberReady, status.NumberAvailable, status.UpdatedNumberScheduled = 0, 0, 0
	for _, node := range nodes {
		shouldRun, _ := placement(spec, node)
		pods := byNode[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				status.NumberMisscheduled++
			}
			continue
		}
		status.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		status.CurrentNumberScheduled++
		pod := slices.MinFunc(pods, olderFirst)
		if podcontrol.IsPodReady(pod) {
			status.NumberReady++
			if podcontrol.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				status.NumberAvailable++
			}
		}
		if updated(pod, hash) {
			status.UpdatedNumberScheduled++
		}
	}
	status.NumberUnavailable = status.DesiredNumberScheduled - status.NumberAvailable
	status.ObservedGeneration = ds.Generation
	return status
}

// updateStatus writes status unless ds already has it, and looks again when
// ready pods should turn available, since nothing else will say so.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, status appsv1.DaemonSetStatus) error {
	if ds.Spec.MinReadySeconds > 0 && status.NumberReady != status.NumberAvailable {
		key, _ := cache.MetaNamespaceKeyFunc(ds)
		c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	if equality.Semantic.DeepEqual(ds.Status, status) {
		return nil
	}
	clone := ds.DeepCopy()
	clone.Status = status
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, clone, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
