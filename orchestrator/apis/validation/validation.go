// Package validation owns the validation of objects of the served kinds: names,
// required fields, formats, cross-field rules and immutable fields, with errors
// that name the field as the upstream API server does. It must not mutate objects,
// read storage or know about HTTP.
//
// Objects arrive defaulted, as the REST layer stores them; fields that defaulting
// always sets (a container's imagePullPolicy, a service's sessionAffinity) are
// therefore required here, as upstream requires them.
package validation

import (
	"fmt"
	"reflect"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Create validates a new object.
func Create(obj runtime.Object) field.ErrorList {
	if k := kindOf(obj); k != nil {
		return k.validateCreate(obj)
	}
	return nil
}

// Update validates obj as a replacement of old.
func Update(obj, old runtime.Object) field.ErrorList {
	if k := kindOf(obj); k != nil {
		return k.validateUpdate(obj, old)
	}
	return nil
}

// StatusUpdate validates obj as a status update of old.
func StatusUpdate(obj, old runtime.Object) field.ErrorList {
	if k := kindOf(obj); k != nil {
		return k.validateStatus(obj, old)
	}
	return nil
}

// kinds maps each validated Go type to its rules.
var kinds = map[reflect.Type]validator{}

func init() {
	// core/v1
	register(rules[*corev1.Pod]{namespaced: true, name: nameSubdomain,
		spec: validatePod, create: validatePodCreate, update: validatePodUpdate, status: validatePodStatus})
	register(rules[*corev1.PodTemplate]{namespaced: true, name: nameSubdomain, spec: validatePodTemplate})
	register(rules[*corev1.ReplicationController]{namespaced: true, name: nameSubdomain,
		spec: validateReplicationController, status: validateReplicationControllerStatus})
	register(rules[*corev1.Service]{namespaced: true, name: nameDNS1035Label,
		spec: validateService, update: validateServiceUpdate, status: validateServiceStatus})
	register(rules[*corev1.Endpoints]{namespaced: true, name: nameSubdomain, spec: validateEndpoints})
	register(rules[*corev1.ConfigMap]{namespaced: true, name: nameSubdomain,
		spec: validateConfigMap, update: validateConfigMapUpdate})
	register(rules[*corev1.Secret]{namespaced: true, name: nameSubdomain,
		spec: validateSecret, update: validateSecretUpdate})
	register(rules[*corev1.ServiceAccount]{namespaced: true, name: nameSubdomain})
	register(rules[*corev1.Namespace]{name: nameDNSLabel,
		spec: validateNamespace, status: validateNamespaceStatus})
	register(rules[*corev1.Node]{name: nameSubdomain,
		spec: validateNode, update: validateNodeUpdate, status: validateNodeStatus})
	register(rules[*corev1.Event]{namespaced: true, spec: validateEvent})
	register(rules[*corev1.LimitRange]{namespaced: true, name: nameSubdomain, spec: validateLimitRange})
	register(rules[*corev1.ResourceQuota]{namespaced: true, name: nameSubdomain,
		spec: validateResourceQuota, update: validateResourceQuotaUpdate, status: validateResourceQuotaStatus})
	register(rules[*corev1.PersistentVolume]{name: nameSubdomain,
		spec: validatePersistentVolume, update: validatePersistentVolumeUpdate})
	register(rules[*corev1.PersistentVolumeClaim]{namespaced: true, name: nameSubdomain,
		spec: validatePersistentVolumeClaim, update: validatePersistentVolumeClaimUpdate,
		status: validatePersistentVolumeClaimStatus})

	// apps/v1
	register(rules[*appsv1.Deployment]{namespaced: true, name: nameSubdomain,
		spec: validateDeployment, update: validateDeploymentUpdate, status: validateDeploymentStatus})
	register(rules[*appsv1.ReplicaSet]{namespaced: true, name: nameSubdomain,
		spec: validateReplicaSet, update: validateReplicaSetUpdate, status: validateReplicaSetStatus})
	register(rules[*appsv1.StatefulSet]{namespaced: true, name: nameDNSLabel,
		spec: validateStatefulSet, update: validateStatefulSetUpdate, status: validateStatefulSetStatus})
	register(rules[*appsv1.DaemonSet]{namespaced: true, name: nameSubdomain,
		spec: validateDaemonSet, update: validateDaemonSetUpdate, status: validateDaemonSetStatus})
	register(rules[*appsv1.ControllerRevision]{namespaced: true, name: nameSubdomain,
		spec: validateControllerRevision, update: validateControllerRevisionUpdate})

	// batch/v1
	register(rules[*batchv1.Job]{namespaced: true, name: nameSubdomain,
		spec: validateJob, update: validateJobUpdate, status: validateJobStatus})
	register(rules[*batchv1.CronJob]{namespaced: true, name: nameSubdomain,
		spec: validateCronJob, create: validateCronJobCreate, update: validateCronJobUpdate})

	// autoscaling
	register(rules[*autoscalingv2.HorizontalPodAutoscaler]{namespaced: true, name: nameSubdomain,
		spec: validateHPA, status: validateHPAStatus})
	register(rules[*autoscalingv1.HorizontalPodAutoscaler]{namespaced: true, name: nameSubdomain,
		spec: validateHPAv1, status: validateHPAv1Status})

	// policy/v1
	register(rules[*policyv1.PodDisruptionBudget]{namespaced: true, name: nameSubdomain,
		spec: validatePodDisruptionBudget, status: validatePodDisruptionBudgetStatus})

	// networking.k8s.io/v1
	register(rules[*networkingv1.Ingress]{namespaced: true, name: nameSubdomain,
		spec: validateIngress, create: validateIngressCreate, status: validateIngressStatus})
	register(rules[*networkingv1.IngressClass]{name: nameSubdomain,
		spec: validateIngressClass, update: validateIngressClassUpdate})
	register(rules[*networkingv1.NetworkPolicy]{namespaced: true, name: nameSubdomain, spec: validateNetworkPolicy})

	// discovery.k8s.io/v1
	register(rules[*discoveryv1.EndpointSlice]{namespaced: true, name: nameSubdomain,
		spec: validateEndpointSlice, update: validateEndpointSliceUpdate})

	// coordination.k8s.io/v1
	register(rules[*coordinationv1.Lease]{namespaced: true, name: nameSubdomain, spec: validateLease})

	// scheduling.k8s.io/v1
	register(rules[*schedulingv1.PriorityClass]{name: nameSubdomain,
		spec: validatePriorityClass, update: validatePriorityClassUpdate})

	// storage.k8s.io/v1
	register(rules[*storagev1.StorageClass]{name: nameSubdomain,
		spec: validateStorageClass, update: validateStorageClassUpdate})

	// rbac.authorization.k8s.io/v1
	register(rules[*rbacv1.Role]{namespaced: true, name: namePathSegment, spec: validateRole})
	register(rules[*rbacv1.ClusterRole]{name: namePathSegment, spec: validateClusterRole})
	register(rules[*rbacv1.RoleBinding]{namespaced: true, name: namePathSegment,
		spec: validateRoleBinding, update: validateRoleBindingUpdate})
	register(rules[*rbacv1.ClusterRoleBinding]{name: namePathSegment,
		spec: validateClusterRoleBinding, update: validateClusterRoleBindingUpdate})

	// certificates.k8s.io/v1
	register(rules[*certificatesv1.CertificateSigningRequest]{name: nameAny,
		spec: validateCSR, update: validateCSRUpdate, status: validateCSRStatus})

	// admissionregistration.k8s.io/v1: metadata only.
	register(rules[*admissionregistrationv1.ValidatingWebhookConfiguration]{name: nameSubdomain})
	register(rules[*admissionregistrationv1.MutatingWebhookConfiguration]{name: nameSubdomain})
}

func kindOf(obj runtime.Object) validator {
	if obj == nil {
		return nil
	}
	return kinds[reflect.TypeOf(obj)]
}

func register[T object](r rules[T]) {
	kinds[reflect.TypeFor[T]()] = r
}

// object is what every validated kind is: a pointer to a struct with object metadata.
type object interface {
	runtime.Object
	metav1.Object
}

type validator interface {
	validateCreate(obj runtime.Object) field.ErrorList
	validateUpdate(obj, old runtime.Object) field.ErrorList
	validateStatus(obj, old runtime.Object) field.ErrorList
}

// rules are the validation of one kind. Metadata is validated from the scope and
// the name rule; the functions add the rest and may be nil.
type rules[T object] struct {
	namespaced bool
	// name validates metadata.name; nil means the kind's metadata is not validated
	// at all (core/v1 events, as upstream).
	name nameFunc

	spec   func(obj T) field.ErrorList      // everything but metadata, on create and update
	create func(obj T) field.ErrorList      // create only
	update func(obj, old T) field.ErrorList // update only: transitions and immutable fields
	status func(obj, old T) field.ErrorList // the status subresource, besides metadata
}

func (r rules[T]) validateCreate(o runtime.Object) field.ErrorList {
	obj := o.(T)
	var errs field.ErrorList
	if r.name != nil {
		errs = validateMeta(obj, r.namespaced, r.name)
	}
	if r.spec != nil {
		errs = append(errs, r.spec(obj)...)
	}
	if r.create != nil {
		errs = append(errs, r.create(obj)...)
	}
	return errs
}

func (r rules[T]) validateUpdate(o, oldObj runtime.Object) field.ErrorList {
	obj := o.(T)
	old, ok := oldObj.(T)
	if !ok {
		return mismatch(obj, oldObj)
	}
	var errs field.ErrorList
	if r.name != nil {
		errs = validateMetaUpdate(obj, old)
	}
	if r.spec != nil {
		errs = append(errs, r.spec(obj)...)
	}
	if r.update != nil {
		errs = append(errs, r.update(obj, old)...)
	}
	return errs
}

func (r rules[T]) validateStatus(o, oldObj runtime.Object) field.ErrorList {
	obj := o.(T)
	old, ok := oldObj.(T)
	if !ok {
		return mismatch(obj, oldObj)
	}
	var errs field.ErrorList
	if r.name != nil {
		errs = validateMetaUpdate(obj, old)
	}
	if r.status != nil {
		errs = append(errs, r.status(obj, old)...)
	}
	return errs
}

func mismatch(obj, old runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot validate %T as an update of %T", obj, old))}
}
