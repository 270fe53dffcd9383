// Package ingressclass is the DefaultIngressClass admission plugin: a new
// networking.k8s.io Ingress that names no class (spec.ingressClassName unset,
// not even "", and no legacy kubernetes.io/ingress.class annotation) is given
// the cluster's default IngressClass, the one annotated
// ingressclass.kubernetes.io/is-default-class: "true" (the newest, when several
// are).
//
// It only sets ingressClassName on Ingresses being created; it must not change a
// class an Ingress states, or touch an existing Ingress, and routing traffic is
// the Ingress controllers' business.
package ingressclass

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	networkinglisters "k8s.io/client-go/listers/networking/v1"

	"berth.dev/berth/orchestrator/admission/defaultclass"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "DefaultIngressClass"

const (
	// AnnDefault marks the default IngressClass when its value is "true".
	AnnDefault = networkingv1.AnnotationIsDefaultIngressClass
	// annLegacyClass named an Ingress's class before spec.ingressClassName
	// existed; an Ingress carrying it, whatever its value, has a class.
	annLegacyClass = "kubernetes.io/ingress.class"
)

var ingressResource = networkingv1.Resource("ingresses")

// Plugin is the DefaultIngressClass admission plugin.
type Plugin struct {
	*admission.Handler
	lister networkinglisters.IngressClassLister
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New returns the plugin, reading IngressClasses from f's informer.
func New(f informers.SharedInformerFactory) *Plugin {
	informer := f.Networking().V1().IngressClasses()
	p := &Plugin{Handler: admission.NewHandler(admission.Create), lister: informer.Lister()}
	p.SetReadyFunc(informer.Informer().HasSynced)
	return p
}

// Admit gives a new Ingress without a class the default class, if there is one.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != ingressResource || a.GetSubresource() != "" {
		return nil
	}
	ing, ok := a.GetObject().(*networkingv1.Ingress)
	if !ok {
		// The API server decoded an ingresses request into something else: our
		// bug, not the client's, hence internal as upstream.
		return apierrors.NewInternalError(fmt.Errorf("expected an Ingress, got %T", a.GetObject()))
	}
	if hasClass(ing) {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	def, err := defaultClass(p.lister)
	if err != nil {
		return admission.NewForbidden(a, err)
	}
	if def != nil {
		ing.Spec.IngressClassName = &def.Name
	}
	return nil
}

// hasClass reports whether an Ingress asked for a class, be it "": only
// Ingresses that did not are given the default. The legacy annotation counts,
// since defaulting the field next to it could contradict it, which validation
// would then refuse.
func hasClass(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil {
		return true
	}
	_, ok := ing.Annotations[annLegacyClass]
	return ok
}

// defaultClass returns the default IngressClass, or nil when no class is marked
// as the default. When several are, the newest wins (ties go to the first
// name), as upstream since 1.28: a cluster briefly holds two defaults while one
// replaces another, and refusing every Ingress meanwhile helps nobody.
func defaultClass(lister networkinglisters.IngressClassLister) (*networkingv1.IngressClass, error) {
	classes, err := lister.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing ingress classes: %w", err)
	}
	return defaultclass.Newest(classes, func(c *networkingv1.IngressClass) bool { return c.Annotations[AnnDefault] == "true" }), nil
}
