package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"
)

// sync looks at the object with UID key: as an owner being deleted with the
// orphan or foregroundDeletion finalizer, or as a dependent that may be garbage.
func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok := c.graph.object(types.UID(key))
	if !ok {
		return nil // gone: its deletion already woke its dependents
	}
	m := cached.meta
	waitsOnUs := m.DeletionTimestamp != nil &&
		(hasFinalizer(m, metav1.FinalizerOrphanDependents) || hasFinalizer(m, metav1.FinalizerDeleteDependents))
	if !waitsOnUs && (m.DeletionTimestamp != nil || !c.graph.suspect(m)) {
		// Already going, or every owner is in the cache and staying: nothing
		// to ask the API server.
		return nil
	}
	latest, err := c.get(ctx, cached.res, m.Namespace, m.Name, m.UID)
	if err != nil || latest == nil {
		return err
	}
	switch {
	case latest.DeletionTimestamp != nil && hasFinalizer(latest, metav1.FinalizerOrphanDependents):
		return c.orphanDependents(ctx, cached.res, latest)
	case latest.DeletionTimestamp != nil && hasFinalizer(latest, metav1.FinalizerDeleteDependents):
		return c.deleteDependents(ctx, cached.res, latest)
	case latest.DeletionTimestamp != nil:
		return nil
	}
	return c.collect(ctx, cached.res, latest)
}

// collect deletes dependent if none of its owners remains, or strips the
// references to the owners that are gone or waiting on their dependents if one
// remains, as upstream's attemptToDeleteItem does.
func (c *Controller) collect(ctx context.Context, res resource, dependent *metav1.PartialObjectMetadata) error {
	var solid, dangling, waiting []types.UID
	for _, ref := range dependent.OwnerReferences {
		owner, err := c.owner(ctx, res, dependent, ref)
		if errors.Is(err, errUnresolvable) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking up owner %s %q of %s: %w", ref.Kind, ref.Name, describe(res, dependent), err)
		}
		switch {
		case owner == nil:
			dangling = append(dangling, ref.UID)
		case owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, ref.UID)
		default:
			solid = append(solid, ref.UID)
		}
	}
	switch {
	case len(dangling) == 0 && len(waiting) == 0:
		return nil
	case len(solid) > 0:
		// A live owner keeps the object; references that would hold up a
		// foreground deletion or point nowhere go.
		return c.removeOwnerRefs(ctx, res, dependent, append(dangling, waiting...))
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case len(waiting) > 0 && len(c.graph.dependents(dependent.UID)) > 0:
		// An owner waits in foreground deletion: so must this object for
		// its own dependents, for the owner to see them gone in order.
		policy = metav1.DeletePropagationForeground
	case hasFinalizer(dependent, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case hasFinalizer(dependent, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	return c.delete(ctx, res, dependent, policy)
}

// errUnresolvable marks a reference no retry can resolve: a cluster-scoped
// object naming a namespaced owner. Upstream leaves such an object alone.
var errUnresolvable = errors.New("a cluster-scoped object cannot have a namespaced owner")

// owner returns the object ref names as the owner of dependent, or nil if it is
// gone. The cache answers for owners it holds; absence is confirmed by a live
// GET, since the cache may simply not have seen the owner yet. A namespaced
// owner is looked for in the dependent's namespace only.
func (c *Controller) owner(ctx context.Context, res resource, dependent *metav1.PartialObjectMetadata, ref metav1.OwnerReference) (*metav1.PartialObjectMetadata, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("parsing apiVersion %q: %w", ref.APIVersion, err)
	}
	ownerRes, ok := c.graph.kind(gv.WithKind(ref.Kind).GroupKind())
	if !ok {
		// Perhaps a CRD not discovered yet: retry rather than guess.
		return nil, fmt.Errorf("no served resource has kind %s", gv.WithKind(ref.Kind))
	}
	ownerNamespace := ""
	if ownerRes.namespaced {
		if dependent.Namespace == "" {
			c.invalidNamespace(res, dependent, ref, "cluster-scoped objects cannot have namespaced owners")
			return nil, errUnresolvable
		}
		ownerNamespace = dependent.Namespace
	}
	// An owner found gone stays gone (UIDs are never reused): the dependents
	// of one deleted owner, often many, cost one GET between them.
	absentKey := ownerNamespace + "/" + string(ref.UID)
	if _, gone := c.absent.Get(absentKey); gone {
		return nil, nil
	}
	if o, ok := c.graph.object(ref.UID); ok {
		if o.meta.Namespace == ownerNamespace && o.meta.Name == ref.Name {
			return o.meta, nil
		}
		if o.meta.Namespace != ownerNamespace {
			c.invalidNamespace(res, dependent, ref, "namespaced owners must be in the namespace of their dependents")
		}
	}
	o, err := c.get(ctx, ownerRes, ownerNamespace, ref.Name, ref.UID)
	if err == nil && o == nil {
		c.absent.Add(absentKey, struct{}{})
	}
	return o, err
}

// get reads the object name live, or nil if it is gone or is another object
// (another UID) by now.
func (c *Controller) get(ctx context.Context, res resource, namespace, name string, uid types.UID) (*metav1.PartialObjectMetadata, error) {
	o, err := c.resource(res, namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", res.gvr.Resource, namespace, name, err)
	}
	if o.UID != uid {
		return nil, nil
	}
	return o, nil
}

func (c *Controller) resource(res resource, namespace string) metadata.ResourceInterface {
	return c.client.Resource(res.gvr).Namespace(namespace)
}

// delete deletes obj as read at its resourceVersion, so that an object that
// gained an owner meanwhile is spared.
func (c *Controller) delete(ctx context.Context, res resource, obj *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	uid, rv := obj.UID, obj.ResourceVersion
	opts := metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &policy,
	}
	c.log.Info("deleting object whose owners are gone", "object", describe(res, obj), "propagation", policy)
	r := c.resource(res, obj.Namespace)
	err := r.Delete(ctx, obj.Name, opts)
	if apierrors.IsConflict(err) {
		// The object changed, which busy objects (pods) do all the time: it
		// is still garbage if its owners did not change.
		live, gerr := c.get(ctx, res, obj.Namespace, obj.Name, uid)
		if gerr != nil || live == nil {
			return gerr
		}
		if !equality.Semantic.DeepEqual(live.OwnerReferences, obj.OwnerReferences) {
			return fmt.Errorf("deleting %s: its owners changed, looking again", describe(res, obj))
		}
		opts.Preconditions.ResourceVersion = nil
		err = r.Delete(ctx, obj.Name, opts)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s: %w", describe(res, obj), err)
	}
	return nil
}

// orphanDependents strips owner from every dependent, then lets it go.
func (c *Controller) orphanDependents(ctx context.Context, res resource, owner *metav1.PartialObjectMetadata) error {
	for _, d := range c.graph.dependents(owner.UID) {
		if err := c.removeOwnerRefs(ctx, d.res, d.meta, []types.UID{owner.UID}); err != nil {
			return fmt.Errorf("orphaning the dependents of %s: %w", describe(res, owner), err)
		}
	}
	return c.removeFinalizer(ctx, res, owner, metav1.FinalizerOrphanDependents)
}

// deleteDependents deletes the dependents of an owner in foreground deletion
// and lets the owner go once none that blocks it is left. Each dependent's
// deletion wakes the owner again.
func (c *Controller) deleteDependents(ctx context.Context, res resource, owner *metav1.PartialObjectMetadata) error {
	blocking := 0
	for _, d := range c.graph.dependents(owner.UID) {
		for _, ref := range d.meta.OwnerReferences {
			if ref.UID == owner.UID && blocks(ref) {
				blocking++
			}
		}
		if d.meta.DeletionTimestamp == nil {
			c.enqueue(d.meta.UID)
		}
	}
	if blocking > 0 {
		return nil
	}
	return c.removeFinalizer(ctx, res, owner, metav1.FinalizerDeleteDependents)
}

// removeOwnerRefs drops the references to owners from obj, reading it afresh on
// a conflict.
func (c *Controller) removeOwnerRefs(ctx context.Context, res resource, obj *metav1.PartialObjectMetadata, owners []types.UID) error {
	return c.patchLatest(ctx, res, obj, func(m *metav1.PartialObjectMetadata) (map[string]any, bool) {
		kept := slices.DeleteFunc(slices.Clone(m.OwnerReferences), func(r metav1.OwnerReference) bool {
			return slices.Contains(owners, r.UID)
		})
		if len(kept) == len(m.OwnerReferences) {
			return nil, false
		}
		if kept == nil {
			kept = []metav1.OwnerReference{}
		}
		return map[string]any{"ownerReferences": kept}, true
	})
}

// removeFinalizer drops finalizer from obj, which the API server then deletes
// if it was the last one.
func (c *Controller) removeFinalizer(ctx context.Context, res resource, obj *metav1.PartialObjectMetadata, finalizer string) error {
	return c.patchLatest(ctx, res, obj, func(m *metav1.PartialObjectMetadata) (map[string]any, bool) {
		if !hasFinalizer(m, finalizer) {
			return nil, false
		}
		kept := slices.DeleteFunc(slices.Clone(m.Finalizers), func(f string) bool { return f == finalizer })
		if kept == nil {
			kept = []string{}
		}
		return map[string]any{"finalizers": kept}, true
	})
}

// patchLatest writes the metadata fields change computes from obj as a JSON
// merge patch (which every resource, CRDs included, accepts), guarded by UID and
// resourceVersion; on a conflict it reads the object again and recomputes.
func (c *Controller) patchLatest(ctx context.Context, res resource, obj *metav1.PartialObjectMetadata,
	change func(*metav1.PartialObjectMetadata) (map[string]any, bool)) error {
	current := obj
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if current == nil {
			live, err := c.get(ctx, res, obj.Namespace, obj.Name, obj.UID)
			if err != nil || live == nil {
				return err
			}
			current = live
		}
		fields, changed := change(current)
		if !changed {
			return nil
		}
		fields["uid"] = current.UID
		fields["resourceVersion"] = current.ResourceVersion
		patch, err := json.Marshal(map[string]any{"metadata": fields})
		if err != nil {
			return fmt.Errorf("encoding patch of %s: %w", describe(res, current), err)
		}
		_, err = c.resource(res, current.Namespace).Patch(ctx, current.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		current = nil
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("patching %s: %w", describe(res, obj), err)
		}
		return err
	})
}

// invalidNamespace reports a reference that crosses namespaces, as upstream's
// OwnerRefInvalidNamespace warning on the dependent.
func (c *Controller) invalidNamespace(res resource, dependent *metav1.PartialObjectMetadata, ref metav1.OwnerReference, why string) {
	c.log.Warn("ownerReference crosses namespaces", "object", describe(res, dependent), "owner", ref.Name, "kind", ref.Kind)
	if c.recorder == nil {
		return
	}
	c.recorder.Eventf(&corev1.ObjectReference{
		APIVersion: res.gvr.GroupVersion().String(), Kind: res.kind,
		Namespace: dependent.Namespace, Name: dependent.Name, UID: dependent.UID,
	}, corev1.EventTypeWarning, "OwnerRefInvalidNamespace",
		"ownerRef %s does not exist in namespace %q: %s",
		fmt.Sprintf("[%s, namespace: %s, name: %s, uid: %s]", ref.Kind, dependent.Namespace, ref.Name, ref.UID), dependent.Namespace, why)
}

func describe(res resource, m *metav1.PartialObjectMetadata) string {
	if m.Namespace == "" {
		return res.gvr.Resource + "/" + m.Name
	}
	return res.gvr.Resource + " " + m.Namespace + "/" + m.Name
}
