package registry

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// rl lists quantities by resource name, as a manifest writes them.
type rl = map[corev1.ResourceName]string

// container builds a container with the given requests and limits.
func container(requests, limits map[corev1.ResourceName]string) corev1.Container {
	list := func(m map[corev1.ResourceName]string) corev1.ResourceList {
		if m == nil {
			return nil
		}
		out := corev1.ResourceList{}
		for name, q := range m {
			out[name] = apiresource.MustParse(q)
		}
		return out
	}
	return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: list(requests), Limits: list(limits)}}
}

func TestQOSClass(t *testing.T) {
	cpuMem := rl{corev1.ResourceCPU: "100m", corev1.ResourceMemory: "128Mi"}
	cases := []struct {
		name       string
		init, main []corev1.Container
		want       corev1.PodQOSClass
	}{
		{
			name: "no resources at all",
			main: []corev1.Container{container(nil, nil), container(nil, nil)},
			want: corev1.PodQOSBestEffort,
		},
		{
			name: "only resources that do not count",
			main: []corev1.Container{container(rl{corev1.ResourceEphemeralStorage: "1Gi", "example.com/gpu": "1"}, rl{"example.com/gpu": "1"})},
			want: corev1.PodQOSBestEffort,
		},
		{
			name: "zero requests and limits",
			main: []corev1.Container{container(rl{corev1.ResourceCPU: "0"}, rl{corev1.ResourceMemory: "0"})},
			want: corev1.PodQOSBestEffort,
		},
		{
			name: "requests equal limits for cpu and memory",
			main: []corev1.Container{container(cpuMem, cpuMem)},
			want: corev1.PodQOSGuaranteed,
		},
		{
			name: "equal quantities written differently",
			main: []corev1.Container{container(rl{corev1.ResourceCPU: "1", corev1.ResourceMemory: "1Gi"}, rl{corev1.ResourceCPU: "1000m", corev1.ResourceMemory: "1024Mi"})},
			want: corev1.PodQOSGuaranteed,
		},
		{
			name: "only a request",
			main: []corev1.Container{container(rl{corev1.ResourceCPU: "100m"}, nil)},
			want: corev1.PodQOSBurstable,
		},
		{
			name: "limits above requests",
			main: []corev1.Container{container(cpuMem, rl{corev1.ResourceCPU: "200m", corev1.ResourceMemory: "128Mi"})},
			want: corev1.PodQOSBurstable,
		},
		{
			name: "a cpu limit only",
			main: []corev1.Container{container(rl{corev1.ResourceCPU: "100m"}, rl{corev1.ResourceCPU: "100m"})},
			want: corev1.PodQOSBurstable,
		},
		{
			name: "one guaranteed container and one best effort",
			main: []corev1.Container{container(cpuMem, cpuMem), container(nil, nil)},
			want: corev1.PodQOSBurstable,
		},
		{
			name: "guaranteed containers and a best-effort init container",
			init: []corev1.Container{container(nil, nil)},
			main: []corev1.Container{container(cpuMem, cpuMem)},
			want: corev1.PodQOSBurstable,
		},
		{
			name: "guaranteed init and main containers",
			init: []corev1.Container{container(rl{corev1.ResourceCPU: "1", corev1.ResourceMemory: "1Gi"}, rl{corev1.ResourceCPU: "1", corev1.ResourceMemory: "1Gi"})},
			main: []corev1.Container{container(cpuMem, cpuMem), container(cpuMem, cpuMem)},
			want: corev1.PodQOSGuaranteed,
		},
		{
			name: "an init container with requests makes a best-effort pod burstable",
			init: []corev1.Container{container(rl{corev1.ResourceMemory: "64Mi"}, nil)},
			main: []corev1.Container{container(nil, nil)},
			want: corev1.PodQOSBurstable,
		},
		{
			name: "guaranteed with an extended resource besides",
			main: []corev1.Container{container(
				rl{corev1.ResourceCPU: "100m", corev1.ResourceMemory: "128Mi", "example.com/gpu": "1"},
				rl{corev1.ResourceCPU: "100m", corev1.ResourceMemory: "128Mi", "example.com/gpu": "1"})},
			want: corev1.PodQOSGuaranteed,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := &corev1.PodSpec{InitContainers: c.init, Containers: c.main}
			if got := qosClass(spec); got != c.want {
				t.Errorf("qosClass = %s, want %s", got, c.want)
			}
		})
	}
}

func TestPrepareJob(t *testing.T) {
	const uid = types.UID("0a1b2c3d-uid")
	generated := map[string]string{
		jobControllerUIDLabel: string(uid), legacyControllerUID: string(uid),
		jobNameLabel: "pi", legacyJobName: "pi",
	}
	cases := []struct {
		name           string
		manual         *bool
		selector       *metav1.LabelSelector
		templateLabels map[string]string
		wantSelector   *metav1.LabelSelector
		wantLabels     map[string]string
	}{
		{
			name:         "selector and labels generated from the uid",
			wantSelector: &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: string(uid)}},
			wantLabels:   generated,
		},
		{
			name:           "labels of the template are kept",
			templateLabels: map[string]string{"app": "pi"},
			wantSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: string(uid)}},
			wantLabels: map[string]string{
				"app":                 "pi",
				jobControllerUIDLabel: string(uid), legacyControllerUID: string(uid),
				jobNameLabel: "pi", legacyJobName: "pi",
			},
		},
		{
			name:           "a label the user set is not overwritten",
			templateLabels: map[string]string{jobNameLabel: "custom"},
			wantSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: string(uid)}},
			wantLabels: map[string]string{
				jobControllerUIDLabel: string(uid), legacyControllerUID: string(uid),
				jobNameLabel: "custom", legacyJobName: "pi",
			},
		},
		{
			name:         "manualSelector false still generates",
			manual:       ptr.To(false),
			wantSelector: &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: string(uid)}},
			wantLabels:   generated,
		},
		{
			name:           "manualSelector keeps the user's selector and labels",
			manual:         ptr.To(true),
			selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}},
			templateLabels: map[string]string{"app": "pi"},
			wantSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}},
			wantLabels:     map[string]string{"app": "pi"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: uid},
				Spec: batchv1.JobSpec{
					ManualSelector: c.manual,
					Selector:       c.selector,
					Template:       corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: c.templateLabels}},
				},
			}
			prepareJob(context.Background(), job)
			if diff := cmp.Diff(c.wantSelector, job.Spec.Selector); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wantLabels, job.Spec.Template.Labels); diff != "" {
				t.Errorf("template labels (-want +got):\n%s", diff)
			}
		})
	}
}
