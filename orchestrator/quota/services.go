package quota

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

var (
	servicesResource = schema.GroupResource{Resource: "services"}
	serviceCountName = generic.ObjectCountQuotaResourceNameFor(servicesResource)
)

var serviceResources = []corev1.ResourceName{
	serviceCountName,
	corev1.ResourceServices,
	corev1.ResourceServicesNodePorts,
	corev1.ResourceServicesLoadBalancers,
}

// serviceEvaluator measures services: their count, their node ports and load
// balancers.
type serviceEvaluator struct {
	list generic.ListFuncByNamespace
}

// NewServiceEvaluator returns the evaluator of services.
func NewServiceEvaluator(listers quotav1.ListerForResourceFunc) quotav1.Evaluator {
	gvr := corev1.SchemeGroupVersion.WithResource("services")
	return &serviceEvaluator{list: generic.ListResourceUsingListerFunc(listers, gvr)}
}

func (e *serviceEvaluator) GroupResource() schema.GroupResource { return servicesResource }

// Handles charges services on create and on update, since an update can change
// the type and so the node ports and load balancers used.
func (e *serviceEvaluator) Handles(a admission.Attributes) bool {
	op := a.GetOperation()
	return a.GetSubresource() == "" && (op == admission.Create || op == admission.Update)
}

func (e *serviceEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (e *serviceEvaluator) Matches(q *corev1.ResourceQuota, obj runtime.Object) (bool, error) {
	return generic.Matches(q, obj, e.MatchingResources, generic.MatchesNoScopeFunc)
}

func (e *serviceEvaluator) MatchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	return quotav1.Intersection(names, serviceResources)
}

func (e *serviceEvaluator) MatchingScopes(runtime.Object, []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return []corev1.ScopedResourceSelectorRequirement{}, nil
}

func (e *serviceEvaluator) UncoveredQuotaScopes([]corev1.ScopedResourceSelectorRequirement, []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return []corev1.ScopedResourceSelectorRequirement{}, nil
}

// Usage charges one service, one node port per port of a NodePort or
// LoadBalancer service (for a load balancer that allocates no node ports, only
// those asked for explicitly), and one load balancer.
func (e *serviceEvaluator) Usage(obj runtime.Object) (corev1.ResourceList, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, fmt.Errorf("expected a *v1.Service, got %T", obj)
	}
	count := func(n int) resource.Quantity { return *resource.NewQuantity(int64(n), resource.DecimalSI) }
	nodePorts, loadBalancers := 0, 0
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		nodePorts = len(svc.Spec.Ports)
	case corev1.ServiceTypeLoadBalancer:
		loadBalancers = 1
		nodePorts = len(svc.Spec.Ports)
		if a := svc.Spec.AllocateLoadBalancerNodePorts; a != nil && !*a {
			nodePorts = 0
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					nodePorts++
				}
			}
		}
	}
	return corev1.ResourceList{
		serviceCountName:                     count(1),
		corev1.ResourceServices:              count(1),
		corev1.ResourceServicesNodePorts:     count(nodePorts),
		corev1.ResourceServicesLoadBalancers: count(loadBalancers),
	}, nil
}

func (e *serviceEvaluator) UsageStats(opts quotav1.UsageStatsOptions) (quotav1.UsageStats, error) {
	return generic.CalculateUsageStats(opts, e.list, generic.MatchesNoScopeFunc, e.Usage)
}
