package daemonset

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newDS(opts ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ops", UID: "uid-agent", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
	for _, o := range opts {
		o(ds)
	}
	return ds
}

func newNode(name string, opts ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func tainted(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

func nodeLabel(k, v string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels[k] = v } }

// daemonPod is a running, ready pod of ds bound to node, of the template with
// hash, created an hour ago.
func daemonPod(name string, ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "ops", UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:            map[string]string{"app": "agent", appsv1.ControllerRevisionHashLabelKey: hash},
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour)),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}},
	}
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	n := 0
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		m, _ := meta.Accessor(a.(core.CreateAction).GetObject())
		mu.Lock()
		n++
		m.SetName(fmt.Sprintf("%s%d", m.GetGenerateName(), n))
		mu.Unlock()
		m.SetUID(types.UID("uid-" + m.GetName()))
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(1000)
	c := New(client, factory, recorder)
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

func (f *fixture) cache(obj runtime.Object) {
	f.t.Helper()
	var err error
	switch o := obj.(type) {
	case *appsv1.DaemonSet:
		err = f.factory.Apps().V1().DaemonSets().Informer().GetIndexer().Update(o)
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
	case *corev1.Node:
		err = f.factory.Core().V1().Nodes().Informer().GetIndexer().Update(o)
	case *appsv1.ControllerRevision:
		err = f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Update(o)
	default:
		f.t.Fatalf("no informer for %T", obj)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) uncache(obj runtime.Object) {
	f.t.Helper()
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(obj); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "ops/agent"); err != nil {
		f.t.Fatal(err)
	}
}

// catchUp puts what the fake API holds into the caches, as watches would, and
// tells the controller, and forgets the actions so far.
func (f *fixture) catchUp() {
	f.t.Helper()
	ctx := context.Background()
	revs, _ := f.client.AppsV1().ControllerRevisions("ops").List(ctx, metav1.ListOptions{})
	for i := range revs.Items {
		f.cache(&revs.Items[i])
	}
	pods, _ := f.client.CoreV1().Pods("ops").List(ctx, metav1.ListOptions{})
	live := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		live[p.Name] = true
		if _, err := f.c.pods.Pods("ops").Get(p.Name); err != nil {
			f.cache(p)
			f.c.addPod(p)
		}
	}
	cached := f.cachedPods()
	for _, p := range cached {
		if !live[p.Name] {
			f.uncache(p)
			f.c.deletePod(p)
		}
	}
	f.client.ClearActions()
}

// createdOn returns the nodes the pods created were pinned to, sorted.
func (f *fixture) createdOn() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.Matches("create", "pods") {
			out = append(out, targetNode(a.(core.CreateAction).GetObject().(*corev1.Pod)))
		}
	}
	slices.Sort(out)
	return out
}

func (f *fixture) created() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if a.Matches("create", "pods") {
			out = append(out, a.(core.CreateAction).GetObject().(*corev1.Pod))
		}
	}
	return out
}

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

func (f *fixture) status() *appsv1.DaemonSetStatus {
	var last *appsv1.DaemonSetStatus
	for _, a := range f.client.Actions() {
		if a.Matches("update", "daemonsets") && a.GetSubresource() == "status" {
			last = &a.(core.UpdateAction).GetObject().(*appsv1.DaemonSet).Status
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

// currentHash is the hash of ds's current revision, as the API has it.
func (f *fixture) currentHash() string {
	f.t.Helper()
	revs, err := f.client.AppsV1().ControllerRevisions("ops").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(revs.Items) == 0 {
		f.t.Fatalf("no revisions (%v)", err)
	}
	var cur *appsv1.ControllerRevision
	for i := range revs.Items {
		if cur == nil || revs.Items[i].Revision > cur.Revision {
			cur = &revs.Items[i]
		}
	}
	return cur.Labels[appsv1.ControllerRevisionHashLabelKey]
}

func TestPlacesOnePodPerEligibleNode(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"} })
	worker := nodeLabel("role", "worker")
	f := newFixture(t, ds,
		newNode("plain", worker),
		newNode("other-role", nodeLabel("role", "db")),
		newNode("gpu-only", worker, tainted("gpu", corev1.TaintEffectNoSchedule)),
		newNode("cordoned", worker, tainted(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)),
		newNode("not-ready", worker, tainted(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)),
		newNode("prefer-not", worker, tainted("spot", corev1.TaintEffectPreferNoSchedule)),
	)
	f.sync()
	if got, want := f.createdOn(), []string{"cordoned", "not-ready", "plain", "prefer-not"}; !slices.Equal(got, want) {
		t.Fatalf("created pods on %v, want %v", got, want)
	}
	p := f.created()[0]
	if p.Spec.NodeName != "" {
		t.Errorf("pod bound to %q by the controller; the scheduler binds", p.Spec.NodeName)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" {
		t.Errorf("affinity %+v, want one matchFields metadata.name term", terms)
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeDiskPressure,
		corev1.TaintNodeMemoryPressure, corev1.TaintNodePIDPressure, corev1.TaintNodeUnschedulable} {
		if !slices.ContainsFunc(p.Spec.Tolerations, func(t corev1.Toleration) bool { return t.Key == key }) {
			t.Errorf("no toleration of %s in %+v", key, p.Spec.Tolerations)
		}
	}
	if slices.ContainsFunc(p.Spec.Tolerations, func(t corev1.Toleration) bool { return t.Key == corev1.TaintNodeNetworkUnavailable }) {
		t.Error("network-unavailable tolerated by a pod without hostNetwork")
	}
	if p.GenerateName != "agent-" || !metav1.IsControlledBy(p, ds) || p.Labels[appsv1.ControllerRevisionHashLabelKey] != f.currentHash() {
		t.Errorf("pod %+v", p.ObjectMeta)
	}
	if got := f.events(); len(got) != 4 || !strings.HasPrefix(got[0], "Normal SuccessfulCreate Created pod: agent-") {
		t.Errorf("events %q", got)
	}
	if s := f.status(); s == nil || s.DesiredNumberScheduled != 4 || s.CurrentNumberScheduled != 0 || s.ObservedGeneration != 1 {
		t.Errorf("status %+v, want 4 desired and none scheduled yet (the cache has not seen them)", s)
	}

	t.Run("waits to see its pods before creating more", func(t *testing.T) {
		f.client.ClearActions()
		f.sync()
		if got := f.createdOn(); len(got) != 0 {
			t.Errorf("created pods on %v again before the cache showed the first ones", got)
		}
		f.catchUp()
		f.sync()
		if got := f.createdOn(); len(got) != 0 {
			t.Errorf("created pods on %v with every node served", got)
		}
		if s := f.status(); s == nil || s.CurrentNumberScheduled != 4 || s.UpdatedNumberScheduled != 4 || s.NumberReady != 0 {
			t.Errorf("status %+v, want 4 scheduled and updated, none ready", s)
		}
	})
}

func TestHostNetworkToleratesNetworkUnavailable(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true })
	f := newFixture(t, ds, newNode("fresh", tainted(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)))
	f.sync()
	if got := f.createdOn(); !slices.Equal(got, []string{"fresh"}) {
		t.Errorf("created on %v, want the node whose network is not up yet", got)
	}
}

func TestRequiredNodeAffinity(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}},
				{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"special"}}}},
			}}}}
	})
	f := newFixture(t, ds, newNode("in-a", nodeLabel("zone", "a")), newNode("in-c", nodeLabel("zone", "c")), newNode("special"))
	f.sync()
	if got, want := f.createdOn(), []string{"in-a", "special"}; !slices.Equal(got, want) {
		t.Errorf("created on %v, want %v", got, want)
	}
}

func TestDeletesFromIneligibleNodes(t *testing.T) {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"} })
	worker := nodeLabel("role", "worker")
	f := newFixture(t, ds,
		newNode("evicting", worker, tainted("maintenance", corev1.TaintEffectNoExecute)),
		newNode("newly-tainted", worker, tainted("gpu", corev1.TaintEffectNoSchedule)),
		newNode("relabeled", nodeLabel("role", "db")),
		newNode("fine", worker),
		daemonPod("agent-evicting", ds, "evicting", "h"),
		daemonPod("agent-tainted", ds, "newly-tainted", "h"),
		daemonPod("agent-relabeled", ds, "relabeled", "h"),
		daemonPod("agent-fine", ds, "fine", "h"),
		daemonPod("agent-fine-dup", ds, "fine", "h"),
	)
	// The duplicate is the younger: the pod that has been serving stays.
	dup, _ := f.c.pods.Pods("ops").Get("agent-fine-dup")
	dup = dup.DeepCopy()
	dup.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute))
	f.cache(dup)
	f.sync()
	if got, want := f.deleted(), []string{"agent-evicting", "agent-fine-dup", "agent-relabeled"}; !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v (a NoSchedule taint leaves a running daemon alone)", got, want)
	}
	if got := f.events(); !slices.Contains(got, "Normal SuccessfulDelete Deleted pod: agent-evicting") {
		t.Errorf("events %q", got)
	}
	if s := f.status(); s == nil || s.DesiredNumberScheduled != 1 || s.NumberMisscheduled != 3 || s.NumberReady != 1 {
		t.Errorf("status %+v, want 1 desired and 3 misscheduled", s)
	}
}

func TestReplacesFailedPods(t *testing.T) {
	ds := newDS()
	failed := daemonPod("agent-x", ds, "n1", "h")
	failed.Status.Phase = corev1.PodFailed
	f := newFixture(t, ds, newNode("n1"), failed)
	f.sync()
	if got := f.deleted(); !slices.Equal(got, []string{"agent-x"}) {
		t.Fatalf("deleted %v, want the failed pod", got)
	}
	if got := f.events(); !slices.Contains(got, "Warning FailedDaemonPod Found failed daemon pod ops/agent-x on node n1, will try to kill it") {
		t.Errorf("events %q", got)
	}
	f.catchUp()
	f.sync()
	if got := f.createdOn(); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("created on %v, want a replacement on n1", got)
	}
}

// rollout seeds nodes n1..n4 each running an available pod of an older
// template and returns the fixture after the first sync.
func rollout(t *testing.T, strategy appsv1.DaemonSetUpdateStrategy) *fixture {
	ds := newDS(func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy = strategy })
	objs := []runtime.Object{ds}
	for i := 1; i <= 4; i++ {
		node := fmt.Sprintf("n%d", i)
		objs = append(objs, newNode(node), daemonPod("agent-old-"+node, ds, node, "old"))
	}
	f := newFixture(t, objs...)
	f.sync()
	return f
}

func TestRollingUpdate(t *testing.T) {
	t.Run("maxUnavailable deletes that many old pods and waits for their replacements", func(t *testing.T) {
		f := rollout(t, appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(2))}})
		first := f.deleted()
		if len(first) != 2 || len(f.createdOn()) != 0 {
			t.Fatalf("deleted %v and created on %v, want 2 old pods deleted first", first, f.createdOn())
		}
		if s := f.status(); s == nil || s.UpdatedNumberScheduled != 0 || s.NumberAvailable != 4 {
			t.Errorf("status %+v", s)
		}
		f.catchUp()
		f.sync()
		if got := f.createdOn(); len(got) != 2 || len(f.deleted()) != 0 {
			t.Fatalf("created on %v, deleted %v: want the two replacements only", got, f.deleted())
		}
		// The replacements are not ready yet: nothing more goes.
		f.catchUp()
		f.sync()
		if got := f.deleted(); len(got) != 0 {
			t.Fatalf("deleted %v while 2 nodes were unavailable", got)
		}
		// They turn ready: the next two old pods go.
		for _, p := range f.cachedPods() {
			if updated(p, f.currentHash()) {
				ready := p.DeepCopy()
				ready.Status.Phase = corev1.PodRunning
				ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now)}}
				f.cache(ready)
			}
		}
		f.sync()
		second := f.deleted()
		if len(second) != 2 || slices.ContainsFunc(second, func(n string) bool { return slices.Contains(first, n) }) {
			t.Errorf("deleted %v, want the two other old pods", second)
		}
		if s := f.status(); s == nil || s.UpdatedNumberScheduled != 2 {
			t.Errorf("status %+v, want 2 updated", s)
		}
	})

	t.Run("maxSurge starts new pods beside old ones and deletes the old when the new are available", func(t *testing.T) {
		f := rollout(t, appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}})
		surged := f.createdOn()
		if len(surged) != 1 || len(f.deleted()) != 0 {
			t.Fatalf("created on %v, deleted %v: want one surge pod and no deletion", surged, f.deleted())
		}
		f.catchUp()
		f.sync()
		if len(f.createdOn()) != 0 || len(f.deleted()) != 0 {
			t.Fatalf("created on %v, deleted %v while the surge pod is not available", f.createdOn(), f.deleted())
		}
		for _, p := range f.cachedPods() {
			if updated(p, f.currentHash()) {
				ready := p.DeepCopy()
				ready.Spec.NodeName = surged[0]
				ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now)}}
				f.cache(ready)
			}
		}
		f.sync()
		if got := f.deleted(); !slices.Equal(got, []string{"agent-old-" + surged[0]}) {
			t.Errorf("deleted %v, want the old pod of %s", got, surged[0])
		}
	})

	t.Run("OnDelete replaces nothing by itself", func(t *testing.T) {
		f := rollout(t, appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType})
		if len(f.deleted()) != 0 || len(f.createdOn()) != 0 {
			t.Fatalf("deleted %v, created on %v", f.deleted(), f.createdOn())
		}
		// The user deletes one: its replacement is of the new template.
		f.catchUp()
		old, _ := f.c.pods.Pods("ops").Get("agent-old-n2")
		f.uncache(old)
		f.c.deletePod(old)
		f.sync()
		created := f.created()
		if len(created) != 1 || targetNode(created[0]) != "n2" || !updated(created[0], f.currentHash()) {
			t.Errorf("created %v, want one pod of the new template on n2", f.createdOn())
		}
	})
}

// cachedPods returns the pods in the informer cache.
func (f *fixture) cachedPods() []*corev1.Pod {
	f.t.Helper()
	pods, err := f.c.pods.List(labels.Everything())
	if err != nil {
		f.t.Fatal(err)
	}
	return pods
}

func TestHistory(t *testing.T) {
	ds := newDS()
	f := newFixture(t, ds, newNode("n1"))
	f.sync()
	f.catchUp()
	firstHash := f.currentHash()

	changed := ds.DeepCopy()
	changed.Generation = 2
	changed.Spec.Template.Spec.Containers[0].Image = "agent:2"
	f.cache(changed)
	f.sync()
	revs, err := f.client.AppsV1().ControllerRevisions("ops").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(revs.Items) != 2 {
		t.Fatalf("revisions %+v (err %v), want 2", revs, err)
	}
	if h := f.currentHash(); h == firstHash {
		t.Fatal("the new template has the old hash")
	}
	for _, r := range revs.Items {
		if !metav1.IsControlledBy(&r, changed) || r.Name != "agent-"+r.Labels[appsv1.ControllerRevisionHashLabelKey] {
			t.Errorf("revision %+v", r.ObjectMeta)
		}
		if r.Revision == 2 && !strings.Contains(string(r.Data.Raw), `"image":"agent:2"`) {
			t.Errorf("revision 2 holds %s", r.Data.Raw)
		}
	}

	t.Run("undo renumbers the old revision instead of making a new one", func(t *testing.T) {
		f.catchUp()
		f.cache(ds) // the first template again
		f.sync()
		revs, _ := f.client.AppsV1().ControllerRevisions("ops").List(context.Background(), metav1.ListOptions{})
		if len(revs.Items) != 2 || f.currentHash() != firstHash {
			t.Errorf("%d revisions, current %s, want 2 with %s current", len(revs.Items), f.currentHash(), firstHash)
		}
	})
}

func TestDeletesPodsPinnedToGoneNodes(t *testing.T) {
	ds := newDS()
	pinned := daemonPod("agent-gone", ds, "", "h")
	pinToNode(&pinned.Spec, "gone")
	bound := daemonPod("agent-bound", ds, "also-gone", "h")
	f := newFixture(t, ds, newNode("n1"), daemonPod("agent-n1", ds, "n1", "h"), pinned, bound)
	f.sync()
	// A pod bound to a node that is gone is the pod garbage collector's.
	if got := f.deleted(); !slices.Equal(got, []string{"agent-gone"}) {
		t.Errorf("deleted %v, want the pod pinned to the gone node and never bound", got)
	}
}
