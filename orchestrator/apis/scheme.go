// Package apis owns the scheme of the API server: which group versions and kinds it
// serves, how their fields are defaulted, and which fields can be selected on.
//
// berth serves the k8s.io/api types as they are and keeps no internal copies of them:
// every kind is registered at its external version and, as the same Go type, at its
// group's internal version, so the API machinery's conversion between the two is a copy.
// This package must not know about storage, HTTP or any component of the cluster.
package apis

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersions lists the group versions berth serves, each group's preferred
// version first.
var GroupVersions = []schema.GroupVersion{
	corev1.SchemeGroupVersion,
	appsv1.SchemeGroupVersion,
	batchv1.SchemeGroupVersion,
	autoscalingv2.SchemeGroupVersion,
	autoscalingv1.SchemeGroupVersion,
	policyv1.SchemeGroupVersion,
	networkingv1.SchemeGroupVersion,
	discoveryv1.SchemeGroupVersion,
	coordinationv1.SchemeGroupVersion,
	schedulingv1.SchemeGroupVersion,
	storagev1.SchemeGroupVersion,
	rbacv1.SchemeGroupVersion,
	authenticationv1.SchemeGroupVersion,
	authorizationv1.SchemeGroupVersion,
	certificatesv1.SchemeGroupVersion,
	eventsv1.SchemeGroupVersion,
	admissionregistrationv1.SchemeGroupVersion,
}

var addToScheme = []func(*runtime.Scheme) error{
	corev1.AddToScheme,
	appsv1.AddToScheme,
	batchv1.AddToScheme,
	autoscalingv2.AddToScheme,
	autoscalingv1.AddToScheme,
	policyv1.AddToScheme,
	networkingv1.AddToScheme,
	discoveryv1.AddToScheme,
	coordinationv1.AddToScheme,
	schedulingv1.AddToScheme,
	storagev1.AddToScheme,
	rbacv1.AddToScheme,
	authenticationv1.AddToScheme,
	authorizationv1.AddToScheme,
	certificatesv1.AddToScheme,
	eventsv1.AddToScheme,
	admissionregistrationv1.AddToScheme,
}

// internalOwner names, for kinds that more than one served version of a group
// defines with different Go types, the version whose type is the internal one.
var internalOwner = map[schema.GroupKind]string{
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:     "v2",
	{Group: "autoscaling", Kind: "HorizontalPodAutoscalerList"}: "v2",
}

// NewExternalScheme returns a scheme with the served kinds at their external versions
// only: what clients see, for naming OpenAPI definitions.
func NewExternalScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range addToScheme {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// NewScheme returns a scheme with every served kind registered at its external and
// internal version, the defaulting functions berth applies, and the field selectors
// each kind supports.
func NewScheme() (*runtime.Scheme, error) {
	s, err := NewExternalScheme()
	if err != nil {
		return nil, err
	}
	for _, gv := range GroupVersions {
		internal := schema.GroupVersion{Group: gv.Group, Version: runtime.APIVersionInternal}
		for kind, typ := range s.KnownTypes(gv) {
			if typ.PkgPath() == "k8s.io/apimachinery/pkg/apis/meta/v1" {
				continue // options and watch events are registered by the meta packages
			}
			if owner, ok := internalOwner[schema.GroupKind{Group: gv.Group, Kind: kind}]; ok && owner != gv.Version {
				continue
			}
			obj, err := s.New(gv.WithKind(kind))
			if err != nil {
				return nil, fmt.Errorf("registering %s at the internal version: %w", gv.WithKind(kind), err)
			}
			s.AddKnownTypeWithName(internal.WithKind(kind), obj)
		}
	}
	// CustomResourceDefinitions come with their own internal types.
	apiextensionsinstall.Install(s)
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	if err := metav1.AddMetaToScheme(s); err != nil {
		return nil, err
	}
	if err := metav1beta1.AddMetaToScheme(s); err != nil {
		return nil, err
	}
	registerDefaults(s)
	if err := registerFieldSelectors(s); err != nil {
		return nil, err
	}
	return s, nil
}
