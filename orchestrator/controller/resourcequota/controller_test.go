package resourcequota

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/quota"
)

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func newQuota(name string, hard, statusHard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work", ResourceVersion: "1"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: statusHard, Used: used},
	}
}

func newPod(ns, name string, phase corev1.PodPhase, requests corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: requests}}}},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func newService(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work"},
		Spec:       corev1.ServiceSpec{Type: typ, Ports: []corev1.ServicePort{{Port: 80}}},
	}
}

// fixture holds a controller whose informer caches are seeded by hand, over a
// fake API holding the same objects.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	c      *Controller
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, quota.NewConfiguration(f))
	t.Cleanup(c.queue.ShutDown)
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.ResourceQuota:
			err = f.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Service:
			err = f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.ConfigMap:
			err = f.Core().V1().ConfigMaps().Informer().GetIndexer().Add(o)
		case *appsv1.Deployment:
			// Only in the API: the controller starts this informer itself.
		default:
			t.Fatalf("no informer for %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return &fixture{t: t, client: client, c: c}
}

// statusWrites returns the quota statuses the controller wrote.
func (f *fixture) statusWrites() []*corev1.ResourceQuota {
	var written []*corev1.ResourceQuota
	for _, a := range f.client.Actions() {
		if a.Matches("update", "resourcequotas") && a.GetSubresource() == "status" {
			written = append(written, a.(core.UpdateAction).GetObject().(*corev1.ResourceQuota))
		}
	}
	return written
}

func TestSync(t *testing.T) {
	hard := list("pods", "10", "count/pods", "20", "requests.cpu", "4", "services", "5", "services.nodeports", "2",
		"configmaps", "3", "example.com/widgets", "1")
	counted := list("pods", "2", "count/pods", "3", "requests.cpu", "1500m", "services", "2", "services.nodeports", "1",
		"configmaps", "1")
	namespace := []runtime.Object{
		newPod("work", "web", corev1.PodRunning, list("cpu", "1")),
		newPod("work", "worker", corev1.PodPending, list("cpu", "500m")),
		newPod("work", "job", corev1.PodSucceeded, list("cpu", "8")),
		newPod("other", "elsewhere", corev1.PodRunning, list("cpu", "4")),
		newService("web", corev1.ServiceTypeNodePort),
		newService("db", corev1.ServiceTypeClusterIP),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "work"}},
	}
	tests := []struct {
		name  string
		quota *corev1.ResourceQuota
		want  *corev1.ResourceQuotaStatus // nil: nothing written
	}{{
		name:  "a new quota gets hard from its spec and used counted",
		quota: newQuota("compute", hard, nil, nil),
		want:  &corev1.ResourceQuotaStatus{Hard: hard, Used: counted},
	}, {
		name:  "a quota whose status is true is not written",
		quota: newQuota("compute", hard, hard, counted),
	}, {
		name:  "a stale count is corrected",
		quota: newQuota("compute", hard, hard, list("pods", "5", "count/pods", "3", "requests.cpu", "1500m", "services", "2", "services.nodeports", "1", "configmaps", "1")),
		want:  &corev1.ResourceQuotaStatus{Hard: hard, Used: counted},
	}, {
		name:  "a changed spec is mirrored and resources no longer limited dropped",
		quota: newQuota("compute", list("pods", "3"), hard, counted),
		want:  &corev1.ResourceQuotaStatus{Hard: list("pods", "3"), Used: list("pods", "2")},
	}, {
		name: "a scoped quota counts the pods in its scope only",
		quota: func() *corev1.ResourceQuota {
			q := newQuota("burstable", list("pods", "5"), nil, nil)
			q.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotBestEffort}
			return q
		}(),
		want: &corev1.ResourceQuotaStatus{Hard: list("pods", "5"), Used: list("pods", "2")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, append([]runtime.Object{tt.quota}, namespace...)...)
			if err := f.c.sync(context.Background(), "work/"+tt.quota.Name); err != nil {
				t.Fatal(err)
			}
			written := f.statusWrites()
			if tt.want == nil {
				if len(written) != 0 {
					t.Fatalf("wrote %v, want no write", written[0].Status)
				}
				return
			}
			if len(written) != 1 {
				t.Fatalf("wrote %d statuses, want 1", len(written))
			}
			got := written[0].Status
			if !quotav1.Equals(got.Hard, tt.want.Hard) || !quotav1.Equals(got.Used, tt.want.Used) {
				t.Errorf("status hard %v used %v\nwant   hard %v used %v", got.Hard, got.Used, tt.want.Hard, tt.want.Used)
			}
		})
	}
}

func TestSyncDeletedQuota(t *testing.T) {
	f := newFixture(t)
	if err := f.c.sync(context.Background(), "work/gone"); err != nil {
		t.Fatal(err)
	}
	if len(f.client.Actions()) != 0 {
		t.Errorf("actions %v, want none", f.client.Actions())
	}
}

func TestSyncCountsAnyResource(t *testing.T) {
	deployment := func(name string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work"}}
	}
	hard := list("count/deployments.apps", "5", "count/widgets.example.com", "1")
	f := newFixture(t, newQuota("objects", hard, nil, nil), deployment("a"), deployment("b"))
	f.client.Resources = []*metav1.APIResourceList{{
		GroupVersion: "apps/v1",
		APIResources: []metav1.APIResource{{Name: "deployments", Namespaced: true, Kind: "Deployment"}},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The first syncs wait for the deployments cache the controller starts.
	for {
		err := f.c.sync(ctx, "work/objects")
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("quota never synced: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	written := f.statusWrites()
	if len(written) == 0 {
		t.Fatal("no status written")
	}
	got := written[len(written)-1].Status
	if want := list("count/deployments.apps", "2"); !quotav1.Equals(got.Used, want) || !quotav1.Equals(got.Hard, hard) {
		t.Errorf("status hard %v used %v, want hard %v used %v", got.Hard, got.Used, hard, want)
	}
}

func TestQuotaNeedsSync(t *testing.T) {
	hard := list("pods", "1")
	synced := newQuota("q", hard, hard, list("pods", "0"))
	charged := synced.DeepCopy()
	charged.ResourceVersion = "2"
	charged.Status.Used = list("pods", "1")
	raised := synced.DeepCopy()
	raised.ResourceVersion = "2"
	raised.Spec.Hard = list("pods", "2")
	tests := []struct {
		name     string
		old, cur *corev1.ResourceQuota
		want     bool
	}{
		{"admission charging the quota", synced, charged, false},
		{"a raised limit", synced, raised, true},
		{"a status that does not mirror the spec", raised, raised, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quotaNeedsSync(tt.old, tt.cur); got != tt.want {
				t.Errorf("quotaNeedsSync = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReplenish(t *testing.T) {
	pods := newQuota("pods", list("pods", "2"), nil, nil)
	services := newQuota("services", list("services.nodeports", "2"), nil, nil)
	running := newPod("work", "web", corev1.PodRunning, list("cpu", "1"))
	succeeded := running.DeepCopy()
	succeeded.Status.Phase = corev1.PodSucceeded
	relabelled := running.DeepCopy()
	relabelled.Labels = map[string]string{"tier": "web"}
	clusterIP := newService("web", corev1.ServiceTypeClusterIP)
	nodePort := newService("web", corev1.ServiceTypeNodePort)
	tests := []struct {
		name     string
		resource string
		old, cur runtime.Object
		want     []string
	}{
		{"a pod finishing frees its quota", "pods", running, succeeded, []string{"work/pods"}},
		{"a pod relabelled changes nothing", "pods", running, relabelled, nil},
		{"a service becoming a node port", "services", clusterIP, nodePort, []string{"work/services"}},
		{"a pod deleted", "pods", nil, running, []string{"work/pods"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, pods, services)
			e := f.c.registry.Get(corev1.Resource(tt.resource))
			if tt.old == nil {
				f.c.replenish(e, cache.DeletedFinalStateUnknown{Key: "work/web", Obj: tt.cur})
			} else if usageChanged(e, tt.old, tt.cur) {
				f.c.replenish(e, tt.cur)
			}
			var got []string
			for f.c.queue.Len() > 0 {
				key, _ := f.c.queue.Get()
				got = append(got, key)
				f.c.queue.Done(key)
			}
			if len(got) != len(tt.want) || (len(got) == 1 && got[0] != tt.want[0]) {
				t.Errorf("queued %v, want %v", got, tt.want)
			}
		})
	}
}
