package registry

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func TestSpecChanged(t *testing.T) {
	deployment := func(replicas int32, change func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: 3},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		}
		if change != nil {
			change(d)
		}
		return d
	}
	pod := func(cpu string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:      "c",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: apiresource.MustParse(cpu)}},
		}}}}
	}
	cases := []struct {
		name     string
		obj, old runtime.Object
		want     bool
	}{
		{"same spec", deployment(2, nil), deployment(2, nil), false},
		{"spec changed", deployment(3, nil), deployment(2, nil), true},
		{
			name: "labels changed",
			obj:  deployment(2, func(d *appsv1.Deployment) { d.Labels = map[string]string{"a": "b"} }),
			old:  deployment(2, nil),
			want: false,
		},
		{
			name: "status changed",
			obj:  deployment(2, func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 2 }),
			old:  deployment(2, nil),
			want: false,
		},
		{"equal quantities written differently", pod("1"), pod("1000m"), false},
		{"different quantities", pod("1"), pod("2"), true},
		{
			name: "a kind without a spec",
			obj:  &corev1.ConfigMap{Data: map[string]string{"k": "new"}},
			old:  &corev1.ConfigMap{Data: map[string]string{"k": "old"}},
			want: false,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := specChanged(c.obj, c.old); got != c.want {
				t.Errorf("specChanged = %v, want %v", got, c.want)
			}
		})
	}
}
