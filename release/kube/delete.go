package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var backgroundDeletion = metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}

// DeleteOption changes how Delete deletes.
type DeleteOption func(*deleteOptions) error

type deleteOptions struct {
	propagation metav1.DeletionPropagation
}

// Cascade sets how the dependents of each object go (default Background: the
// garbage collector removes them after the object). With Foreground the object
// stays, marked for deletion, until the garbage collector has removed its
// dependents (a Deployment's ReplicaSets and their Pods), so that waiting for
// the object waits for them too. Orphan leaves them in place.
func Cascade(policy metav1.DeletionPropagation) DeleteOption {
	return func(o *deleteOptions) error {
		switch policy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
			o.propagation = policy
			return nil
		}
		return fmt.Errorf("unknown deletion propagation %q: want %s, %s or %s", policy,
			metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan)
	}
}

// Delete deletes objects in reverse order, letting the garbage collector remove
// their dependents as Cascade says (by default in the background). Objects
// annotated helm.sh/resource-policy: keep, in their manifest or in the cluster,
// are left alone and returned as kept (in the given order); objects already
// gone are not an error. It deletes all it can and reports every failure; a bad
// option deletes nothing.
func (c *Client) Delete(ctx context.Context, objs []Object, opts ...DeleteOption) (kept []Object, err error) {
	o := deleteOptions{propagation: metav1.DeletePropagationBackground}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("deleting objects: %w", err)
		}
	}
	var errs []error
	for _, obj := range slices.Backward(objs) {
		keep, err := c.delete(ctx, obj, o.propagation)
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", obj, err))
		}
		if keep {
			kept = append(kept, obj)
		}
	}
	slices.Reverse(kept)
	return kept, errors.Join(errs...)
}

// delete deletes one object unless it is to be kept.
func (c *Client) delete(ctx context.Context, o Object, propagation metav1.DeletionPropagation) (keep bool, err error) {
	if keptByPolicy(o.Unstructured) {
		c.log.InfoContext(ctx, "keeping object", "object", o.String(), "reason", ResourcePolicyAnnotation+"="+KeepPolicy)
		return true, nil
	}
	live, err := c.get(ctx, o)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if keptByPolicy(live) {
		c.log.InfoContext(ctx, "keeping object", "object", o.String(), "reason", ResourcePolicyAnnotation+"="+KeepPolicy)
		return true, nil
	}
	opts := metav1.DeleteOptions{
		PropagationPolicy: &propagation,
		Preconditions:     &metav1.Preconditions{UID: ptr.To(live.GetUID())},
	}
	err = c.resource(o).Delete(ctx, o.GetName(), opts)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err == nil {
		c.log.InfoContext(ctx, "deleted object", "object", o.String())
	}
	return false, err
}

// Drop deletes the objects of old that new no longer has (the same group, kind,
// namespace and name; the version may differ), as an upgrade or rollback does,
// honouring helm.sh/resource-policy: keep.
func (c *Client) Drop(ctx context.Context, old, new []Object) error {
	if _, err := c.Delete(ctx, dropped(old, new)); err != nil {
		return fmt.Errorf("deleting objects the release no longer has: %w", err)
	}
	return nil
}

// dropped returns the objects of old that are not in new.
func dropped(old, new []Object) []Object {
	present := make(map[objectKey]bool, len(new))
	for _, o := range new {
		present[keyOf(o)] = true
	}
	var gone []Object
	for _, o := range old {
		if !present[keyOf(o)] {
			gone = append(gone, o)
		}
	}
	return gone
}

// WaitForDelete returns when none of objs exists any longer (objects being
// deleted may take a while: finalizers, graceful termination), or fails at the
// timeout naming those still there.
func (c *Client) WaitForDelete(ctx context.Context, objs []Object, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for _, o := range objs {
		if err := c.waitGone(ctx, o, ""); err != nil {
			return fmt.Errorf("waiting for %s to be deleted: %w", o, err)
		}
	}
	return nil
}

// deleteAndWait deletes an object (whatever its resource policy) and returns
// once it is gone.
func (c *Client) deleteAndWait(ctx context.Context, o Object) error {
	live, err := c.get(ctx, o)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	err = c.resource(o).Delete(ctx, o.GetName(), backgroundDeletion)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", o, err)
	}
	if err := c.waitGone(ctx, o, live.GetUID()); err != nil {
		return fmt.Errorf("waiting for %s to be deleted: %w", o, err)
	}
	return nil
}

// waitGone returns when the object no longer exists, or exists as another
// object (a different uid) when uid is set.
func (c *Client) waitGone(ctx context.Context, o Object, uid types.UID) error {
	return c.until(ctx, watchTargets([]Object{o}), func(ctx context.Context) (bool, error) {
		live, err := c.get(ctx, o)
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			return false, err
		}
		return uid != "" && live.GetUID() != uid, nil
	})
}
