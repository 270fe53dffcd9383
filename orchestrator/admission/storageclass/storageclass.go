// Package storageclass is the DefaultStorageClass admission plugin: a new
// PersistentVolumeClaim that names no storage class (spec.storageClassName
// unset, not even "") is given the cluster's default StorageClass, the one
// annotated storageclass.kubernetes.io/is-default-class: "true" (the newest, when
// several are). It also owns that choice for the PersistentVolume binder, which
// gives the default class to claims created before any class was default.
//
// It only sets storageClassName on claims being created; it must not change a
// class a claim states, and binding or provisioning volumes is the binder's and
// the provisioners' business.
package storageclass

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	storagelisters "k8s.io/client-go/listers/storage/v1"

	"berth.dev/berth/orchestrator/admission/defaultclass"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "DefaultStorageClass"

const (
	// AnnDefault marks the default StorageClass when its value is "true".
	AnnDefault = "storageclass.kubernetes.io/is-default-class"
	// AnnBetaDefault is the beta spelling of AnnDefault, still honoured.
	AnnBetaDefault = "storageclass.beta.kubernetes.io/is-default-class"
	// annBetaClass is the beta annotation that named a claim's class before
	// spec.storageClassName existed; a claim carrying it has a class.
	annBetaClass = "volume.beta.kubernetes.io/storage-class"
)

var claimResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

// Plugin is the DefaultStorageClass admission plugin.
type Plugin struct {
	*admission.Handler
	lister storagelisters.StorageClassLister
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New returns the plugin, reading StorageClasses from f's informer.
func New(f informers.SharedInformerFactory) *Plugin {
	informer := f.Storage().V1().StorageClasses()
	p := &Plugin{Handler: admission.NewHandler(admission.Create), lister: informer.Lister()}
	p.SetReadyFunc(informer.Informer().HasSynced)
	return p
}

// Admit gives a new claim without a class the default class, if there is one.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != claimResource || a.GetSubresource() != "" {
		return nil
	}
	pvc, ok := a.GetObject().(*corev1.PersistentVolumeClaim)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind PersistentVolumeClaim but was unable to be converted")
	}
	if HasClass(pvc) {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	def, err := Default(p.lister)
	if err != nil {
		return admission.NewForbidden(a, err)
	}
	if def != nil {
		pvc.Spec.StorageClassName = &def.Name
	}
	return nil
}

// HasClass reports whether a claim asked for a class, be it "" (no class): only
// claims that did not are given the default.
func HasClass(pvc *corev1.PersistentVolumeClaim) bool {
	if pvc.Spec.StorageClassName != nil {
		return true
	}
	_, ok := pvc.Annotations[annBetaClass]
	return ok
}

// IsDefault reports whether a StorageClass is marked as the default.
func IsDefault(meta metav1.ObjectMeta) bool {
	return meta.Annotations[AnnDefault] == "true" || meta.Annotations[AnnBetaDefault] == "true"
}

// Default returns the default StorageClass, or nil when no class is marked as
// the default. When several are, the newest wins (ties go to the first name),
// as upstream, so that adding a new default class takes over from the old one.
func Default(lister storagelisters.StorageClassLister) (*storagev1.StorageClass, error) {
	classes, err := lister.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing storage classes: %w", err)
	}
	return defaultclass.Newest(classes, func(c *storagev1.StorageClass) bool { return IsDefault(c.ObjectMeta) }), nil
}
