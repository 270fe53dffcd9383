package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}},
			},
		},
	}
}

// podOption changes a pod made by newPod.
type podOption func(*corev1.Pod)

func newPod(name string, owner metav1.Object, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "shop", UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:            map[string]string{"app": "web", "tier": "front"},
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
		},
		Spec:   corev1.PodSpec{NodeName: "node-a"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(since time.Time) podOption {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)})
	}
}

func phase(ph corev1.PodPhase) podOption { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func node(n string) podOption            { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func labeled(kv ...string) podOption {
	return func(p *corev1.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

// fixture is a controller whose informer caches are seeded by hand, over a fake
// API holding the same objects. The fake API names pods from their
// generateName as the real one does.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
}

func newFixture(t *testing.T, rc bool, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	n := 0
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		m, _ := meta.Accessor(a.(core.CreateAction).GetObject())
		if m.GetName() == "" {
			mu.Lock()
			n++
			m.SetName(fmt.Sprintf("%s%d", m.GetGenerateName(), n))
			mu.Unlock()
		}
		m.SetUID(types.UID("uid-" + m.GetName()))
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(1000)
	var c *Controller
	if rc {
		c = NewForReplicationControllers(client, factory, recorder)
	} else {
		c = New(client, factory, recorder)
	}
	c.now = func() time.Time { return now }
	c.expect = podcontrol.NewExpectations(c.now)
	t.Cleanup(c.queue.ShutDown)
	f := &fixture{t: t, client: client, factory: factory, recorder: recorder, c: c}
	for _, obj := range objs {
		f.cache(obj)
	}
	client.ClearActions()
	return f
}

// cache puts obj in the informer cache, as a watch event would.
func (f *fixture) cache(obj runtime.Object) {
	f.t.Helper()
	var err error
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		err = f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Add(o)
	case *corev1.ReplicationController:
		err = f.factory.Core().V1().ReplicationControllers().Informer().GetIndexer().Add(o)
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
	default:
		f.t.Fatalf("no informer for %T", obj)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync(key string) error {
	f.t.Helper()
	return f.c.sync(context.Background(), key)
}

// actions lists the writes made, as "verb resource[/subresource] [name]".
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		switch a := a.(type) {
		case core.DeleteAction:
			s += " " + a.GetName()
		case core.PatchAction:
			s += " " + a.GetName()
		}
		out = append(out, s)
	}
	return out
}

func (f *fixture) count(action string) int {
	n := 0
	for _, a := range f.actions() {
		if a == action {
			n++
		}
	}
	return n
}

// createdPods returns the pods the controller created.
func (f *fixture) createdPods() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if a.Matches("create", "pods") {
			out = append(out, a.(core.CreateAction).GetObject().(*corev1.Pod))
		}
	}
	return out
}

// deleted returns the names of the pods deleted, sorted.
func (f *fixture) deleted() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.Matches("delete", "pods") {
			out = append(out, a.(core.DeleteAction).GetName())
		}
	}
	slices.Sort(out)
	return out
}

// status returns the last status written.
func (f *fixture) status() *appsv1.ReplicaSetStatus {
	var last *appsv1.ReplicaSetStatus
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			switch o := a.(core.UpdateAction).GetObject().(type) {
			case *appsv1.ReplicaSet:
				last = &o.Status
			case *corev1.ReplicationController:
				last = &fromRC(o).Status
			}
		}
	}
	return last
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestScaleUp(t *testing.T) {
	t.Run("creates the missing pods from the template, owned by the ReplicaSet", func(t *testing.T) {
		f := newFixture(t, false, newRS("web-abc", 3), newPod("web-abc-x", newRS("web-abc", 3)))
		if err := f.sync("shop/web-abc"); err != nil {
			t.Fatal(err)
		}
		pods := f.createdPods()
		if len(pods) != 2 {
			t.Fatalf("created %d pods, want 2: %v", len(pods), f.actions())
		}
		p := pods[0]
		ref := metav1.GetControllerOf(p)
		if p.GenerateName != "web-abc-" || p.Labels["tier"] != "front" || p.Spec.Containers[0].Image != "web:1" ||
			ref == nil || ref.Kind != "ReplicaSet" || ref.Name != "web-abc" || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %+v\nowner %+v", p.ObjectMeta, ref)
		}
		if got := f.events(); len(got) != 2 || !strings.HasPrefix(got[0], "Normal SuccessfulCreate Created pod: web-abc-") {
			t.Errorf("events %q", got)
		}
		if s := f.status(); s == nil || s.Replicas != 1 || s.ObservedGeneration != 1 {
			t.Errorf("status %+v, want the one pod counted", s)
		}
	})

	t.Run("slow start doubles batches and stops at the first that fails", func(t *testing.T) {
		f := newFixture(t, false, newRS("web-abc", 10))
		var mu sync.Mutex
		attempts := 0
		f.client.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			if attempts++; attempts > 3 {
				return true, nil, errors.New("etcd is unhappy")
			}
			return false, nil, nil
		})
		err := f.sync("shop/web-abc")
		if err == nil || !strings.Contains(err.Error(), "etcd is unhappy") {
			t.Fatalf("sync error %v, want the create error", err)
		}
		// Batches of 1 and 2 succeed, the batch of 4 fails; the last 3 are never tried.
		if attempts != 7 {
			t.Errorf("%d create attempts, want 1+2+4", attempts)
		}
		s := f.status()
		if s == nil || len(s.Conditions) != 1 || s.Conditions[0].Reason != "FailedCreate" || s.Conditions[0].Message != "etcd is unhappy" {
			t.Errorf("status %+v, want a ReplicaFailure condition", s)
		}

		// The 3 pods created are not in the cache yet: a sync now must not
		// create them again.
		f.client.ClearActions()
		if err := f.sync("shop/web-abc"); err != nil {
			t.Fatal(err)
		}
		if n := f.count("create pods"); n != 0 {
			t.Fatalf("created %d pods with creations outstanding", n)
		}
		// The cache catches up: the rest are created, the failure cleared.
		for i := 1; i <= 3; i++ {
			p, err := f.client.CoreV1().Pods("shop").Get(context.Background(), fmt.Sprintf("web-abc-%d", i), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			f.cache(p)
			f.c.addPod(p)
		}
		f.client.ClearActions()
		mu.Lock()
		attempts = -100
		mu.Unlock()
		if err := f.sync("shop/web-abc"); err != nil {
			t.Fatal(err)
		}
		if n := f.count("create pods"); n != 7 {
			t.Errorf("created %d pods, want the 7 missing", n)
		}
		if s := f.status(); s == nil || len(s.Conditions) != 0 {
			t.Errorf("status %+v, want the failure condition gone", s)
		}
	})

	t.Run("a quota refusal is one request and one FailedCreate event with the API's message", func(t *testing.T) {
		f := newFixture(t, false, newRS("web-5d9c7b4f4", 3))
		f.client.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "web-5d9c7b4f4-",
				errors.New("exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2"))
		})
		if err := f.sync("shop/web-5d9c7b4f4"); err == nil {
			t.Fatal("sync succeeded, want the quota error")
		}
		if n := f.count("create pods"); n != 1 {
			t.Errorf("%d creates, want 1", n)
		}
		want := `Warning FailedCreate Error creating: pods "web-5d9c7b4f4-" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2`
		if got := f.events(); len(got) != 1 || got[0] != want {
			t.Errorf("events %q\nwant %q", got, want)
		}
	})

	t.Run("finished and terminating pods do not count", func(t *testing.T) {
		rs := newRS("web-abc", 2)
		gone := newPod("web-abc-gone", rs)
		gone.DeletionTimestamp = ptr.To(metav1.NewTime(now))
		f := newFixture(t, false, rs, newPod("web-abc-done", rs, phase(corev1.PodSucceeded)), gone, newPod("web-abc-up", rs))
		if err := f.sync("shop/web-abc"); err != nil {
			t.Fatal(err)
		}
		if n := f.count("create pods"); n != 1 {
			t.Errorf("created %d pods, want 1", n)
		}
	})
}

func TestScaleDown(t *testing.T) {
	t.Run("deletes the pods that hurt least and waits to see them go", func(t *testing.T) {
		rs := newRS("web-abc", 2)
		f := newFixture(t, false, rs,
			newPod("ready-old", rs, ready(now.Add(-time.Hour))),
			newPod("ready-new", rs, ready(now.Add(-time.Minute))),
			newPod("pending", rs, phase(corev1.PodPending)),
			newPod("unscheduled", rs, phase(corev1.PodPending), node("")),
		)
		if err := f.sync("shop/web-abc"); err != nil {
			t.Fatal(err)
		}
		if got, want := f.deleted(), []string{"pending", "unscheduled"}; !slices.Equal(got, want) {
			t.Fatalf("deleted %v, want %v", got, want)
		}
		if got := f.events(); len(got) != 2 || !strings.HasPrefix(got[0], "Normal SuccessfulDelete Deleted pod: ") {
			t.Errorf("events %q", got)
		}
		// Until the cache shows them going, nothing more is deleted.
		f.client.ClearActions()
		if err := f.sync("shop/web-abc"); err != nil {
			t.Fatal(err)
		}
		if got := f.deleted(); len(got) != 0 {
			t.Fatalf("deleted %v again", got)
		}
		// A graceful deletion shows as a deletion timestamp; the pod's later
		// removal does not count twice.
		for _, name := range []string{"pending", "unscheduled"} {
			old := newPod(name, rs)
			cur := old.DeepCopy()
			cur.ResourceVersion = "2"
			cur.DeletionTimestamp = ptr.To(metav1.NewTime(now))
			f.c.updatePod(old, cur)
			f.c.deletePod(cur)
			f.cache(cur)
		}
		if !f.c.expect.Satisfied("shop/web-abc") {
			t.Error("expectations not satisfied after the pods went")
		}
	})
}

func TestClaim(t *testing.T) {
	rs := newRS("web-abc", 2)
	other := newRS("other", 1)
	tests := []struct {
		name    string
		rs      *appsv1.ReplicaSet
		pod     *corev1.Pod
		patch   string // "" for none
		counted bool
	}{{
		name:    "adopts an orphan its selector matches",
		rs:      rs,
		pod:     newPod("orphan", nil),
		patch:   `{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-abc","uid":"uid-web-abc","controller":true,"blockOwnerDeletion":true}],"uid":"uid-orphan"}}`,
		counted: true,
	}, {
		name:  "releases a pod it owns that no longer matches",
		rs:    rs,
		pod:   newPod("relabeled", rs, labeled("app", "debug")),
		patch: `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"uid-web-abc"}],"uid":"uid-relabeled"}}`,
	}, {
		name: "leaves another controller's pod alone",
		rs:   rs,
		pod:  newPod("theirs", other),
	}, {
		name: "leaves an orphan that does not match",
		rs:   rs,
		pod:  newPod("stranger", nil, labeled("app", "db")),
	}, {
		name: "a ReplicaSet being deleted adopts nothing",
		rs: func() *appsv1.ReplicaSet {
			d := rs.DeepCopy()
			d.DeletionTimestamp = ptr.To(metav1.NewTime(now))
			return d
		}(),
		pod: newPod("orphan", nil),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false, tt.rs, tt.pod)
			if err := f.sync("shop/web-abc"); err != nil {
				t.Fatal(err)
			}
			var patches []string
			for _, a := range f.client.Actions() {
				if a.Matches("patch", "pods") {
					patches = append(patches, string(a.(core.PatchAction).GetPatch()))
				}
			}
			switch {
			case tt.patch == "" && len(patches) != 0:
				t.Errorf("patched %q, want no patch", patches)
			case tt.patch != "" && (len(patches) != 1 || !jsonEqual(patches[0], tt.patch)):
				t.Errorf("patches %q\nwant %s", patches, tt.patch)
			}
			counted := f.status() != nil && f.status().Replicas == 1
			if tt.rs.DeletionTimestamp == nil && counted != tt.counted {
				t.Errorf("pod counted %v, want %v (status %+v)", counted, tt.counted, f.status())
			}
		})
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func TestStatus(t *testing.T) {
	rs := newRS("web-abc", 3)
	rs.Spec.MinReadySeconds = 30
	f := newFixture(t, false, rs,
		newPod("available", rs, ready(now.Add(-time.Minute))),
		newPod("just-ready", rs, ready(now.Add(-10*time.Second))),
		newPod("partly-labeled", rs, labeled("app", "web")),
	)
	if err := f.sync("shop/web-abc"); err != nil {
		t.Fatal(err)
	}
	want := appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 1}
	if s := f.status(); s == nil || fmt.Sprint(*s) != fmt.Sprint(want) {
		t.Errorf("status %+v\nwant   %+v", s, want)
	}

	t.Run("is not written when it has not changed", func(t *testing.T) {
		rs := rs.DeepCopy()
		rs.Status = want
		f := newFixture(t, false, rs,
			newPod("available", rs, ready(now.Add(-time.Minute))),
			newPod("just-ready", rs, ready(now.Add(-10*time.Second))),
			newPod("partly-labeled", rs, labeled("app", "web")),
		)
		if err := f.sync("shop/web-abc"); err != nil {
			t.Fatal(err)
		}
		if got := f.actions(); len(got) != 0 {
			t.Errorf("actions %v, want none", got)
		}
	})
}

func TestReplicationController(t *testing.T) {
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy", Namespace: "shop", UID: "uid-legacy", Generation: 2},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: map[string]string{"app": "legacy"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "legacy"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "legacy:1"}}},
			},
		},
	}
	orphan := newPod("stray", nil, labeled("app", "legacy"))
	f := newFixture(t, true, rc, orphan)
	if err := f.sync("shop/legacy"); err != nil {
		t.Fatal(err)
	}
	pods := f.createdPods()
	if len(pods) != 1 {
		t.Fatalf("created %d pods, want 1 besides the adopted one: %v", len(pods), f.actions())
	}
	if ref := metav1.GetControllerOf(pods[0]); ref == nil || ref.Kind != "ReplicationController" || ref.APIVersion != "v1" {
		t.Errorf("owner %+v, want the ReplicationController", ref)
	}
	if n := f.count("patch pods stray"); n != 1 {
		t.Errorf("orphan not adopted: %v", f.actions())
	}
	if n := f.count("update replicationcontrollers/status"); n != 1 {
		t.Errorf("actions %v, want one status update of the ReplicationController", f.actions())
	}
	if s := f.status(); s.Replicas != 1 || s.ObservedGeneration != 2 {
		t.Errorf("status %+v", s)
	}
	if got := f.events(); len(got) != 1 || !strings.HasPrefix(got[0], "Normal SuccessfulCreate Created pod: legacy-") {
		t.Errorf("events %q", got)
	}
}
