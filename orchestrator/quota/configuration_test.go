package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

func TestCountedResource(t *testing.T) {
	tests := []struct {
		name   string
		quota  corev1.ResourceName
		want   schema.GroupResource
		wantOK bool
	}{
		{"core resource", "count/pods", schema.GroupResource{Resource: "pods"}, true},
		{"grouped resource", "count/deployments.apps", schema.GroupResource{Group: "apps", Resource: "deployments"}, true},
		{"dotted group", "count/widgets.example.com", schema.GroupResource{Group: "example.com", Resource: "widgets"}, true},
		{"not a count", "requests.cpu", schema.GroupResource{}, false},
		{"empty count", "count/", schema.GroupResource{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CountedResource(tt.quota)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("CountedResource(%q) = %v, %v; want %v, %v", tt.quota, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestConfiguration(t *testing.T) {
	f := newFactory(t,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "work"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "work"}},
		newPod("a", withContainers(container("app", list("cpu", "1"), nil))),
		newService("a", corev1.ServiceTypeNodePort, 0),
		newPVC("a", "gold", "1Gi"),
	)
	cfg := NewConfiguration(f)
	if _, ok := cfg.IgnoredResources()[schema.GroupResource{Resource: "events"}]; !ok {
		t.Error("events are not ignored")
	}
	registry := generic.NewRegistry(cfg.Evaluators())
	for _, r := range []string{"pods", "services", "persistentvolumeclaims", "configmaps", "secrets", "replicationcontrollers", "resourcequotas"} {
		if registry.Get(schema.GroupResource{Resource: r}) == nil {
			t.Errorf("no evaluator for %s", r)
		}
	}

	hard := list("pods", "10", "requests.cpu", "4", "configmaps", "5", "count/configmaps", "5", "secrets", "5",
		"services.nodeports", "2", "requests.storage", "10Gi", "gold.storageclass.storage.k8s.io/requests.storage", "5Gi",
		"count/deployments.apps", "3")
	used, err := quotav1.CalculateUsage("work", nil, hard, registry, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertList(t, used, list("pods", "1", "requests.cpu", "1", "configmaps", "2", "count/configmaps", "2", "secrets", "0",
		"services.nodeports", "1", "requests.storage", "1Gi", "gold.storageclass.storage.k8s.io/requests.storage", "1Gi"))
}
