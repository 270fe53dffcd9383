package garbagecollector

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	fakediscovery "k8s.io/client-go/discovery/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var (
	podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	rsGVR   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	nsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// served is what the fake discovery reports: pods, persistentvolumes and
// replicasets to watch, and namespaces that are served but not deletable here, to see the collector
// resolve owners it does not watch.
var served = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "watch", "delete", "patch"}},
		{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch"}},
		{Name: "namespaces", Kind: "Namespace", Verbs: metav1.Verbs{"get"}},
		{Name: "persistentvolumes", Kind: "PersistentVolume", Verbs: metav1.Verbs{"get", "list", "watch", "delete", "patch"}},
		{Name: "events", Kind: "Event", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "watch", "delete"}},
	}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "replicasets", Kind: "ReplicaSet", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "watch", "delete", "patch"}},
	}},
}

type objOption func(*metav1.PartialObjectMetadata)

func object(apiVersion, kind, namespace, name string, opts ...objOption) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-" + name),
			ResourceVersion: "1"},
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

func pod(name string, opts ...objOption) *metav1.PartialObjectMetadata {
	return object("v1", "Pod", "shop", name, opts...)
}

func replicaSet(name string, opts ...objOption) *metav1.PartialObjectMetadata {
	return object("apps/v1", "ReplicaSet", "shop", name, opts...)
}

// ownedBy adds a reference to owner; blocking sets blockOwnerDeletion.
func ownedBy(owner *metav1.PartialObjectMetadata, blocking bool) objOption {
	return func(o *metav1.PartialObjectMetadata) {
		o.OwnerReferences = append(o.OwnerReferences, metav1.OwnerReference{
			APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID,
			BlockOwnerDeletion: ptr.To(blocking),
		})
	}
}

func deleting(finalizers ...string) objOption {
	return func(o *metav1.PartialObjectMetadata) {
		o.DeletionTimestamp = ptr.To(metav1.Now())
		o.Finalizers = finalizers
	}
}

func inNamespace(ns string) objOption {
	return func(o *metav1.PartialObjectMetadata) { o.Namespace = ns }
}

type fixture struct {
	t        *testing.T
	ctx      context.Context
	client   *metadatafake.FakeMetadataClient
	recorder *record.FakeRecorder
	c        *Controller
}

// newFixture starts a collector's monitors over a fake API holding objs, and
// waits for their caches; tests call sync by hand unless they Run.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	client := metadatafake.NewSimpleMetadataClient(scheme, objs...)
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: served}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	recorder := record.NewFakeRecorder(10)
	f := &fixture{t: t, ctx: ctx, client: client, recorder: recorder, c: New(client, disc, WithRecorder(recorder))}
	f.c.rediscover(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), f.c.graph.synced()...) {
		t.Fatal("caches did not sync")
	}
	client.ClearActions()
	return f
}

func (f *fixture) sync(o *metav1.PartialObjectMetadata) {
	f.t.Helper()
	if err := f.c.sync(f.ctx, string(o.UID)); err != nil {
		f.t.Fatalf("sync %s: %v", o.Name, err)
	}
}

// live reads an object from the fake API, nil if it is gone.
func (f *fixture) live(gvr schema.GroupVersionResource, o *metav1.PartialObjectMetadata) *metav1.PartialObjectMetadata {
	f.t.Helper()
	got, err := f.client.Resource(gvr).Namespace(o.Namespace).Get(f.ctx, o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// deletes lists the names the collector deleted.
func (f *fixture) deletes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(clienttesting.DeleteAction); ok {
			out = append(out, d.GetName())
		}
	}
	return out
}

// eventually waits for cond, which reads the caches or the fake API.
func (f *fixture) eventually(what string, cond func() bool) {
	f.t.Helper()
	err := wait.PollUntilContextTimeout(f.ctx, 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		f.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestMonitorsDeletableResourcesOnly(t *testing.T) {
	f := newFixture(t)
	var got []string
	for gvr := range f.c.graph.monitors {
		got = append(got, gvr.String())
	}
	if len(got) != 3 || f.c.graph.monitors[podsGVR] == nil || f.c.graph.monitors[rsGVR] == nil {
		t.Errorf("monitors = %v, want pods, persistentvolumes and replicasets (namespaces are not deletable, events are ignored)", got)
	}
	if _, ok := f.c.graph.kind(schema.GroupKind{Kind: "Namespace"}); !ok {
		t.Error("Namespace kind not resolvable, want every served kind resolvable for owners")
	}
}

func TestRediscoveryFollowsServedResources(t *testing.T) {
	f := newFixture(t)
	disc := f.c.discovery.(*fakediscovery.FakeDiscovery)
	widgets := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	// A CRD comes; replicasets go.
	disc.Resources = []*metav1.APIResourceList{served[0], {GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "widgets", Kind: "Widget", Namespaced: true, Verbs: metav1.Verbs{"get", "list", "watch", "delete"}},
	}}}
	f.c.rediscover(f.ctx)
	if f.c.graph.monitors[widgets] == nil {
		t.Error("new resource not watched")
	}
	if f.c.graph.monitors[rsGVR] != nil {
		t.Error("resource no longer served still watched")
	}
	if _, ok := f.c.graph.kind(schema.GroupKind{Group: "example.com", Kind: "Widget"}); !ok {
		t.Error("new kind not resolvable for owners")
	}
}

func TestCollect(t *testing.T) {
	owner := replicaSet("web")
	t.Run("owner in cache keeps its dependents without asking the API", func(t *testing.T) {
		dep := pod("web-1", ownedBy(owner, false))
		f := newFixture(t, owner, dep)
		f.sync(dep)
		if len(f.client.Actions()) != 0 {
			t.Errorf("actions = %v, want none", f.client.Actions())
		}
	})
	t.Run("owner the cache never saw but the API server has keeps its dependents", func(t *testing.T) {
		dep := pod("web-1", ownedBy(owner, false))
		f := newFixture(t, dep)
		// The API server knows the owner; the cache lags behind it.
		f.client.PrependReactor("get", "replicasets", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, owner.DeepCopy(), nil
		})
		f.sync(dep)
		if d := f.deletes(); len(d) != 0 {
			t.Errorf("deleted %v while the owner exists", d)
		}
		if f.live(podsGVR, dep) == nil {
			t.Error("dependent gone, want kept")
		}
	})
	t.Run("vanished owner: its dependent is deleted", func(t *testing.T) {
		dep := pod("web-1", ownedBy(owner, false))
		f := newFixture(t, dep)
		f.sync(dep)
		if f.live(podsGVR, dep) != nil {
			t.Error("dependent kept, want deleted")
		}
		for _, a := range f.client.Actions() {
			if d, ok := a.(clienttesting.DeleteActionImpl); ok {
				p := d.DeleteOptions.Preconditions
				if p == nil || p.UID == nil || *p.UID != dep.UID {
					t.Errorf("delete preconditions = %+v, want the dependent's UID", p)
				}
				if pp := d.DeleteOptions.PropagationPolicy; pp == nil || *pp != metav1.DeletePropagationBackground {
					t.Errorf("propagation = %v, want Background", pp)
				}
			}
		}
	})
	t.Run("dependents of one vanished owner cost one lookup of it", func(t *testing.T) {
		a, b := pod("web-1", ownedBy(owner, false)), pod("web-2", ownedBy(owner, false))
		f := newFixture(t, a, b)
		f.sync(a)
		f.sync(b)
		gets := 0
		for _, act := range f.client.Actions() {
			if act.GetVerb() == "get" && act.GetResource() == rsGVR {
				gets++
			}
		}
		if gets != 1 || f.live(podsGVR, a) != nil || f.live(podsGVR, b) != nil {
			t.Errorf("owner read %d times, dependents kept: %v %v; want one read and both deleted", gets, f.live(podsGVR, a) != nil, f.live(podsGVR, b) != nil)
		}
	})
	t.Run("owner replaced under the same name counts as gone", func(t *testing.T) {
		dep := pod("web-1", ownedBy(owner, false))
		successor := replicaSet("web")
		successor.UID = "uid-web-2"
		f := newFixture(t, dep)
		f.client.PrependReactor("get", "replicasets", func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, successor.DeepCopy(), nil
		})
		f.sync(dep)
		if f.live(podsGVR, dep) != nil {
			t.Error("dependent kept, want deleted")
		}
	})
	t.Run("one live owner of two: only the dangling reference goes", func(t *testing.T) {
		other := replicaSet("other")
		dep := pod("web-1", ownedBy(owner, false), ownedBy(other, false))
		f := newFixture(t, other, dep)
		f.sync(dep)
		got := f.live(podsGVR, dep)
		if got == nil {
			t.Fatal("dependent deleted, want kept for its live owner")
		}
		if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != other.UID {
			t.Errorf("ownerReferences = %+v, want only %s", got.OwnerReferences, other.UID)
		}
	})
	t.Run("owner in another namespace cannot own", func(t *testing.T) {
		elsewhere := replicaSet("web", inNamespace("other"))
		dep := pod("web-1", ownedBy(elsewhere, false))
		f := newFixture(t, elsewhere, dep)
		f.sync(dep)
		if f.live(podsGVR, dep) != nil {
			t.Error("dependent kept, want deleted: its owner is not in its namespace")
		}
	})
	t.Run("owner in another namespace is reported", func(t *testing.T) {
		elsewhere := replicaSet("web", inNamespace("other"))
		dep := pod("web-1", ownedBy(elsewhere, false))
		f := newFixture(t, elsewhere, dep)
		f.sync(dep)
		select {
		case e := <-f.recorder.Events:
			if !strings.HasPrefix(e, "Warning OwnerRefInvalidNamespace ") {
				t.Errorf("event = %q, want OwnerRefInvalidNamespace", e)
			}
		default:
			t.Error("no OwnerRefInvalidNamespace event")
		}
	})
	t.Run("namespaced owner of a cluster-scoped object is left alone", func(t *testing.T) {
		pv := object("v1", "PersistentVolume", "", "data", ownedBy(owner, false))
		f := newFixture(t, pv)
		f.sync(pv)
		if d := f.deletes(); len(d) != 0 {
			t.Errorf("deleted %v, want an unresolvable reference left alone", d)
		}
	})
	t.Run("cluster-scoped owner of a namespaced object", func(t *testing.T) {
		ns := object("v1", "Namespace", "", "shop")
		dep := pod("web-1", ownedBy(ns, false))
		f := newFixture(t, dep)
		f.client.PrependReactor("get", "namespaces", func(a clienttesting.Action) (bool, runtime.Object, error) {
			if a.GetNamespace() != "" {
				t.Errorf("namespace looked up in namespace %q", a.GetNamespace())
			}
			return true, ns.DeepCopy(), nil
		})
		f.sync(dep)
		if f.live(podsGVR, dep) == nil {
			t.Error("dependent deleted, want kept: its cluster-scoped owner exists")
		}
	})
}

func TestOrphan(t *testing.T) {
	owner := replicaSet("web", deleting(metav1.FinalizerOrphanDependents, "example.com/keep"))
	other := replicaSet("other")
	only := pod("web-1", ownedBy(owner, true))
	shared := pod("web-2", ownedBy(owner, false), ownedBy(other, false))
	f := newFixture(t, owner, other, only, shared)
	f.sync(owner)

	if got := f.live(podsGVR, only); got == nil || len(got.OwnerReferences) != 0 {
		t.Errorf("web-1 = %+v, want kept with no owners", got)
	}
	if got := f.live(podsGVR, shared); got == nil || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].UID != other.UID {
		t.Errorf("web-2 = %+v, want kept owned by other only", got)
	}
	got := f.live(rsGVR, owner)
	if got == nil || len(got.Finalizers) != 1 || got.Finalizers[0] != "example.com/keep" {
		t.Errorf("owner = %+v, want the orphan finalizer gone and the other kept", got)
	}
	if d := f.deletes(); len(d) != 0 {
		t.Errorf("deleted %v, want nothing deleted when orphaning", d)
	}
}

func TestForeground(t *testing.T) {
	owner := replicaSet("web", deleting(metav1.FinalizerDeleteDependents))
	blocking := pod("web-1", ownedBy(owner, true))
	free := pod("web-2", ownedBy(owner, false))
	f := newFixture(t, owner, blocking, free)

	f.sync(owner)
	if got := f.live(rsGVR, owner); got == nil || !hasFinalizer(got, metav1.FinalizerDeleteDependents) {
		t.Fatal("finalizer removed while a blocking dependent exists")
	}
	f.sync(blocking)
	f.sync(free)
	if f.live(podsGVR, blocking) != nil || f.live(podsGVR, free) != nil {
		t.Fatal("dependents of an owner in foreground deletion kept")
	}
	f.eventually("the cache to see the dependents go", func() bool { return len(f.c.graph.dependents(owner.UID)) == 0 })
	f.sync(owner)
	if got := f.live(rsGVR, owner); got == nil || hasFinalizer(got, metav1.FinalizerDeleteDependents) {
		t.Errorf("owner = %+v, want the foregroundDeletion finalizer removed", got)
	}
}

func TestForegroundWaitsOnlyForBlockingDependents(t *testing.T) {
	owner := replicaSet("web", deleting(metav1.FinalizerDeleteDependents))
	free := pod("web-2", ownedBy(owner, false))
	f := newFixture(t, owner, free)
	f.sync(owner)
	if got := f.live(rsGVR, owner); got == nil || hasFinalizer(got, metav1.FinalizerDeleteDependents) {
		t.Errorf("owner = %+v, want the finalizer removed: no dependent blocks it", got)
	}
}

// TestRun drives the collector through its informers and queue: deleting an
// owner gets its dependents deleted, and nothing else.
func TestRun(t *testing.T) {
	owner := replicaSet("web")
	dep := pod("web-1", ownedBy(owner, true))
	bystander := pod("db-1")
	f := newFixture(t, owner, dep, bystander)
	go f.c.Run(f.ctx, 2)

	if err := f.client.Resource(rsGVR).Namespace("shop").Delete(f.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.eventually("the dependent to be deleted", func() bool { return f.live(podsGVR, dep) == nil })
	if f.live(podsGVR, bystander) == nil {
		t.Error("a pod without owners was deleted")
	}
}

// TestRunForeground drives a foreground deletion through the informers and
// queue: the owner turns up with the finalizer, its blocking dependent goes,
// then the finalizer.
func TestRunForeground(t *testing.T) {
	owner := replicaSet("web")
	blocking := pod("web-1", ownedBy(owner, true))
	free := pod("web-2", ownedBy(owner, false))
	f := newFixture(t, owner, blocking, free)
	go f.c.Run(f.ctx, 2)

	// What the API server does on a DELETE with propagationPolicy=Foreground.
	marked := owner.DeepCopy()
	deleting(metav1.FinalizerDeleteDependents)(marked)
	if err := f.client.Tracker().Update(rsGVR, marked, "shop"); err != nil {
		t.Fatal(err)
	}
	f.eventually("the foregroundDeletion finalizer to go", func() bool {
		got := f.live(rsGVR, owner)
		return got != nil && !hasFinalizer(got, metav1.FinalizerDeleteDependents)
	})
	// Only the blocking dependent must be gone by then; the other is deleted
	// alongside but does not hold the owner up.
	if f.live(podsGVR, blocking) != nil {
		t.Error("blocking dependent kept, want it deleted before the owner goes")
	}
}
