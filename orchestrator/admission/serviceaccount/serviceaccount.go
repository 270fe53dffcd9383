// Package serviceaccount is the ServiceAccount admission plugin, reduced to its
// defaulting: a pod created without a service account runs as the namespace's
// "default" one, and the deprecated serviceAccount field always equals
// serviceAccountName.
//
// Mounting service account tokens into pods, and refusing pods whose service
// account does not exist, are outside this package for now; it must not look up or
// create ServiceAccounts or Secrets. Mirror pods, which the kubelet creates for
// static pods, are left without a service account as upstream leaves them.
package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "ServiceAccount"

// DefaultName is the service account pods run as when they name none.
const DefaultName = "default"

// mirrorPodAnnotation marks pods the kubelet mirrors from static manifests.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

var podResource = schema.GroupResource{Resource: "pods"}

// Plugin is the ServiceAccount admission plugin.
type Plugin struct {
	*admission.Handler
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New returns the plugin.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create)}
}

// Admit names the service account of a new pod.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != podResource || a.GetSubresource() != "" || a.GetOperation() != admission.Create {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return nil
	}
	spec := &pod.Spec
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = DefaultName
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
	return nil
}
