package replicaset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// claimPods returns the pods rs controls, having first adopted the orphans its
// selector matches and released the pods it controls that no longer match, as
// upstream's controller ref manager does. A ReplicaSet being deleted adopts and
// releases nothing.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var (
		claimed  []*corev1.Pod
		errs     []error
		checked  bool
		adoptErr error
	)
	// canAdopt reads rs from the API once, and only if there is an orphan to adopt:
	// the cache may not know yet that rs has been deleted (and perhaps recreated).
	canAdopt := func() error {
		if !checked {
			checked = true
			adoptErr = c.recheck(ctx, rs)
		}
		return adoptErr
	}
	for _, pod := range pods {
		matches := selector.Matches(labels.Set(pod.Labels))
		switch ref := metav1.GetControllerOf(pod); {
		case ref != nil && ref.UID == rs.UID:
			if matches {
				claimed = append(claimed, pod)
			} else if rs.DeletionTimestamp == nil {
				if err := c.release(ctx, rs, pod); err != nil {
					errs = append(errs, err)
				}
			}
		case ref != nil:
			// Another controller's.
		case matches && rs.DeletionTimestamp == nil && pod.DeletionTimestamp == nil:
			if err := canAdopt(); err != nil {
				errs = append(errs, fmt.Errorf("can't adopt Pod %s/%s (%s): %w", pod.Namespace, pod.Name, pod.UID, err))
				continue
			}
			switch err := c.adopt(ctx, rs, pod); {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs = append(errs, err)
			default:
				claimed = append(claimed, pod)
			}
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// recheck fails when rs, as the API has it now, is gone or going.
func (c *Controller) recheck(ctx context.Context, rs *appsv1.ReplicaSet) error {
	fresh, err := c.kind.fresh(ctx, rs.Namespace, rs.Name)
	if err != nil {
		return err
	}
	if fresh.UID != rs.UID {
		return fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s", c.kind.gvk.Kind, rs.Namespace, rs.Name, fresh.UID, rs.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("%s %s/%s has just been deleted at %v", c.kind.gvk.Kind, rs.Namespace, rs.Name, fresh.DeletionTimestamp)
	}
	return nil
}

// adopt makes rs the controller of an orphan pod. The pod's uid in the patch
// makes it fail if the pod was replaced by another of the same name.
func (c *Controller) adopt(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	ref := metav1.NewControllerRef(rs, c.kind.gvk)
	return c.patchOwners(ctx, pod, []any{ref})
}

// release removes rs from a pod's owners, orphaning it.
func (c *Controller) release(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	err := c.patchOwners(ctx, pod, []any{map[string]any{"$patch": "delete", "uid": rs.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		// Gone, or already released (the owner list no longer has rs).
		return nil
	}
	return err
}

func (c *Controller) patchOwners(ctx context.Context, pod *corev1.Pod, owners []any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": owners, "uid": pod.UID}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}
