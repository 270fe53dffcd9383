package quota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"
)

func newPVC(name, class, storage string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work"}}
	if class != "" {
		pvc.Spec.StorageClassName = ptr.To(class)
	}
	if storage != "" {
		pvc.Spec.Resources.Requests = list("storage", storage)
	}
	return pvc
}

func TestPVCUsage(t *testing.T) {
	e := NewPersistentVolumeClaimEvaluator(nil)
	grown := newPVC("a", "gold", "1Gi")
	grown.Status.AllocatedResources = list("storage", "2Gi")
	annotated := newPVC("a", "gold", "1Gi")
	annotated.Annotations = map[string]string{corev1.BetaStorageClassAnnotation: "silver"}
	tests := []struct {
		name string
		pvc  *corev1.PersistentVolumeClaim
		want corev1.ResourceList
	}{{
		name: "claim without a class",
		pvc:  newPVC("a", "", "1Gi"),
		want: list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi"),
	}, {
		name: "claim with a class is charged to the class too",
		pvc:  newPVC("a", "gold", "1Gi"),
		want: list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi",
			"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1",
			"gold.storageclass.storage.k8s.io/requests.storage", "1Gi"),
	}, {
		name: "allocated storage larger than the request is charged",
		pvc:  grown,
		want: list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2Gi",
			"gold.storageclass.storage.k8s.io/persistentvolumeclaims", "1",
			"gold.storageclass.storage.k8s.io/requests.storage", "2Gi"),
	}, {
		name: "the beta annotation names the class",
		pvc:  annotated,
		want: list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "1Gi",
			"silver.storageclass.storage.k8s.io/persistentvolumeclaims", "1",
			"silver.storageclass.storage.k8s.io/requests.storage", "1Gi"),
	}, {
		name: "fractional bytes round up",
		pvc:  newPVC("a", "", "1500m"),
		want: list("persistentvolumeclaims", "1", "count/persistentvolumeclaims", "1", "requests.storage", "2"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Usage(tt.pvc)
			if err != nil {
				t.Fatal(err)
			}
			assertList(t, got, tt.want)
		})
	}
}

func TestPVCMatchingResources(t *testing.T) {
	e := NewPersistentVolumeClaimEvaluator(nil)
	in := []corev1.ResourceName{"persistentvolumeclaims", "requests.storage", "count/persistentvolumeclaims",
		"gold.storageclass.storage.k8s.io/requests.storage", "gold.storageclass.storage.k8s.io/persistentvolumeclaims",
		"pods", "requests.cpu"}
	got := e.MatchingResources(in)
	if want := in[:5]; !equalNames(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func equalNames(a, b []corev1.ResourceName) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPVCHandles(t *testing.T) {
	e := NewPersistentVolumeClaimEvaluator(nil)
	gvr := corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	kind := corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim")
	pvc := newPVC("a", "", "1Gi")
	allocated := pvc.DeepCopy()
	allocated.Status.AllocatedResources = list("storage", "2Gi")
	tests := []struct {
		name        string
		op          admission.Operation
		subresource string
		obj, old    *corev1.PersistentVolumeClaim
		want        bool
	}{
		{"create", admission.Create, "", pvc, nil, true},
		{"resize", admission.Update, "", pvc, pvc, true},
		{"status without a storage change", admission.Update, "status", pvc, pvc, false},
		{"status with more storage allocated", admission.Update, "status", allocated, pvc, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var old runtime.Object
			if tt.old != nil {
				old = tt.old
			}
			a := admission.NewAttributesRecord(tt.obj, old, kind, "work", "a", gvr, tt.subresource, tt.op, nil, false, nil)
			if got := e.Handles(a); got != tt.want {
				t.Errorf("Handles = %v, want %v", got, tt.want)
			}
		})
	}
}
