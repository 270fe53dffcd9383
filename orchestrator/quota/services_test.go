package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/utils/ptr"
)

func newService(name string, typ corev1.ServiceType, ports ...int32) *corev1.Service {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work"}, Spec: corev1.ServiceSpec{Type: typ}}
	for i, nodePort := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Port: int32(80 + i), NodePort: nodePort})
	}
	return svc
}

func TestServiceUsage(t *testing.T) {
	e := NewServiceEvaluator(nil)
	noAllocation := newService("lb", corev1.ServiceTypeLoadBalancer, 31000, 0)
	noAllocation.Spec.AllocateLoadBalancerNodePorts = ptr.To(false)
	tests := []struct {
		name string
		svc  *corev1.Service
		want corev1.ResourceList
	}{{
		name: "cluster IP service",
		svc:  newService("a", corev1.ServiceTypeClusterIP, 0),
		want: list("services", "1", "count/services", "1", "services.nodeports", "0", "services.loadbalancers", "0"),
	}, {
		name: "node port service charges one node port per port",
		svc:  newService("a", corev1.ServiceTypeNodePort, 0, 0),
		want: list("services", "1", "count/services", "1", "services.nodeports", "2", "services.loadbalancers", "0"),
	}, {
		name: "load balancer charges node ports and a load balancer",
		svc:  newService("a", corev1.ServiceTypeLoadBalancer, 0),
		want: list("services", "1", "count/services", "1", "services.nodeports", "1", "services.loadbalancers", "1"),
	}, {
		name: "load balancer without node port allocation charges explicit node ports only",
		svc:  noAllocation,
		want: list("services", "1", "count/services", "1", "services.nodeports", "1", "services.loadbalancers", "1"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Usage(tt.svc)
			if err != nil {
				t.Fatal(err)
			}
			assertList(t, got, tt.want)
		})
	}
}

func TestServiceHandles(t *testing.T) {
	e := NewServiceEvaluator(nil)
	svc := newService("a", corev1.ServiceTypeNodePort, 0)
	gvr := corev1.SchemeGroupVersion.WithResource("services")
	kind := corev1.SchemeGroupVersion.WithKind("Service")
	tests := []struct {
		name        string
		op          admission.Operation
		subresource string
		want        bool
	}{
		{"create", admission.Create, "", true},
		{"update, which can change the type", admission.Update, "", true},
		{"status update", admission.Update, "status", false},
		{"delete", admission.Delete, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := admission.NewAttributesRecord(svc, svc, kind, "work", "a", gvr, tt.subresource, tt.op, nil, false, nil)
			if got := e.Handles(a); got != tt.want {
				t.Errorf("Handles = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServiceUsageStats(t *testing.T) {
	f := newFactory(t,
		newService("a", corev1.ServiceTypeClusterIP, 0),
		newService("b", corev1.ServiceTypeNodePort, 0, 0),
		newService("c", corev1.ServiceTypeLoadBalancer, 0),
	)
	stats, err := NewServiceEvaluator(Listers(f)).UsageStats(quotav1.UsageStatsOptions{
		Namespace: "work",
		Resources: []corev1.ResourceName{"services", "services.nodeports", "services.loadbalancers"},
	})
	if err != nil {
		t.Fatal(err)
	}
	assertList(t, stats.Used, list("services", "3", "count/services", "3", "services.nodeports", "3", "services.loadbalancers", "1"))
	if gr := NewServiceEvaluator(nil).GroupResource(); gr != (schema.GroupResource{Resource: "services"}) {
		t.Errorf("GroupResource = %v", gr)
	}
}
