package registry

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
)

// NamespaceREST deletes namespaces in two steps, as upstream: a delete marks the
// namespace Terminating, the namespace controller removes its content and then its
// "kubernetes" finalizer, and only then is the namespace gone.
type NamespaceREST struct {
	*REST
}

func (r *NamespaceREST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	obj, err := r.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := obj.(*corev1.Namespace)
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	}
	if pre := options.Preconditions; pre != nil {
		if pre.UID != nil && *pre.UID != ns.UID {
			return nil, false, errors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *pre.UID, ns.UID))
		}
		if pre.ResourceVersion != nil && *pre.ResourceVersion != ns.ResourceVersion {
			return nil, false, errors.NewConflict(corev1.Resource("namespaces"), name,
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *pre.ResourceVersion, ns.ResourceVersion))
		}
	}
	if len(ns.Spec.Finalizers) == 0 {
		return r.REST.Delete(ctx, name, deleteValidation, options)
	}
	if ns.DeletionTimestamp != nil {
		return nil, false, errors.NewConflict(corev1.Resource("namespaces"), name,
			fmt.Errorf("The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."))
	}
	if deleteValidation != nil {
		if err := deleteValidation(ctx, ns); err != nil {
			return nil, false, err
		}
	}
	key, err := r.KeyFunc(ctx, name)
	if err != nil {
		return nil, false, err
	}
	out := &corev1.Namespace{}
	err = r.Storage.GuaranteedUpdate(ctx, key, out, false, &storage.Preconditions{UID: &ns.UID}, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		ns := obj.(*corev1.Namespace)
		if ns.DeletionTimestamp == nil {
			now := metav1.Now()
			ns.DeletionTimestamp = &now
			ns.DeletionGracePeriodSeconds = new(int64)
		}
		ns.Status.Phase = corev1.NamespaceTerminating
		if orphan(options) && !slices.Contains(ns.Finalizers, metav1.FinalizerOrphanDependents) {
			ns.Finalizers = append(ns.Finalizers, metav1.FinalizerOrphanDependents)
		}
		return ns, nil
	}), len(options.DryRun) > 0, nil)
	if err != nil {
		return nil, false, err
	}
	return out, false, nil
}

func orphan(options *metav1.DeleteOptions) bool {
	return options.PropagationPolicy != nil && *options.PropagationPolicy == metav1.DeletePropagationOrphan ||
		options.OrphanDependents != nil && *options.OrphanDependents
}

// FinalizeREST serves namespaces/finalize: the only way to change spec.finalizers.
// When the last finalizer of a terminating namespace goes, the namespace goes too.
type FinalizeREST struct {
	store *genericregistry.Store
}

func (r *FinalizeREST) New() runtime.Object { return &corev1.Namespace{} }
func (r *FinalizeREST) Destroy()            {}

func (r *FinalizeREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// finalizeStrategy takes spec.finalizers from the request and everything else from
// the stored namespace.
type finalizeStrategy struct{ strategy }

func (finalizeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ns, oldNs := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	finalizers := ns.Spec.Finalizers
	*ns = *oldNs.DeepCopy()
	ns.Spec.Finalizers = finalizers
}

func finalizeStore(store *genericregistry.Store) *genericregistry.Store {
	s := *store
	st := finalizeStrategy{store.UpdateStrategy.(strategy)}
	s.CreateStrategy, s.DeleteStrategy = nil, nil
	s.UpdateStrategy = st
	s.ResetFieldsStrategy = nil
	return &s
}
