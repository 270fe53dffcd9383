package kube

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Helm's ownership metadata and resource policy, which berth keeps so that
// releases move between Helm and berth unchanged.
const (
	ManagedByLabel             = "app.kubernetes.io/managed-by"
	ManagedByHelm              = "Helm"
	ReleaseNameAnnotation      = "meta.helm.sh/release-name"
	ReleaseNamespaceAnnotation = "meta.helm.sh/release-namespace"
	ResourcePolicyAnnotation   = "helm.sh/resource-policy"
	KeepPolicy                 = "keep"
)

var getOptions = metav1.GetOptions{}

// Object is one object of a release: its manifest and how it maps to a
// resource of the API.
type Object struct {
	*unstructured.Unstructured
	Mapping *meta.RESTMapping
	// Source is the template the object was rendered from (the manifest's
	// "# Source:" comment), empty when unknown.
	Source string
}

// String names the object for messages: `Deployment "web" in namespace "shop"`,
// or `ClusterRole "reader"` when cluster-scoped.
func (o Object) String() string {
	if o.namespaced() {
		return fmt.Sprintf("%s %q in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
	}
	return fmt.Sprintf("%s %q", o.GetKind(), o.GetName())
}

// short names the object as status messages do: "Deployment web".
func (o Object) short() string { return o.GetKind() + " " + o.GetName() }

func (o Object) namespaced() bool {
	return o.Mapping != nil && o.Mapping.Scope.Name() == meta.RESTScopeNameNamespace
}

// keptByPolicy reports whether the object asks to outlive its release.
func keptByPolicy(u *unstructured.Unstructured) bool {
	return u != nil && u.GetAnnotations()[ResourcePolicyAnnotation] == KeepPolicy
}

// objectKey identifies an object across revisions: the version may change
// between two manifests and it stays the same object.
type objectKey struct {
	group, kind, namespace, name string
}

func keyOf(o Object) objectKey {
	gk := o.GroupVersionKind().GroupKind()
	if o.Mapping != nil {
		gk = o.Mapping.GroupVersionKind.GroupKind()
	}
	return objectKey{group: gk.Group, kind: gk.Kind, namespace: o.GetNamespace(), name: o.GetName()}
}

// gvk returns the kind the object is served as.
func (o Object) gvk() schema.GroupVersionKind {
	if o.Mapping != nil {
		return o.Mapping.GroupVersionKind
	}
	return o.GroupVersionKind()
}
