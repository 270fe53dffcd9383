package storageclass

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

var epoch = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// class is a StorageClass created age before epoch, the default if def says so.
func class(name string, age time.Duration, def string) *storagev1.StorageClass {
	c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(epoch.Add(-age))}, Provisioner: "example.com/" + name}
	if def != "" {
		c.Annotations = map[string]string{def: "true"}
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

func claimAttributes(pvc *corev1.PersistentVolumeClaim, subresource string, op admission.Operation) admission.Attributes {
	return admission.NewAttributesRecord(pvc, nil, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), "work", "data",
		corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), subresource, op, nil, false, nil)
}

func TestAdmit(t *testing.T) {
	fast, slow := class("fast", time.Hour, AnnDefault), class("slow", 2*time.Hour, AnnBetaDefault)
	plain := class("plain", 0, "")
	tests := []struct {
		name        string
		classes     []runtime.Object
		claimClass  *string
		betaClass   bool
		subresource string
		want        *string
	}{
		{name: "no class gets the default", classes: []runtime.Object{plain, fast}, want: ptr.To("fast")},
		{name: "the newest of several defaults wins", classes: []runtime.Object{slow, fast}, want: ptr.To("fast")},
		{name: "the beta annotation marks a default too", classes: []runtime.Object{slow, plain}, want: ptr.To("slow")},
		{name: "no default leaves the claim without a class", classes: []runtime.Object{plain}},
		{name: "a named class is kept", classes: []runtime.Object{fast}, claimClass: ptr.To("plain"), want: ptr.To("plain")},
		{name: "an empty class means no class and is kept", classes: []runtime.Object{fast}, claimClass: ptr.To(""), want: ptr.To("")},
		{name: "the beta class annotation counts as a class", classes: []runtime.Object{fast}, betaClass: true},
		{name: "status updates are left alone", classes: []runtime.Object{fast}, subresource: "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "work"},
				Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: tt.claimClass}}
			if tt.betaClass {
				pvc.Annotations = map[string]string{annBetaClass: "fast"}
			}
			if err := newPlugin(t, tt.classes...).Admit(context.Background(), claimAttributes(pvc, tt.subresource, admission.Create), nil); err != nil {
				t.Fatal(err)
			}
			if got := pvc.Spec.StorageClassName; (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("storageClassName = %v, want %v", ptr.Deref(got, "<nil>"), ptr.Deref(tt.want, "<nil>"))
			}
		})
	}
}

func TestDefaultTieGoesToFirstName(t *testing.T) {
	a, b := class("b-class", time.Hour, AnnDefault), class("a-class", time.Hour, AnnDefault)
	p := newPlugin(t, a, b)
	def, err := Default(p.lister)
	if err != nil {
		t.Fatal(err)
	}
	if def == nil || def.Name != "a-class" {
		t.Fatalf("default = %v, want a-class", def)
	}
}

func TestOnlyCreatesAreHandled(t *testing.T) {
	p := New(informers.NewSharedInformerFactory(fake.NewClientset(), 0))
	if p.Handles(admission.Update) || !p.Handles(admission.Create) {
		t.Fatal("the plugin must default claims on create only: the class of an existing claim is the binder's to fill in")
	}
}
