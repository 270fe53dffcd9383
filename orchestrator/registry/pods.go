package registry

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/util/retry"
)

var (
	podsResource = corev1.Resource("pods")
	bindingKind  = corev1.SchemeGroupVersion.WithKind("Binding").GroupKind()
)

// podGracePeriod decides how gracefully a pod is deleted: a pod that never reached
// a node, or whose containers have all finished, goes at once; one that runs gets
// its terminationGracePeriodSeconds unless the request says otherwise, and its node
// removes it once its containers have stopped.
func podGracePeriod(_ context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	pod := obj.(*corev1.Pod)
	var grace int64
	switch {
	case options.GracePeriodSeconds != nil:
		grace = *options.GracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = *pod.Spec.TerminationGracePeriodSeconds
	default:
		grace = corev1.DefaultTerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		grace = 0
	}
	options.GracePeriodSeconds = &grace
	return true
}

// BindingREST assigns a pod to a node (pods/binding), as the scheduler does.
type BindingREST struct {
	pods *genericregistry.Store
}

var _ rest.NamedCreater = &BindingREST{}

func (r *BindingREST) New() runtime.Object { return &corev1.Binding{} }
func (r *BindingREST) Destroy()            {}

func (r *BindingREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	binding, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not a Binding object: %T", obj))
	}
	if name != binding.Name {
		return nil, errors.NewBadRequest("name in URL does not match name in Binding object")
	}
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		return nil, errors.NewInvalid(bindingKind, name,
			field.ErrorList{field.NotSupported(field.NewPath("target", "kind"), binding.Target.Kind, []string{"Node", "<empty>"})})
	}
	if binding.Target.Name == "" {
		return nil, errors.NewInvalid(bindingKind, name, field.ErrorList{field.Required(field.NewPath("target", "name"), "")})
	}
	if createValidation != nil {
		if err := createValidation(ctx, binding.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	err := r.update(ctx, name, string(binding.UID), binding.ResourceVersion, len(options.DryRun) > 0, func(pod *corev1.Pod) error {
		if pod.DeletionTimestamp != nil {
			return errors.NewConflict(podsResource, name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", name))
		}
		if pod.Spec.NodeName != "" {
			return errors.NewConflict(podsResource, name, fmt.Errorf("pod %v is already assigned to node %q", name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = binding.Target.Name
		for k, v := range binding.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, nil
}

// update changes a stored pod in place, bypassing the pod strategy: binding writes
// spec and status together, which no client may do.
func (r *BindingREST) update(ctx context.Context, name string, uid, resourceVersion string, dryRun bool, change func(*corev1.Pod) error) error {
	key, err := r.pods.KeyFunc(ctx, name)
	if err != nil {
		return err
	}
	var pre *storage.Preconditions
	if uid != "" || resourceVersion != "" {
		pre = &storage.Preconditions{}
		if uid != "" {
			u := types.UID(uid)
			pre.UID = &u
		}
		if resourceVersion != "" {
			pre.ResourceVersion = &resourceVersion
		}
	}
	return r.pods.Storage.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, pre, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		pod := obj.(*corev1.Pod)
		if err := change(pod); err != nil {
			return nil, err
		}
		return pod, nil
	}), dryRun, nil)
}

func setPodCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	now := metav1.Now()
	c.LastTransitionTime = now
	for i := range status.Conditions {
		if status.Conditions[i].Type == c.Type {
			if status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = status.Conditions[i].LastTransitionTime
			}
			status.Conditions[i] = c
			return
		}
	}
	status.Conditions = append(status.Conditions, c)
}

// EvictionREST evicts a pod (pods/eviction): it deletes the pod only if no
// PodDisruptionBudget forbids it, as `kubectl drain` expects.
type EvictionREST struct {
	pods      *genericregistry.Store
	pdbs      *genericregistry.Store
	pdbStatus *StatusREST
}

var _ rest.NamedCreater = &EvictionREST{}

func (r *EvictionREST) New() runtime.Object { return &policyv1.Eviction{} }
func (r *EvictionREST) Destroy()            {}

// GroupVersionKind tells the API installer that evictions are policy/v1 objects.
func (r *EvictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return policyv1.SchemeGroupVersion.WithKind("Eviction")
}

func (r *EvictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	eviction, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not an Eviction object: %T", obj))
	}
	if name != eviction.Name {
		return nil, errors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if createValidation != nil {
		if err := createValidation(ctx, eviction.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	deleteOptions := eviction.DeleteOptions
	if deleteOptions == nil {
		deleteOptions = &metav1.DeleteOptions{}
	}
	if len(options.DryRun) > 0 {
		deleteOptions.DryRun = options.DryRun
	}
	obj, err := r.pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pod := obj.(*corev1.Pod)
	if !exemptFromBudgets(pod) {
		if err := r.takeDisruption(ctx, pod, len(options.DryRun) > 0); err != nil {
			return nil, err
		}
	}
	if _, _, err := r.pods.Delete(ctx, name, rest.ValidateAllObjectFunc, deleteOptions); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: http.StatusCreated}, nil
}

// exemptFromBudgets: a pod that is finished, not yet running or already going
// counts against no budget.
func exemptFromBudgets(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

// takeDisruption records the eviction in the pod's budget, or refuses it with 429
// when the budget allows no disruption now.
func (r *EvictionREST) takeDisruption(ctx context.Context, pod *corev1.Pod, dryRun bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		list, err := r.pdbs.List(genericapirequest.WithNamespace(ctx, pod.Namespace), nil)
		if err != nil {
			return err
		}
		var matching []policyv1.PodDisruptionBudget
		for _, pdb := range list.(*policyv1.PodDisruptionBudgetList).Items {
			selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || selector.Empty() || !selector.Matches(labels.Set(pod.Labels)) {
				continue
			}
			matching = append(matching, pdb)
		}
		switch len(matching) {
		case 0:
			return nil
		case 1:
		default:
			return errors.NewInternalError(fmt.Errorf("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
		}
		pdb := matching[0]
		if pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.DisruptionsAllowed <= 0 {
			err := errors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
			err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
				Type:    "DisruptionBudget",
				Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy),
			})
			return err
		}
		pdb.Status.DisruptionsAllowed--
		if pdb.Status.DisruptedPods == nil {
			pdb.Status.DisruptedPods = map[string]metav1.Time{}
		}
		pdb.Status.DisruptedPods[pod.Name] = metav1.NewTime(time.Now())
		if dryRun {
			return nil
		}
		_, _, err = r.pdbStatus.Update(genericapirequest.WithNamespace(ctx, pdb.Namespace), pdb.Name,
			rest.DefaultUpdatedObjectInfo(&pdb), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{})
		return err
	})
}
