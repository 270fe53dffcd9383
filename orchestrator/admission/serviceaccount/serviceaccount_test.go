package serviceaccount

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
)

func TestAdmit(t *testing.T) {
	tests := []struct {
		name        string
		pod         corev1.Pod
		op          admission.Operation
		subresource string
		wantName    string
		wantLegacy  string
	}{{
		name:     "pod without a service account runs as default",
		op:       admission.Create,
		wantName: "default", wantLegacy: "default",
	}, {
		name:     "named service account is kept",
		pod:      corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "builder"}},
		op:       admission.Create,
		wantName: "builder", wantLegacy: "builder",
	}, {
		name:     "the deprecated field names the account when alone",
		pod:      corev1.Pod{Spec: corev1.PodSpec{DeprecatedServiceAccount: "legacy"}},
		op:       admission.Create,
		wantName: "legacy", wantLegacy: "legacy",
	}, {
		name:     "serviceAccountName wins over a different deprecated field",
		pod:      corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "builder", DeprecatedServiceAccount: "legacy"}},
		op:       admission.Create,
		wantName: "builder", wantLegacy: "builder",
	}, {
		name: "mirror pods get no service account",
		pod:  corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{mirrorPodAnnotation: "abc"}}},
		op:   admission.Create,
	}, {
		name: "updates are left alone",
		op:   admission.Update,
	}, {
		name:        "subresources are left alone",
		op:          admission.Create,
		subresource: "binding",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := tt.pod.DeepCopy()
			pod.Namespace, pod.Name = "work", "app"
			a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "work", "app",
				corev1.SchemeGroupVersion.WithResource("pods"), tt.subresource, tt.op, nil, false, nil)
			if err := New().Admit(context.Background(), a, nil); err != nil {
				t.Fatal(err)
			}
			if pod.Spec.ServiceAccountName != tt.wantName || pod.Spec.DeprecatedServiceAccount != tt.wantLegacy {
				t.Errorf("serviceAccountName, serviceAccount = %q, %q; want %q, %q",
					pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount, tt.wantName, tt.wantLegacy)
			}
		})
	}
}
