package limitranger

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func limitRange(items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "work"},
		Spec:       corev1.LimitRangeSpec{Limits: items},
	}
}

func pod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "x-", Namespace: "work"},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func pvc(storage string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "work"},
		Spec: corev1.PersistentVolumeClaimSpec{
			Resources: corev1.VolumeResourceRequirements{Requests: list("storage", storage)},
		},
	}
}

// newPlugin returns the plugin over informers synced from a fake API holding
// cached, with live as what the API itself returns on a direct read.
func newPlugin(t *testing.T, cached []runtime.Object, live ...runtime.Object) *Plugin {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(cached...), 0)
	p := New(fake.NewClientset(append(live, cached...)...), f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return p
}

// admit runs the plugin as the API server does: mutation, then validation.
func admit(p *Plugin, obj, old runtime.Object, op admission.Operation) error {
	var a admission.Attributes
	switch o := obj.(type) {
	case *corev1.Pod:
		a = admission.NewAttributesRecord(o, old, corev1.SchemeGroupVersion.WithKind("Pod"), o.Namespace, o.Name,
			corev1.SchemeGroupVersion.WithResource("pods"), "", op, nil, false, nil)
	case *corev1.PersistentVolumeClaim:
		a = admission.NewAttributesRecord(o, old, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), o.Namespace, o.Name,
			corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), "", op, nil, false, nil)
	}
	ctx := context.Background()
	if err := p.Admit(ctx, a, nil); err != nil {
		return err
	}
	return p.Validate(ctx, a, nil)
}

func TestValidate(t *testing.T) {
	containerMax := corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("memory", "100Mi")}
	tests := []struct {
		name   string
		ranges []runtime.Object
		obj    runtime.Object
		want   string
	}{{
		name:   "namespace without LimitRanges admits anything",
		obj:    pod(container("app", nil, list("memory", "5Gi"))),
		ranges: nil,
	}, {
		name:   "container limit over the maximum",
		ranges: []runtime.Object{limitRange(containerMax)},
		obj:    pod(container("app", nil, list("memory", "5Gi"))),
		want:   `pods "x-" is forbidden: maximum memory usage per Container is 100Mi, but limit is 5Gi`,
	}, {
		name:   "container request over the maximum",
		ranges: []runtime.Object{limitRange(containerMax)},
		obj:    pod(container("app", list("memory", "200Mi"), list("memory", "100Mi"))),
		want:   `pods "x-" is forbidden: maximum memory usage per Container is 100Mi, but request is 200Mi`,
	}, {
		name:   "maximum without a limit or a default",
		ranges: []runtime.Object{limitRange(containerMax)},
		obj:    pod(container("app", nil, nil)),
		want:   `pods "x-" is forbidden: maximum memory usage per Container is 100Mi.  No limit is specified`,
	}, {
		name:   "container request under the minimum",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("cpu", "100m")})},
		obj:    pod(container("app", list("cpu", "50m"), nil)),
		want:   `pods "x-" is forbidden: minimum cpu usage per Container is 100m, but request is 50m`,
	}, {
		name:   "init containers are held to container limits too",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("cpu", "100m")})},
		obj: func() *corev1.Pod {
			p := pod(container("app", list("cpu", "100m"), nil))
			p.Spec.InitContainers = []corev1.Container{container("init", list("cpu", "10m"), nil)}
			return p
		}(),
		want: `pods "x-" is forbidden: minimum cpu usage per Container is 100m, but request is 10m`,
	}, {
		name:   "limit to request ratio over the maximum",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("cpu", "2")})},
		obj:    pod(container("app", list("cpu", "100m"), list("cpu", "400m"))),
		want:   `pods "x-" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000`,
	}, {
		name:   "limit to request ratio at the maximum",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: list("cpu", "2")})},
		obj:    pod(container("app", list("cpu", "100m"), list("cpu", "200m"))),
	}, {
		name:   "pod limits add up across containers",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: list("cpu", "1")})},
		obj:    pod(container("a", list("cpu", "100m"), list("cpu", "600m")), container("b", list("cpu", "100m"), list("cpu", "600m"))),
		want:   `pods "x-" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m`,
	}, {
		name:   "several violations are reported together",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: list("cpu", "100m"), Max: list("cpu", "1")})},
		obj:    pod(container("a", list("cpu", "50m"), list("cpu", "2"))),
		want:   `pods "x-" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, maximum cpu usage per Container is 1, but limit is 2]`,
	}, {
		name:   "claim under the minimum",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: list("storage", "1Gi")})},
		obj:    pvc("500Mi"),
		want:   `persistentvolumeclaims "data" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`,
	}, {
		name:   "claim over the maximum",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Max: list("storage", "10Gi")})},
		obj:    pvc("20Gi"),
		want:   `persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`,
	}, {
		name:   "claim within its limits",
		ranges: []runtime.Object{limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: list("storage", "1Gi"), Max: list("storage", "10Gi")})},
		obj:    pvc("5Gi"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlugin(t, tt.ranges)
			err := admit(p, tt.obj, nil, admission.Create)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	defaults := limitRange(corev1.LimitRangeItem{
		Type:           corev1.LimitTypeContainer,
		Default:        list("cpu", "500m", "memory", "64Mi"),
		DefaultRequest: list("cpu", "100m", "memory", "32Mi"),
		Max:            list("memory", "100Mi"),
	})
	tests := []struct {
		name           string
		pod            *corev1.Pod
		wantRequests   corev1.ResourceList
		wantLimits     corev1.ResourceList
		wantAnnotation string
	}{{
		name:           "container without resources gets the defaults",
		pod:            pod(container("app", nil, nil)),
		wantRequests:   list("cpu", "100m", "memory", "32Mi"),
		wantLimits:     list("cpu", "500m", "memory", "64Mi"),
		wantAnnotation: "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app",
	}, {
		name:           "stated values are kept",
		pod:            pod(container("app", list("cpu", "200m"), list("cpu", "1", "memory", "90Mi"))),
		wantRequests:   list("cpu", "200m", "memory", "32Mi"),
		wantLimits:     list("cpu", "1", "memory", "90Mi"),
		wantAnnotation: "LimitRanger plugin set: memory request for container app",
	}, {
		name:         "a fully specified container is left alone",
		pod:          pod(container("app", list("cpu", "1", "memory", "1Mi"), list("cpu", "1", "memory", "1Mi"))),
		wantRequests: list("cpu", "1", "memory", "1Mi"),
		wantLimits:   list("cpu", "1", "memory", "1Mi"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlugin(t, []runtime.Object{defaults})
			if err := admit(p, tt.pod, nil, admission.Create); err != nil {
				t.Fatal(err)
			}
			r := tt.pod.Spec.Containers[0].Resources
			if !quotav1.Equals(r.Requests, tt.wantRequests) || !quotav1.Equals(r.Limits, tt.wantLimits) {
				t.Errorf("resources = %v / %v, want %v / %v", r.Requests, r.Limits, tt.wantRequests, tt.wantLimits)
			}
			if got := tt.pod.Annotations[annotation]; got != tt.wantAnnotation {
				t.Errorf("annotation = %q, want %q", got, tt.wantAnnotation)
			}
		})
	}
}

func TestLimitRangeNotYetCached(t *testing.T) {
	lr := limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("memory", "100Mi")})
	p := newPlugin(t, nil, lr)
	err := admit(p, pod(container("app", nil, list("memory", "5Gi"))), nil, admission.Create)
	want := `pods "x-" is forbidden: maximum memory usage per Container is 100Mi, but limit is 5Gi`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestPodUpdatesAreLeftAlone(t *testing.T) {
	lr := limitRange(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: list("memory", "100Mi")})
	p := newPlugin(t, []runtime.Object{lr})
	old := pod(container("app", nil, list("memory", "5Gi")))
	old.Name = "x-abcde"
	updated := old.DeepCopy()
	updated.Labels = map[string]string{"app": "x"}
	if err := admit(p, updated, old, admission.Update); err != nil {
		t.Errorf("update refused: %v", err)
	}
}
