package ingressclass

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

var epoch = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// class is an IngressClass created age before epoch, the default if def.
func class(name string, age time.Duration, def bool) *networkingv1.IngressClass {
	c := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(epoch.Add(-age))},
		Spec: networkingv1.IngressClassSpec{Controller: "example.com/" + name}}
	if def {
		c.Annotations = map[string]string{AnnDefault: "true"}
	}
	return c
}

// newPlugin returns the plugin over informers synced from a fake API holding objs.
func newPlugin(t *testing.T, objs ...runtime.Object) *Plugin {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	p := New(f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return p
}

func ingressAttributes(ing, old *networkingv1.Ingress, subresource string, op admission.Operation) admission.Attributes {
	var oldObj runtime.Object
	if old != nil {
		oldObj = old
	}
	return admission.NewAttributesRecord(ing, oldObj, networkingv1.SchemeGroupVersion.WithKind("Ingress"), "work", "web",
		networkingv1.SchemeGroupVersion.WithResource("ingresses"), subresource, op, nil, false, nil)
}

// admit runs the plugin as the API server's chain does, which asks Handles first.
func admit(p *Plugin, a admission.Attributes) error {
	return admission.NewChainHandler(p).Admit(context.Background(), a, nil)
}

func TestAdmit(t *testing.T) {
	fast, slow := class("fast", time.Hour, true), class("slow", 2*time.Hour, true)
	plain := class("plain", 0, false)
	tests := []struct {
		name        string
		classes     []runtime.Object
		className   *string
		legacyClass *string
		subresource string
		op          admission.Operation
		want        *string
	}{
		{name: "no class gets the default", classes: []runtime.Object{plain, fast}, want: ptr.To("fast")},
		{name: "the newest of several defaults wins", classes: []runtime.Object{slow, fast}, want: ptr.To("fast")},
		{name: "no default leaves the Ingress without a class", classes: []runtime.Object{plain}},
		{name: "no classes at all leave the Ingress without a class"},
		{name: "a named class is kept", classes: []runtime.Object{fast}, className: ptr.To("plain"), want: ptr.To("plain")},
		{name: "an empty class is kept", classes: []runtime.Object{fast}, className: ptr.To(""), want: ptr.To("")},
		{name: "the legacy class annotation counts as a class", classes: []runtime.Object{fast}, legacyClass: ptr.To("nginx")},
		{name: "an empty legacy class annotation counts too", classes: []runtime.Object{fast}, legacyClass: ptr.To("")},
		{name: "updates are left alone", classes: []runtime.Object{fast}, op: admission.Update},
		{name: "status updates are left alone", classes: []runtime.Object{fast}, subresource: "status", op: admission.Update},
		{name: "a status subresource on create is left alone", classes: []runtime.Object{fast}, subresource: "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "work"},
				Spec: networkingv1.IngressSpec{IngressClassName: tt.className}}
			if tt.legacyClass != nil {
				ing.Annotations = map[string]string{annLegacyClass: *tt.legacyClass}
			}
			op, old := tt.op, (*networkingv1.Ingress)(nil)
			if op == "" {
				op = admission.Create
			}
			if op == admission.Update {
				old = ing.DeepCopy()
			}
			if err := admit(newPlugin(t, tt.classes...), ingressAttributes(ing, old, tt.subresource, op)); err != nil {
				t.Fatal(err)
			}
			if got := ing.Spec.IngressClassName; (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("ingressClassName = %v, want %v", ptr.Deref(got, "<nil>"), ptr.Deref(tt.want, "<nil>"))
			}
		})
	}
}

func TestOtherResourcesAreLeftAlone(t *testing.T) {
	p := newPlugin(t, class("fast", time.Hour, true))
	t.Run("an IngressClass", func(t *testing.T) {
		ic := class("new", 0, false)
		a := admission.NewAttributesRecord(ic, nil, networkingv1.SchemeGroupVersion.WithKind("IngressClass"), "", ic.Name,
			networkingv1.SchemeGroupVersion.WithResource("ingressclasses"), "", admission.Create, nil, false, nil)
		if err := admit(p, a); err != nil {
			t.Fatal(err)
		}
		if ic.Annotations != nil {
			t.Errorf("annotations = %v, want none", ic.Annotations)
		}
	})
	t.Run("a pod", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "work"}}
		a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "work", "web",
			corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
		if err := admit(p, a); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ingresses of another group", func(t *testing.T) {
		ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "work"}}
		a := admission.NewAttributesRecord(ing, nil, networkingv1.SchemeGroupVersion.WithKind("Ingress"), "work", "web",
			schema.GroupVersionResource{Group: "extensions", Version: "v1beta1", Resource: "ingresses"}, "", admission.Create, nil, false, nil)
		if err := admit(p, a); err != nil {
			t.Fatal(err)
		}
		if ing.Spec.IngressClassName != nil {
			t.Errorf("ingressClassName = %q, want unset", *ing.Spec.IngressClassName)
		}
	})
}

func TestAnIngressThatIsNotOneIsAnInternalError(t *testing.T) {
	p := newPlugin(t, class("fast", time.Hour, true))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "work"}}
	a := admission.NewAttributesRecord(pod, nil, networkingv1.SchemeGroupVersion.WithKind("Ingress"), "work", "web",
		networkingv1.SchemeGroupVersion.WithResource("ingresses"), "", admission.Create, nil, false, nil)
	if err := admit(p, a); !apierrors.IsInternalError(err) {
		t.Fatalf("a Pod admitted as an Ingress: got %v, want an internal error", err)
	}
}

func TestDefaultTieGoesToFirstName(t *testing.T) {
	p := newPlugin(t, class("b-class", time.Hour, true), class("a-class", time.Hour, true))
	def, err := defaultClass(p.lister)
	if err != nil {
		t.Fatal(err)
	}
	if def == nil || def.Name != "a-class" {
		t.Fatalf("default = %v, want a-class", def)
	}
}

func TestOnlyCreatesAreHandled(t *testing.T) {
	p := New(informers.NewSharedInformerFactory(fake.NewClientset(), 0))
	for _, op := range []admission.Operation{admission.Update, admission.Delete, admission.Connect} {
		if p.Handles(op) {
			t.Errorf("the plugin handles %s: it must default Ingresses on create only, never change an existing one's class", op)
		}
	}
	if !p.Handles(admission.Create) {
		t.Error("the plugin does not handle create")
	}
}
