package podresources

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/utils/ptr"
)

func cpu(request, limit string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{}
	if request != "" {
		r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(request)}
	}
	if limit != "" {
		r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}
	}
	return r
}

func TestRequestsAndLimits(t *testing.T) {
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	tests := []struct {
		name                   string
		spec                   corev1.PodSpec
		wantRequest, wantLimit string
	}{{
		name: "app containers add up",
		spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "a", Resources: cpu("100m", "200m")}, {Name: "b", Resources: cpu("200m", "300m")},
		}},
		wantRequest: "300m", wantLimit: "500m",
	}, {
		name: "an init container larger than the app containers sets the total",
		spec: corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "a", Resources: cpu("100m", "100m")}},
			InitContainers: []corev1.Container{{Name: "i", Resources: cpu("1", "2")}},
		},
		wantRequest: "1", wantLimit: "2",
	}, {
		name: "sidecars run beside app containers and later init containers",
		spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "a", Resources: cpu("100m", "")}, {Name: "b", Resources: cpu("200m", "")}},
			InitContainers: []corev1.Container{
				{Name: "proxy", RestartPolicy: always, Resources: cpu("50m", "")},
				{Name: "migrate", Resources: cpu("500m", "")},
			},
		},
		wantRequest: "550m",
	}, {
		name: "pod-level resources replace the containers' sum",
		spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "a", Resources: cpu("100m", "1")}},
			Resources:  &corev1.ResourceRequirements{Requests: cpu("2", "").Requests, Limits: cpu("", "4").Limits},
		},
		wantRequest: "2", wantLimit: "4",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tt.spec}
			check := func(side string, got corev1.ResourceList, want string) {
				t.Helper()
				wantList := corev1.ResourceList{}
				if want != "" {
					wantList[corev1.ResourceCPU] = resource.MustParse(want)
				}
				if !quotav1.Equals(got, wantList) {
					t.Errorf("%s = %v, want %v", side, got, wantList)
				}
			}
			check("requests", Requests(pod), tt.wantRequest)
			check("limits", Limits(pod), tt.wantLimit)
		})
	}
}
