package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestSync(t *testing.T) {
	active := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "old"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	existing := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: "has"}}
	has := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "has"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	cases := []struct {
		name      string
		namespace string
		creates   bool
	}{
		{name: "an active namespace without one gets one", namespace: "app", creates: true},
		{name: "a terminating namespace gets none", namespace: "old"},
		{name: "a namespace that has one keeps it", namespace: "has"},
		{name: "a namespace that is gone is ignored", namespace: "gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(active, terminating, has, existing)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client, factory.Core().V1().Namespaces(), factory.Core().V1().ServiceAccounts())
			for _, ns := range []*corev1.Namespace{active, terminating, has} {
				factory.Core().V1().Namespaces().Informer().GetIndexer().Add(ns)
			}
			factory.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(existing)
			client.ClearActions()
			if err := c.sync(context.Background(), tc.namespace); err != nil {
				t.Fatal(err)
			}
			created := 0
			for _, a := range client.Actions() {
				if a.GetVerb() == "create" && a.GetResource().Resource == "serviceaccounts" {
					if a.GetNamespace() != tc.namespace {
						t.Fatalf("created in %s", a.GetNamespace())
					}
					created++
				}
			}
			if created != map[bool]int{true: 1}[tc.creates] {
				t.Fatalf("%d service accounts created", created)
			}
		})
	}
}
