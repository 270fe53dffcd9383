package deployment

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// claimReplicaSets returns the ReplicaSets d controls, having first adopted
// the orphans its selector matches and released those it controls that no
// longer match. A Deployment being deleted adopts and releases nothing.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, selector labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.replicaSets.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing replica sets in %s: %w", d.Namespace, err)
	}
	var (
		claimed  []*appsv1.ReplicaSet
		errs     []error
		checked  bool
		adoptErr error
	)
	canAdopt := func() error {
		if !checked {
			checked = true
			adoptErr = c.recheck(ctx, d)
		}
		return adoptErr
	}
	for _, rs := range all {
		matches := selector.Matches(labels.Set(rs.Labels))
		switch ref := metav1.GetControllerOf(rs); {
		case ref != nil && ref.UID == d.UID:
			if matches {
				claimed = append(claimed, rs)
			} else if d.DeletionTimestamp == nil {
				err := c.patchOwners(ctx, rs, map[string]any{"$patch": "delete", "uid": d.UID})
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
					errs = append(errs, fmt.Errorf("releasing replica set %s/%s: %w", rs.Namespace, rs.Name, err))
				}
			}
		case ref != nil:
		case matches && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			if err := canAdopt(); err != nil {
				errs = append(errs, fmt.Errorf("can't adopt ReplicaSet %s/%s (%s): %w", rs.Namespace, rs.Name, rs.UID, err))
				continue
			}
			switch err := c.patchOwners(ctx, rs, metav1.NewControllerRef(d, deploymentKind)); {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs = append(errs, fmt.Errorf("adopting replica set %s/%s: %w", rs.Namespace, rs.Name, err))
			default:
				claimed = append(claimed, rs)
			}
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// recheck fails when d, as the API has it now, is gone or going: the cache
// may not know yet.
func (c *Controller) recheck(ctx context.Context, d *appsv1.Deployment) error {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("getting deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("original Deployment %s/%s is gone: got uid %s, wanted %s", d.Namespace, d.Name, fresh.UID, d.UID)
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("deployment %s/%s has just been deleted at %v", d.Namespace, d.Name, fresh.DeletionTimestamp)
	}
	return nil
}

// patchOwners patches one owner reference into (or, with "$patch": "delete",
// out of) rs; rs's uid in the patch makes it fail on a replaced ReplicaSet.
func (c *Controller) patchOwners(ctx context.Context, rs *appsv1.ReplicaSet, owner any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": []any{owner}, "uid": rs.UID}})
	if err != nil {
		return err
	}
	_, err = c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}
