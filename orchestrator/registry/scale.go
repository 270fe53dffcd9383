package registry

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// scaleAccess reads and writes the replica count of a scalable kind.
type scaleAccess struct {
	// replicas returns spec.replicas, status.replicas and the selector as a string.
	read  func(obj runtime.Object) (spec, status int32, selector string, err error)
	write func(obj runtime.Object, replicas int32)
}

func labelSelectorString(s *metav1.LabelSelector) (string, error) {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return "", err
	}
	return sel.String(), nil
}

func deref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

var scalable = map[string]scaleAccess{
	"deployments": {
		read: func(obj runtime.Object) (int32, int32, string, error) {
			d := obj.(*appsv1.Deployment)
			sel, err := labelSelectorString(d.Spec.Selector)
			return deref(d.Spec.Replicas), d.Status.Replicas, sel, err
		},
		write: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
	},
	"replicasets": {
		read: func(obj runtime.Object) (int32, int32, string, error) {
			r := obj.(*appsv1.ReplicaSet)
			sel, err := labelSelectorString(r.Spec.Selector)
			return deref(r.Spec.Replicas), r.Status.Replicas, sel, err
		},
		write: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
	},
	"statefulsets": {
		read: func(obj runtime.Object) (int32, int32, string, error) {
			s := obj.(*appsv1.StatefulSet)
			sel, err := labelSelectorString(s.Spec.Selector)
			return deref(s.Spec.Replicas), s.Status.Replicas, sel, err
		},
		write: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
	},
	"replicationcontrollers": {
		read: func(obj runtime.Object) (int32, int32, string, error) {
			rc := obj.(*corev1.ReplicationController)
			return deref(rc.Spec.Replicas), rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String(), nil
		},
		write: func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
	},
}

// ScaleREST serves the scale subresource (autoscaling/v1 Scale) of a workload, as
// `kubectl scale` and autoscalers use it.
type ScaleREST struct {
	store  *genericregistry.Store
	access scaleAccess
}

var _ rest.Patcher = &ScaleREST{}

func (r *ScaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }
func (r *ScaleREST) Destroy()            {}

func (r *ScaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
}

func (r *ScaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := r.store.Get(ctx, name, options)
	if err != nil {
		return nil, err
	}
	return r.scaleOf(obj)
}

func (r *ScaleREST) scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	spec, status, selector, err := r.access.read(obj)
	if err != nil {
		return nil, errors.NewInternalError(err)
	}
	m := mustAccessor(obj)
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

func (r *ScaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	obj, _, err := r.store.Update(ctx, name, &scaledObject{scale: r, inner: objInfo}, createValidation, updateValidation, false, options)
	if err != nil {
		return nil, false, err
	}
	scale, err := r.scaleOf(obj)
	return scale, false, err
}

// scaledObject turns an update of a Scale into an update of the workload it scales.
type scaledObject struct {
	scale *ScaleREST
	inner rest.UpdatedObjectInfo
}

func (s *scaledObject) Preconditions() *metav1.Preconditions { return s.inner.Preconditions() }

func (s *scaledObject) UpdatedObject(ctx context.Context, old runtime.Object) (runtime.Object, error) {
	current, err := s.scale.scaleOf(old)
	if err != nil {
		return nil, err
	}
	obj, err := s.inner.UpdatedObject(ctx, current)
	if err != nil {
		return nil, err
	}
	scale, ok := obj.(*autoscalingv1.Scale)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("expected a Scale, got %T", obj))
	}
	if scale.Spec.Replicas < 0 {
		return nil, errors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), scale.Name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, "must be greater than or equal to 0")})
	}
	// A Scale carrying a resourceVersion updates only the version it was read from.
	if scale.ResourceVersion != "" && scale.ResourceVersion != current.ResourceVersion {
		return nil, errors.NewConflict(s.scale.store.DefaultQualifiedResource, scale.Name, fmt.Errorf(genericregistry.OptimisticLockErrorMsg))
	}
	updated := old.DeepCopyObject()
	s.scale.access.write(updated, scale.Spec.Replicas)
	return updated, nil
}
