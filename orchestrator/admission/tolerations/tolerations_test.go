package tolerations

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/utils/ptr"
)

var (
	notReady = corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
	unreachable = corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)}
)

func TestAdmit(t *testing.T) {
	stated := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)}
	everything := corev1.Toleration{Operator: corev1.TolerationOpExists}
	noSchedule := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		subresource string
		want        []corev1.Toleration
	}{{
		name: "pod without tolerations gets both",
		want: []corev1.Toleration{notReady, unreachable},
	}, {
		name:        "a stated not-ready toleration is kept as it is",
		tolerations: []corev1.Toleration{stated},
		want:        []corev1.Toleration{stated, unreachable},
	}, {
		name:        "tolerating every taint needs nothing more",
		tolerations: []corev1.Toleration{everything},
		want:        []corev1.Toleration{everything},
	}, {
		name:        "a NoSchedule toleration does not cover eviction",
		tolerations: []corev1.Toleration{noSchedule},
		want:        []corev1.Toleration{noSchedule, notReady, unreachable},
	}, {
		name:        "subresources are left alone",
		subresource: "status",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tolerations}}
			a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "work", "app",
				corev1.SchemeGroupVersion.WithResource("pods"), tt.subresource, admission.Create, nil, false, nil)
			if err := New().Admit(context.Background(), a, nil); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pod.Spec.Tolerations, tt.want) {
				t.Errorf("tolerations = %+v, want %+v", pod.Spec.Tolerations, tt.want)
			}
		})
	}
}
