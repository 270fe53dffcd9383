package nodelifecycle

import (
	"context"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// readyNode is a node that posted Ready with heartbeat at and no pressure.
func readyNode(name string, ready corev1.ConditionStatus, at time.Time) *corev1.Node {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: "Kubelet", LastHeartbeatTime: metav1.NewTime(at), LastTransitionTime: metav1.NewTime(at)}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "example.com/dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse),
			cond(corev1.NodeReady, ready),
		}},
	}
}

func lease(name string, renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease, ResourceVersion: "1"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), RenewTime: ptr.To(metav1.NewMicroTime(renewed))},
	}
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
	c        *Controller
}

// newFixture seeds the informer caches by hand and the fake API with the same
// objects; tests call sync directly and feed the caches what the API holds.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...), clock: clocktesting.NewFakeClock(t0), recorder: record.NewFakeRecorder(100)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, f.factory, f.recorder, WithClock(f.clock))
	t.Cleanup(f.c.queue.ShutDown)
	for _, o := range objs {
		f.cache(o)
	}
	return f
}

func (f *fixture) cache(o runtime.Object) {
	f.t.Helper()
	var err error
	switch o := o.(type) {
	case *corev1.Node:
		err = f.factory.Core().V1().Nodes().Informer().GetIndexer().Update(o)
	case *coordinationv1.Lease:
		err = f.factory.Coordination().V1().Leases().Informer().GetIndexer().Update(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync syncs the node, after bringing the cache up to the API's copy as the
// watch would.
func (f *fixture) sync(name string) *corev1.Node {
	f.t.Helper()
	f.cache(f.node(name))
	if err := f.c.sync(context.Background(), name); err != nil {
		f.t.Fatalf("sync %s: %v", name, err)
	}
	return f.node(name)
}

func (f *fixture) node(name string) *corev1.Node {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// renew renews the node's lease now, as a kubelet does.
func (f *fixture) renew(name string) {
	f.t.Helper()
	l := lease(name, f.clock.Now())
	if _, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.cache(l)
}

// post posts a Ready status now, as a kubelet does when it comes back.
func (f *fixture) post(name string, ready corev1.ConditionStatus) {
	f.t.Helper()
	n := f.node(name)
	n.Status = readyNode(name, ready, f.clock.Now()).Status
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func hasTaint(n *corev1.Node, key string, effect corev1.TaintEffect) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key && t.Effect == effect })
}

func TestSilentNodeMarkedUnknownAndTainted(t *testing.T) {
	f := newFixture(t, readyNode("n1", corev1.ConditionTrue, t0), lease("n1", t0))
	if n := f.sync("n1"); len(n.Spec.Taints) != 1 {
		t.Fatalf("healthy node taints = %v, want only its own", n.Spec.Taints)
	}
	f.clock.Step(DefaultGracePeriod)
	n := f.sync("n1")
	if c := condition(n, corev1.NodeReady); c.Status != corev1.ConditionTrue {
		t.Fatalf("Ready = %s at exactly the grace period, want still True", c.Status)
	}
	f.clock.Step(time.Second)
	n = f.sync("n1")
	for _, typ := range silenced {
		c := condition(n, typ)
		if c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." {
			t.Errorf("%s = %s %q %q, want Unknown NodeStatusUnknown", typ, c.Status, c.Reason, c.Message)
		}
		if !c.LastHeartbeatTime.Time.Equal(t0) || !c.LastTransitionTime.Time.Equal(f.clock.Now()) {
			t.Errorf("%s times = heartbeat %v transition %v, want the kubelet's heartbeat kept and the transition now", typ, c.LastHeartbeatTime, c.LastTransitionTime)
		}
	}
	if !hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) || !hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) {
		t.Errorf("taints = %v, want unreachable NoExecute and NoSchedule", n.Spec.Taints)
	}
	if !hasTaint(n, "example.com/dedicated", corev1.TaintEffectNoSchedule) {
		t.Errorf("taints = %v, want the user's taint kept", n.Spec.Taints)
	}
	select {
	case e := <-f.recorder.Events:
		if e != "Normal NodeNotReady Node n1 status is now: NodeNotReady" {
			t.Errorf("event = %q, want NodeNotReady", e)
		}
	default:
		t.Error("no NodeNotReady event")
	}

	// The kubelet comes back: renews its lease and posts Ready.
	f.clock.Step(time.Minute)
	f.renew("n1")
	f.post("n1", corev1.ConditionTrue)
	n = f.sync("n1")
	if hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) || hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule) {
		t.Errorf("taints = %v after recovery, want unreachable gone", n.Spec.Taints)
	}
	if c := condition(n, corev1.NodeReady); c.Status != corev1.ConditionTrue {
		t.Errorf("Ready = %s after recovery, want True", c.Status)
	}
}

func TestLeaseRenewalsKeepNodeAlive(t *testing.T) {
	// The kubelet posts status rarely; its lease says it lives.
	f := newFixture(t, readyNode("n1", corev1.ConditionTrue, t0), lease("n1", t0))
	f.sync("n1")
	for range 4 {
		f.clock.Step(30 * time.Second)
		f.renew("n1")
		if n := f.sync("n1"); condition(n, corev1.NodeReady).Status != corev1.ConditionTrue {
			t.Fatalf("node with a renewed lease marked %s", condition(n, corev1.NodeReady).Status)
		}
	}
	f.clock.Step(DefaultGracePeriod + time.Second)
	if n := f.sync("n1"); condition(n, corev1.NodeReady).Status != corev1.ConditionUnknown {
		t.Errorf("Ready = %s once the lease stopped, want Unknown", condition(n, corev1.NodeReady).Status)
	}
}

func TestNotReadyNodeTainted(t *testing.T) {
	f := newFixture(t, readyNode("n1", corev1.ConditionFalse, t0), lease("n1", t0))
	n := f.sync("n1")
	if !hasTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute) || hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
		t.Errorf("taints = %v, want not-ready NoExecute only", n.Spec.Taints)
	}
	f.post("n1", corev1.ConditionTrue)
	if n := f.sync("n1"); hasTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute) {
		t.Errorf("taints = %v once Ready, want not-ready gone", n.Spec.Taints)
	}
}

func TestNodeThatNeverPostedGetsStartupGrace(t *testing.T) {
	created := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1", CreationTimestamp: metav1.NewTime(t0)}}
	f := newFixture(t, created)
	f.clock.Step(DefaultGracePeriod + time.Second)
	if n := f.sync("n1"); len(n.Status.Conditions) != 0 {
		t.Fatalf("conditions = %v within the startup grace, want none", n.Status.Conditions)
	}
	f.clock.Step(DefaultStartupGracePeriod)
	n := f.sync("n1")
	if c := condition(n, corev1.NodeReady); c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusNeverUpdated" {
		t.Errorf("Ready = %+v, want Unknown NodeStatusNeverUpdated", c)
	}
	if !hasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
		t.Errorf("taints = %v, want unreachable NoExecute", n.Spec.Taints)
	}
}

func TestTaints(t *testing.T) {
	since := metav1.NewTime(t0.Add(-time.Hour))
	tests := []struct {
		name    string
		node    func(*corev1.Node)
		want    []string
		changed bool
	}{
		{name: "healthy", node: func(*corev1.Node) {}, want: []string{"example.com/dedicated=db:NoSchedule"}},
		{name: "memory pressure", node: func(n *corev1.Node) {
			condition(n, corev1.NodeMemoryPressure).Status = corev1.ConditionTrue
		}, want: []string{"example.com/dedicated=db:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule"}, changed: true},
		{name: "cordoned", node: func(n *corev1.Node) { n.Spec.Unschedulable = true },
			want: []string{"example.com/dedicated=db:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule"}, changed: true},
		{name: "unreachable turned not ready swaps the taints", node: func(n *corev1.Node) {
			condition(n, corev1.NodeReady).Status = corev1.ConditionFalse
			n.Spec.Taints = append(n.Spec.Taints,
				corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &since},
				corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule})
		}, want: []string{"example.com/dedicated=db:NoSchedule", "node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/not-ready:NoSchedule"}, changed: true},
		{name: "in line already", node: func(n *corev1.Node) {
			condition(n, corev1.NodeReady).Status = corev1.ConditionUnknown
			n.Spec.Taints = append(n.Spec.Taints,
				corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &since},
				corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule})
		}, want: []string{"example.com/dedicated=db:NoSchedule", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := readyNode("n1", corev1.ConditionTrue, t0)
			tt.node(n)
			got, changed := taints(n, t0)
			if changed != tt.changed || !slices.Equal(taintStrings(got), tt.want) {
				t.Errorf("taints = %v (changed %v), want %v (changed %v)", taintStrings(got), changed, tt.want, tt.changed)
			}
			for _, tn := range got {
				if tn.Effect == corev1.TaintEffectNoExecute && tn.TimeAdded == nil {
					t.Errorf("%s has no timeAdded", tn.ToString())
				}
			}
		})
	}
}
