package rootcacert

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

// syncOnce builds the controller over objs, fills its caches and syncs ns.
func syncOnce(t *testing.T, ns string, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, []byte(ca))
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Namespace:
			f.Core().V1().Namespaces().Informer().GetStore().Add(o)
		case *corev1.ConfigMap:
			f.Core().V1().ConfigMaps().Informer().GetStore().Add(o)
		}
	}
	if err := c.sync(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return client
}

func TestPublishes(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []runtime.Object
		want string // ca.crt afterwards, "" for no ConfigMap
	}{
		{"a new namespace", []runtime.Object{namespace("web", corev1.NamespaceActive)}, ca},
		{"a terminating namespace", []runtime.Object{namespace("web", corev1.NamespaceTerminating)}, ""},
		{"a changed bundle", []runtime.Object{namespace("web", corev1.NamespaceActive),
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: "web"}, Data: map[string]string{Key: "tampered", "extra": "x"}}}, ca},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := syncOnce(t, "web", tc.objs...)
			cm, err := client.CoreV1().ConfigMaps("web").Get(context.Background(), Name, metav1.GetOptions{})
			if tc.want == "" {
				if err == nil {
					t.Fatalf("published into a terminating namespace: %v", cm.Data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cm.Data) != 1 || cm.Data[Key] != tc.want || cm.Annotations[descriptionAnnotation] != description {
				t.Fatalf("kube-root-ca.crt: data %v annotations %v", cm.Data, cm.Annotations)
			}
		})
	}
}

func TestLeavesACorrectConfigMapAlone(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: "web", Annotations: map[string]string{descriptionAnnotation: description}},
		Data: map[string]string{Key: ca}}
	client := syncOnce(t, "web", namespace("web", corev1.NamespaceActive), cm)
	for _, a := range client.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			t.Fatalf("wrote a correct ConfigMap: %v", a)
		}
	}
}
