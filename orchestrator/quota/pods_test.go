package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// list builds a resource list from name, quantity pairs.
func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

// container builds a container with requests and limits given as name, quantity pairs.
func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

type podOption func(*corev1.Pod)

func newPod(name string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work"}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withContainers(cs ...corev1.Container) podOption {
	return func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, cs...) }
}

func withInit(cs ...corev1.Container) podOption {
	return func(p *corev1.Pod) { p.Spec.InitContainers = append(p.Spec.InitContainers, cs...) }
}

func withPhase(phase corev1.PodPhase) podOption {
	return func(p *corev1.Pod) { p.Status.Phase = phase }
}

func sidecar(c corev1.Container) corev1.Container {
	c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	return c
}

func assertList(t *testing.T, got, want corev1.ResourceList) {
	t.Helper()
	if !quotav1.Equals(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPodUsage(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	tests := []struct {
		name string
		pod  *corev1.Pod
		want corev1.ResourceList
	}{{
		name: "best effort pod counts only as a pod",
		pod:  newPod("a", withContainers(container("app", nil, nil))),
		want: list("count/pods", "1", "pods", "1"),
	}, {
		name: "requests and limits of containers add up",
		pod: newPod("a", withContainers(
			container("app", list("cpu", "100m", "memory", "64Mi"), list("cpu", "200m", "memory", "128Mi")),
			container("log", list("cpu", "50m", "ephemeral-storage", "1Gi"), list("cpu", "100m")),
		)),
		want: list("count/pods", "1", "pods", "1",
			"cpu", "150m", "requests.cpu", "150m", "limits.cpu", "300m",
			"memory", "64Mi", "requests.memory", "64Mi", "limits.memory", "128Mi",
			"ephemeral-storage", "1Gi", "requests.ephemeral-storage", "1Gi"),
	}, {
		name: "init containers raise the total to their peak, sidecars add to it",
		pod: newPod("a",
			withContainers(container("app", list("cpu", "100m"), nil), container("web", list("cpu", "200m"), nil)),
			withInit(sidecar(container("proxy", list("cpu", "50m"), nil)), container("migrate", list("cpu", "500m"), nil)),
		),
		want: list("count/pods", "1", "pods", "1", "cpu", "550m", "requests.cpu", "550m"),
	}, {
		name: "pod-level resources override the containers and overhead adds",
		pod: func() *corev1.Pod {
			p := newPod("a", withContainers(container("app", list("cpu", "100m"), list("cpu", "1"))))
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: list("cpu", "300m"), Limits: list("cpu", "2")}
			p.Spec.Overhead = list("cpu", "10m", "memory", "20Mi")
			return p
		}(),
		want: list("count/pods", "1", "pods", "1", "cpu", "310m", "requests.cpu", "310m", "limits.cpu", "2010m",
			"memory", "20Mi", "requests.memory", "20Mi"),
	}, {
		name: "extended resources and hugepages are charged as requests",
		pod: newPod("a", withContainers(container("app",
			list("example.com/gpu", "2", "hugepages-2Mi", "4Mi"), list("example.com/gpu", "2", "hugepages-2Mi", "4Mi")))),
		want: list("count/pods", "1", "pods", "1", "requests.example.com/gpu", "2",
			"hugepages-2Mi", "4Mi", "requests.hugepages-2Mi", "4Mi"),
	}, {
		name: "succeeded pod keeps only its object count",
		pod:  newPod("a", withPhase(corev1.PodSucceeded), withContainers(container("app", list("cpu", "1"), nil))),
		want: list("count/pods", "1"),
	}, {
		name: "failed pod keeps only its object count",
		pod:  newPod("a", withPhase(corev1.PodFailed), withContainers(container("app", list("cpu", "1"), nil))),
		want: list("count/pods", "1"),
	}, {
		name: "pod past its deletion grace period is not charged",
		pod: func() *corev1.Pod {
			p := newPod("a", withContainers(container("app", list("cpu", "1"), nil)))
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
			return p
		}(),
		want: list("count/pods", "1"),
	}, {
		name: "pod within its deletion grace period is still charged",
		pod: func() *corev1.Pod {
			p := newPod("a", withContainers(container("app", list("cpu", "1"), nil)))
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-10 * time.Second)}
			p.DeletionGracePeriodSeconds = ptr.To[int64](30)
			return p
		}(),
		want: list("count/pods", "1", "pods", "1", "cpu", "1", "requests.cpu", "1"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.Usage(tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			assertList(t, got, tt.want)
		})
	}
}

func TestPodConstraints(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	tests := []struct {
		name     string
		required []corev1.ResourceName
		pod      *corev1.Pod
		want     string
	}{{
		name:     "containers stating what the quota limits pass",
		required: []corev1.ResourceName{"pods", "requests.cpu", "limits.memory"},
		pod:      newPod("a", withContainers(container("app", list("cpu", "1"), list("memory", "1Gi")))),
	}, {
		name:     "resources outside cpu and memory are not required",
		required: []corev1.ResourceName{"pods", "requests.ephemeral-storage", "requests.example.com/gpu"},
		pod:      newPod("a", withContainers(container("app", nil, nil))),
	}, {
		name:     "missing resources are listed per resource, containers sorted",
		required: []corev1.ResourceName{"limits.cpu", "requests.memory"},
		pod: newPod("a",
			withContainers(container("y", list("cpu", "1"), list("cpu", "1")), container("x", nil, nil)),
			withInit(container("init", list("memory", "1Gi"), list("cpu", "1")))),
		want: "must specify limits.cpu for: x; requests.memory for: x,y",
	}, {
		name:     "a cpu quota needs a cpu request",
		required: []corev1.ResourceName{"cpu"},
		pod:      newPod("a", withContainers(container("app", nil, list("cpu", "1")))),
		want:     "must specify cpu for: app",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Constraints(tt.required, tt.pod)
			if got := errString(err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPodScopes(t *testing.T) {
	bestEffort := newPod("be", withContainers(container("app", nil, nil)))
	burstable := newPod("bu", withContainers(container("app", list("cpu", "1"), nil)))
	job := newPod("job", withContainers(container("app", nil, nil)))
	job.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
	high := newPod("high", withContainers(container("app", nil, nil)))
	high.Spec.PriorityClassName = "high"
	crossNS := newPod("cross", withContainers(container("app", nil, nil)))
	crossNS.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "zone", Namespaces: []string{"other"}}},
	}}

	exists := func(s corev1.ResourceQuotaScope) corev1.ScopedResourceSelectorRequirement {
		return corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists}
	}
	priorityIn := corev1.ScopedResourceSelectorRequirement{
		ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"},
	}
	priorityNotIn := corev1.ScopedResourceSelectorRequirement{
		ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpNotIn, Values: []string{"high"},
	}
	tests := []struct {
		name  string
		scope corev1.ScopedResourceSelectorRequirement
		match []*corev1.Pod
	}{
		{"BestEffort", exists(corev1.ResourceQuotaScopeBestEffort), []*corev1.Pod{bestEffort, job, high, crossNS}},
		{"NotBestEffort", exists(corev1.ResourceQuotaScopeNotBestEffort), []*corev1.Pod{burstable}},
		{"Terminating", exists(corev1.ResourceQuotaScopeTerminating), []*corev1.Pod{job}},
		{"NotTerminating", exists(corev1.ResourceQuotaScopeNotTerminating), []*corev1.Pod{bestEffort, burstable, high, crossNS}},
		{"PriorityClass exists", exists(corev1.ResourceQuotaScopePriorityClass), []*corev1.Pod{high}},
		{"PriorityClass in", priorityIn, []*corev1.Pod{high}},
		{"PriorityClass not in", priorityNotIn, []*corev1.Pod{bestEffort, burstable, job, crossNS}},
		{"CrossNamespacePodAffinity", exists(corev1.ResourceQuotaScopeCrossNamespacePodAffinity), []*corev1.Pod{crossNS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, pod := range []*corev1.Pod{bestEffort, burstable, job, high, crossNS} {
				want := false
				for _, m := range tt.match {
					want = want || m == pod
				}
				got, err := podMatchesScope(tt.scope, pod)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("pod %s: matches = %v, want %v", pod.Name, got, want)
				}
			}
		})
	}
}

func TestPodMatchingResources(t *testing.T) {
	e := NewPodEvaluator(nil, testingclock.NewFakePassiveClock(now))
	in := []corev1.ResourceName{"pods", "count/pods", "requests.cpu", "limits.memory", "services",
		"requests.example.com/gpu", "requests.hugepages-2Mi", "requests.storage", "count/deployments.apps"}
	got := e.MatchingResources(in)
	want := []corev1.ResourceName{"pods", "count/pods", "requests.cpu", "limits.memory", "requests.example.com/gpu", "requests.hugepages-2Mi"}
	if !quotav1.Equals(toList(got), toList(want)) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func toList(names []corev1.ResourceName) corev1.ResourceList {
	l := corev1.ResourceList{}
	for _, n := range names {
		l[n] = resource.MustParse("1")
	}
	return l
}

// newFactory returns an informer factory whose caches hold objs, as a controller's
// would once synced.
func newFactory(t *testing.T, objs ...runtime.Object) informers.SharedInformerFactory {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Service:
			err = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *corev1.ConfigMap:
			err = f.Core().V1().ConfigMaps().Informer().GetIndexer().Add(o)
		default:
			t.Fatalf("no informer for %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestPodUsageStats(t *testing.T) {
	other := newPod("elsewhere", withContainers(container("app", list("cpu", "4"), nil)))
	other.Namespace = "other"
	f := newFactory(t,
		newPod("a", withContainers(container("app", list("cpu", "1", "memory", "1Gi"), list("cpu", "2")))),
		newPod("b", withContainers(container("app", nil, nil))),
		newPod("done", withPhase(corev1.PodSucceeded), withContainers(container("app", list("cpu", "8"), nil))),
		other,
	)
	e := NewPodEvaluator(Listers(f), testingclock.NewFakePassiveClock(now))
	tests := []struct {
		name   string
		scopes []corev1.ResourceQuotaScope
		want   corev1.ResourceList
	}{{
		name: "all pods of the namespace, terminal ones only as objects",
		want: list("pods", "2", "count/pods", "3", "requests.cpu", "1", "limits.cpu", "2", "requests.memory", "1Gi"),
	}, {
		name:   "best effort scope",
		scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort},
		want:   list("pods", "1", "count/pods", "1", "requests.cpu", "0", "limits.cpu", "0", "requests.memory", "0"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stats, err := e.UsageStats(quotav1.UsageStatsOptions{
				Namespace: "work",
				Scopes:    tt.scopes,
				Resources: []corev1.ResourceName{"pods", "count/pods", "requests.cpu", "limits.cpu", "requests.memory"},
			})
			if err != nil {
				t.Fatal(err)
			}
			assertList(t, quotav1.Mask(stats.Used, quotav1.ResourceNames(tt.want)), tt.want)
		})
	}
}
