package podcontrol

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
)

// Claimer decides which objects a controller owns, as upstream's
// ControllerRefManager does: the objects it controls whose labels its selector
// still matches, plus the orphans it matches, which it adopts. Those it controls
// that no longer match it releases. A controller being deleted adopts and
// releases nothing. Make one Claimer per sync: it reads the owner from the API
// at most once.
type Claimer struct {
	client   kubernetes.Interface
	owner    metav1.Object
	gvk      schema.GroupVersionKind
	selector labels.Selector
	fresh    func(ctx context.Context) (metav1.Object, error)

	checked  bool
	adoptErr error
}

// NewClaimer returns a Claimer for owner, of kind gvk, with selector. fresh
// reads owner from the API, not a cache: before adopting, the Claimer checks
// that owner is not being deleted (nor deleted and recreated), which the cache
// may not know yet.
func NewClaimer(client kubernetes.Interface, owner metav1.Object, gvk schema.GroupVersionKind, selector labels.Selector,
	fresh func(ctx context.Context) (metav1.Object, error)) *Claimer {
	return &Claimer{client: client, owner: owner, gvk: gvk, selector: selector, fresh: fresh}
}

// ClaimPods returns the pods of pods the owner controls, adopting and
// releasing as it goes. An orphan is adopted only if every filter accepts it
// too (a controller may not want finished pods, say).
func (c *Claimer) ClaimPods(ctx context.Context, pods []*corev1.Pod, filters ...func(*corev1.Pod) bool) ([]*corev1.Pod, error) {
	match := func(p *corev1.Pod) bool {
		if !c.selector.Matches(labels.Set(p.Labels)) {
			return false
		}
		for _, f := range filters {
			if !f(p) {
				return false
			}
		}
		return true
	}
	patch := func(ctx context.Context, p *corev1.Pod, data []byte) error {
		_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
		return err
	}
	return claim(ctx, c, pods, match, patch)
}

// ClaimRevisions returns the ControllerRevisions of revisions the owner
// controls, adopting and releasing as it goes.
func (c *Claimer) ClaimRevisions(ctx context.Context, revisions []*appsv1.ControllerRevision) ([]*appsv1.ControllerRevision, error) {
	match := func(r *appsv1.ControllerRevision) bool { return c.selector.Matches(labels.Set(r.Labels)) }
	patch := func(ctx context.Context, r *appsv1.ControllerRevision, data []byte) error {
		_, err := c.client.AppsV1().ControllerRevisions(r.Namespace).Patch(ctx, r.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
		return err
	}
	return claim(ctx, c, revisions, match, patch)
}

func claim[T metav1.Object](ctx context.Context, c *Claimer, objs []T, match func(T) bool,
	patch func(context.Context, T, []byte) error) ([]T, error) {
	var (
		claimed []T
		errs    []error
	)
	deleting := c.owner.GetDeletionTimestamp() != nil
	for _, obj := range objs {
		matches := match(obj)
		switch ref := metav1.GetControllerOfNoCopy(obj); {
		case ref != nil && ref.UID == c.owner.GetUID():
			if matches {
				claimed = append(claimed, obj)
			} else if !deleting {
				if err := release(ctx, c, obj, patch); err != nil {
					errs = append(errs, fmt.Errorf("releasing %s/%s: %w", obj.GetNamespace(), obj.GetName(), err))
				}
			}
		case ref != nil:
			// Another controller's.
		case matches && !deleting && obj.GetDeletionTimestamp() == nil && obj.GetNamespace() == c.owner.GetNamespace():
			if err := c.canAdopt(ctx); err != nil {
				errs = append(errs, fmt.Errorf("can't adopt %s/%s (%s): %w", obj.GetNamespace(), obj.GetName(), obj.GetUID(), err))
				continue
			}
			switch err := adopt(ctx, c, obj, patch); {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs = append(errs, fmt.Errorf("adopting %s/%s: %w", obj.GetNamespace(), obj.GetName(), err))
			default:
				claimed = append(claimed, obj)
			}
		}
	}
	return claimed, utilerrors.NewAggregate(errs)
}

// canAdopt fails when the owner, as the API has it now, is gone or going. It
// asks the API once, and only when there is an orphan to adopt.
func (c *Claimer) canAdopt(ctx context.Context) error {
	if c.checked {
		return c.adoptErr
	}
	c.checked = true
	fresh, err := c.fresh(ctx)
	switch {
	case err != nil:
		c.adoptErr = fmt.Errorf("reading %s %s/%s: %w", c.gvk.Kind, c.owner.GetNamespace(), c.owner.GetName(), err)
	case fresh.GetUID() != c.owner.GetUID():
		c.adoptErr = fmt.Errorf("original %s %s/%s is gone: got uid %s, wanted %s",
			c.gvk.Kind, c.owner.GetNamespace(), c.owner.GetName(), fresh.GetUID(), c.owner.GetUID())
	case fresh.GetDeletionTimestamp() != nil:
		c.adoptErr = fmt.Errorf("%s %s/%s has just been deleted at %v",
			c.gvk.Kind, c.owner.GetNamespace(), c.owner.GetName(), fresh.GetDeletionTimestamp())
	}
	return c.adoptErr
}

// adopt makes the owner the controller of an orphan. The object's uid in the
// patch makes it fail if the object was replaced by another of the same name.
func adopt[T metav1.Object](ctx context.Context, c *Claimer, obj T, patch func(context.Context, T, []byte) error) error {
	return patchOwners(ctx, obj, []any{metav1.NewControllerRef(c.owner, c.gvk)}, patch)
}

// release removes the owner from an object's owners, orphaning it.
func release[T metav1.Object](ctx context.Context, c *Claimer, obj T, patch func(context.Context, T, []byte) error) error {
	err := patchOwners(ctx, obj, []any{map[string]any{"$patch": "delete", "uid": c.owner.GetUID()}}, patch)
	if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		// Gone, or already released (the owner list no longer has the owner).
		return nil
	}
	return err
}

func patchOwners[T metav1.Object](ctx context.Context, obj T, owners []any, patch func(context.Context, T, []byte) error) error {
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": owners, "uid": obj.GetUID()}})
	if err != nil {
		return fmt.Errorf("encoding the owners of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return patch(ctx, obj, data)
}
