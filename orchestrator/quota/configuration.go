package quota

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
)

// countPrefix starts the name of every object-count quota: count/<resource>.<group>.
const countPrefix = "count/"

// countAliases are the object counts that also answer to a legacy name
// (configmaps = count/configmaps).
var countAliases = map[schema.GroupResource]corev1.ResourceName{
	{Resource: "configmaps"}:             corev1.ResourceConfigMaps,
	{Resource: "secrets"}:                corev1.ResourceSecrets,
	{Resource: "replicationcontrollers"}: corev1.ResourceReplicationControllers,
	{Resource: "resourcequotas"}:         corev1.ResourceQuotas,
}

// ignored are the resources quota never charges: virtual ones that are not stored,
// and events, which have never been counted.
var ignored = map[schema.GroupResource]struct{}{
	{Resource: "bindings"}:                                                 {},
	{Resource: "componentstatuses"}:                                        {},
	{Resource: "events"}:                                                   {},
	{Group: "events.k8s.io", Resource: "events"}:                           {},
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:             {},
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:       {},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:      {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:  {},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:   {},
}

// NewConfiguration returns the evaluators of the built-in kinds, listing objects
// from f's informers, and the resources quota ignores. Listing registers an informer
// with f on first use; a caller that computes usage (the controller) registers and
// syncs them beforehand, admission never lists.
func NewConfiguration(f informers.SharedInformerFactory) quotav1.Configuration {
	return generic.NewConfiguration(NewEvaluators(Listers(f), clock.RealClock{}), IgnoredResources())
}

// NewEvaluators returns the evaluators of the built-in kinds: pods, services and
// persistentvolumeclaims, and object counts for configmaps, secrets,
// replicationcontrollers and resourcequotas. clk decides when a deleted pod's grace
// period is over.
func NewEvaluators(listers quotav1.ListerForResourceFunc, clk clock.PassiveClock) []quotav1.Evaluator {
	evaluators := []quotav1.Evaluator{
		NewPodEvaluator(listers, clk),
		NewServiceEvaluator(listers),
		NewPersistentVolumeClaimEvaluator(listers),
	}
	for gr, alias := range countAliases {
		gvr := corev1.SchemeGroupVersion.WithResource(gr.Resource)
		evaluators = append(evaluators, generic.NewObjectCountEvaluator(gr, generic.ListResourceUsingListerFunc(listers, gvr), alias))
	}
	return evaluators
}

// NewObjectCountEvaluator returns the evaluator of count/<resource>.<group> for a
// resource without an evaluator of its own, listing from f's informer for gvr.
func NewObjectCountEvaluator(f informers.SharedInformerFactory, gvr schema.GroupVersionResource) quotav1.Evaluator {
	return generic.NewObjectCountEvaluator(gvr.GroupResource(), generic.ListResourceUsingListerFunc(Listers(f), gvr), "")
}

// IgnoredResources returns the resources quota never charges. The map is shared:
// callers must not change it.
func IgnoredResources() map[schema.GroupResource]struct{} {
	return ignored
}

// CountedResource returns the resource an object-count quota name counts:
// count/deployments.apps counts deployments in group apps, count/pods pods in the
// core group.
func CountedResource(name corev1.ResourceName) (schema.GroupResource, bool) {
	rest, ok := strings.CutPrefix(string(name), countPrefix)
	if !ok || rest == "" {
		return schema.GroupResource{}, false
	}
	resource, group, _ := strings.Cut(rest, ".")
	return schema.GroupResource{Group: group, Resource: resource}, resource != ""
}

// Listers returns listers reading f's informer caches as they stand, without
// waiting for them to sync.
func Listers(f informers.SharedInformerFactory) quotav1.ListerForResourceFunc {
	return func(gvr schema.GroupVersionResource) (cache.GenericLister, error) {
		informer, err := f.ForResource(gvr)
		if err != nil {
			return nil, err
		}
		return informer.Lister(), nil
	}
}
