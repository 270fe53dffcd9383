package ingress

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

func ingressClass(name, controller string, isDefault bool) *networkingv1.IngressClass {
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       networkingv1.IngressClassSpec{Controller: controller},
	}
	if isDefault {
		ic.Annotations = map[string]string{defaultClassAnnotation: "true"}
	}
	return ic
}

func TestOwns(t *testing.T) {
	ours := ingressClass(DefaultClassName, DefaultControllerName, false)
	oursDefault := ingressClass(DefaultClassName, DefaultControllerName, true)
	internal := ingressClass("internal", DefaultControllerName, false)
	nginxDefault := ingressClass("nginx", "k8s.io/ingress-nginx", true)
	tests := []struct {
		name    string
		classes []*networkingv1.IngressClass
		ing     *networkingv1.Ingress
		want    bool
	}{
		{"our class name", nil, ingress("i", withClass(DefaultClassName)), true},
		{"other class name", []*networkingv1.IngressClass{ours, nginxDefault}, ingress("i", withClass("nginx")), false},
		{"another class of our controller", []*networkingv1.IngressClass{internal}, ingress("i", withClass("internal")), true},
		{"legacy annotation ours", nil, ingress("i", withLegacyClass(DefaultClassName)), true},
		{"legacy annotation other", []*networkingv1.IngressClass{oursDefault}, ingress("i", withLegacyClass("nginx")), false},
		{"no class, ours default", []*networkingv1.IngressClass{oursDefault}, ingress("i", withClass("")), true},
		{"no class, ours not default", []*networkingv1.IngressClass{ours}, ingress("i", withClass("")), false},
		{"no class, another default", []*networkingv1.IngressClass{ours, nginxDefault}, ingress("i", withClass("")), false},
		{"no class, no classes", nil, ingress("i", withClass("")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			for _, ic := range tt.classes {
				if err := idx.Add(ic); err != nil {
					t.Fatal(err)
				}
			}
			set := loadClasses(networkinglisters.NewIngressClassLister(idx), DefaultClassName, DefaultControllerName, testLog())
			if got := set.owns(tt.ing); got != tt.want {
				t.Errorf("owns = %v, want %v", got, tt.want)
			}
		})
	}
}

// newController makes a Controller over a fake clientset holding objs
// without running it.
func newController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	c, err := New(Config{HTTPAddr: "127.0.0.1:0", Client: client, Log: testLog()},
		informers.NewSharedInformerFactory(client, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, client
}

// writes returns the verbs of the writes client got for resource.
func writes(client *fake.Clientset, resource string) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetResource().Resource != resource {
			continue
		}
		switch v := a.GetVerb(); v {
		case "create", "update", "patch", "delete":
			if a.GetSubresource() != "" {
				v += "/" + a.GetSubresource()
			}
			out = append(out, v)
		}
	}
	return out
}

func TestEnsureClass(t *testing.T) {
	userMade := ingressClass(DefaultClassName, "example.com/custom", false)
	oursNotDefault := ingressClass(DefaultClassName, DefaultControllerName, false)
	tests := []struct {
		name     string
		existing []runtime.Object
		want     *networkingv1.IngressClass
		created  bool
	}{
		{"missing: created as default", nil, ingressClass(DefaultClassName, DefaultControllerName, true), true},
		{"missing with another default: created not default",
			[]runtime.Object{ingressClass("nginx", "k8s.io/ingress-nginx", true)},
			ingressClass(DefaultClassName, DefaultControllerName, false), true},
		{"made by a user: left alone", []runtime.Object{userMade}, userMade, false},
		{"ours, not default: left alone", []runtime.Object{oursNotDefault}, oursNotDefault, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, client := newController(t, tt.existing...)
			ctx := context.Background()
			if err := c.ensureClass(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := client.NetworkingV1().IngressClasses().Get(ctx, DefaultClassName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec.Controller != tt.want.Spec.Controller || fmt.Sprint(got.Annotations) != fmt.Sprint(tt.want.Annotations) {
				t.Errorf("IngressClass has controller %q, annotations %v; want %q, %v",
					got.Spec.Controller, got.Annotations, tt.want.Spec.Controller, tt.want.Annotations)
			}
			w := writes(client, "ingressclasses")
			if tt.created && fmt.Sprint(w) != "[create]" || !tt.created && len(w) != 0 {
				t.Errorf("writes to IngressClasses: %v", w)
			}
			// Running it again changes nothing.
			if err := c.ensureClass(ctx); err != nil {
				t.Fatal(err)
			}
			if again := writes(client, "ingressclasses"); len(again) != len(w) {
				t.Errorf("a second run wrote %v", again[len(w):])
			}
		})
	}
}

func TestClasslessIngressServedOnceClassCreated(t *testing.T) {
	s := start(t, nil, append(serviceWith("web", newBackend(t, "web")),
		ingress("classless", withClass(""), withRule("classless.example.com", prefix("/", "web"))))...)
	eventually(t, "the class-less Ingress to be served", func() error {
		return requireBackend(s, t, "classless.example.com", "/", "web")
	})
	ic, err := s.client.NetworkingV1().IngressClasses().Get(context.Background(), DefaultClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ic.Spec.Controller != DefaultControllerName || ic.Annotations[defaultClassAnnotation] != "true" {
		t.Errorf("IngressClass has controller %q, annotations %v", ic.Spec.Controller, ic.Annotations)
	}
}

func TestClasslessIngressIgnoredWhenNotDefault(t *testing.T) {
	s := start(t, nil, append(serviceWith("web", newBackend(t, "web")),
		ingressClass(DefaultClassName, DefaultControllerName, false),
		ingress("classless", withClass(""), withRule("classless.example.com", prefix("/", "web"))),
		ingress("classed", withRule("classed.example.com", prefix("/", "web"))))...)
	// The first table holds every Ingress of the caches; the classed one
	// being served shows the class-less one was looked at.
	if err := requireBackend(s, t, "classed.example.com", "/", "web"); err != nil {
		t.Fatal(err)
	}
	if r := s.get(t, "classless.example.com", "/"); r.status != http.StatusNotFound {
		t.Errorf("class-less Ingress: status %d from %q, want 404", r.status, r.backend)
	}
}
