package deployment

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/orchestrator/controller/deployment/rollout"
)

// rolloutRecreate takes one step of a Recreate rollout: scale every old
// ReplicaSet to zero, wait until the last of their pods is gone (deletePod
// brings d back), and only then create or scale up the new one, so that old
// and new pods never run side by side.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, selector labels.Selector) error {
	// The new ReplicaSet is not created yet: created now it would start pods
	// next to the old ones.
	newRS, old, err := c.replicaSetsAndRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)

	scaledDown := false
	for _, rs := range rollout.Active(old) {
		scaled, _, err := c.scaleReplicaSet(ctx, d, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}

	running, err := c.oldPodsRunning(d, selector, newRS, old)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}

	if newRS == nil {
		if newRS, old, err = c.replicaSetsAndRevision(ctx, d, rsList, true); err != nil {
			return err
		}
		all = withNew(old, newRS)
	}
	if _, _, err := c.scaleReplicaSet(ctx, d, newRS, rollout.Replicas(d.Spec.Replicas)); err != nil {
		return err
	}

	if rollout.Complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether any of d's old ReplicaSets still counts pods,
// or still has a pod that has not finished: a terminating pod still runs.
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, selector labels.Selector, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (bool, error) {
	if rollout.ActualReplicas(old) > 0 {
		return true, nil
	}
	isOld := map[types.UID]bool{}
	for _, rs := range old {
		if newRS == nil || rs.UID != newRS.UID {
			isOld[rs.UID] = true
		}
	}
	pods, err := c.pods.Pods(d.Namespace).List(selector)
	if err != nil {
		return false, fmt.Errorf("listing pods of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil || !isOld[ref.UID] {
			continue
		}
		if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}
