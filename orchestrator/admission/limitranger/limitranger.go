// Package limitranger is the LimitRanger admission plugin: it applies the
// LimitRanges of a namespace to the pods and persistent volume claims created in it.
// When a pod is created it fills in the container requests and limits the pod leaves
// out from the default and defaultRequest of Container limits (the mutating half),
// then refuses pods whose containers, or the pod as a whole, fall outside min, max
// or maxLimitRequestRatio, and claims whose storage request falls outside min or max
// (the validating half), with upstream's messages.
//
// It must not touch anything but the object being admitted, and it leaves pods
// alone once created: containers' resources cannot change after that.
package limitranger

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "LimitRanger"

// liveLookupTTL is how long a namespace's LimitRanges read from the API, when the
// cache has none, stand in for the cache.
const liveLookupTTL = 30 * time.Second

var (
	podKind = schema.GroupKind{Kind: "Pod"}
	pvcKind = schema.GroupKind{Kind: "PersistentVolumeClaim"}
)

// Plugin is the LimitRanger admission plugin.
type Plugin struct {
	*admission.Handler
	client kubernetes.Interface
	lister corelisters.LimitRangeLister
	// live holds LimitRanges read from the API for namespaces the cache has none
	// for, so that a pod created right after its namespace's LimitRange is not let
	// through by a cache that has not seen it yet.
	live *utilcache.LRUExpireCache
}

var (
	_ admission.MutationInterface   = (*Plugin)(nil)
	_ admission.ValidationInterface = (*Plugin)(nil)
)

// New returns the plugin, reading LimitRanges from f's informer and, when that
// holds none for a namespace, from client.
func New(client kubernetes.Interface, f informers.SharedInformerFactory) *Plugin {
	informer := f.Core().V1().LimitRanges()
	p := &Plugin{
		Handler: admission.NewHandler(admission.Create, admission.Update),
		client:  client,
		lister:  informer.Lister(),
		live:    utilcache.NewLRUExpireCache(1000),
	}
	p.SetReadyFunc(informer.Informer().HasSynced)
	return p
}

// Admit fills in the default requests and limits of a new pod's containers.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if !applies(a) || a.GetKind().GroupKind() != podKind {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	ranges, err := p.limitRanges(ctx, a)
	if err != nil {
		return err
	}
	for _, lr := range ranges {
		applyDefaults(pod, lr)
	}
	return nil
}

// Validate refuses pods and claims outside the namespace's LimitRanges.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if !applies(a) {
		return nil
	}
	var check func(*corev1.LimitRange) error
	switch obj := a.GetObject().(type) {
	case *corev1.Pod:
		check = func(lr *corev1.LimitRange) error { return validatePod(lr, obj) }
	case *corev1.PersistentVolumeClaim:
		check = func(lr *corev1.LimitRange) error { return validatePVC(lr, obj) }
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("resource was marked with kind %s but was unable to be converted", a.GetKind().Kind))
	}
	ranges, err := p.limitRanges(ctx, a)
	if err != nil {
		return err
	}
	for _, lr := range ranges {
		if err := check(lr); err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}

// applies reports whether a request is one LimitRanges judge: creating a pod, or
// creating or changing a claim that is not being deleted.
func applies(a admission.Attributes) bool {
	if a.GetSubresource() != "" {
		return false
	}
	switch a.GetKind().GroupKind() {
	case podKind:
		return a.GetOperation() == admission.Create
	case pvcKind:
		if old := a.GetOldObject(); old != nil {
			if m, err := meta.Accessor(old); err == nil && m.GetDeletionTimestamp() != nil {
				return false
			}
		}
		return true
	}
	return false
}

// limitRanges returns the namespace's LimitRanges from the cache or, when the
// cache holds none, from the API (remembered for a while).
func (p *Plugin) limitRanges(ctx context.Context, a admission.Attributes) ([]*corev1.LimitRange, error) {
	if !p.WaitForReady() {
		return nil, admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	ns := a.GetNamespace()
	items, err := p.lister.LimitRanges(ns).List(labels.Everything())
	if err != nil {
		return nil, admission.NewForbidden(a, fmt.Errorf("unable to %s %v at this time because there was an error enforcing limit ranges", a.GetOperation(), a.GetResource()))
	}
	if len(items) > 0 {
		return items, nil
	}
	if cached, ok := p.live.Get(ns); ok {
		return cached.([]*corev1.LimitRange), nil
	}
	list, err := p.client.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, admission.NewForbidden(a, err)
	}
	for i := range list.Items {
		items = append(items, &list.Items[i])
	}
	p.live.Add(ns, items, liveLookupTTL)
	return items, nil
}
