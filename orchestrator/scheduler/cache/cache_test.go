package cache

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

func node(name string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110"),
		}},
	}
}

func pod(name, nodeName string, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name)},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{
			Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
}

func requestedCPU(t *testing.T, s *framework.Snapshot, name string) int64 {
	t.Helper()
	n := s.Get(name)
	if n == nil {
		t.Fatalf("node %s not in snapshot", name)
	}
	return n.Requested.MilliCPU
}

func TestAssumeForgetConfirm(t *testing.T) {
	c := New()
	c.AddNode(node("n1"))
	snap := framework.NewSnapshot()

	assumed := pod("p", "n1", "1")
	if err := c.Assume(framework.NewPodInfo(assumed), "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Assume(framework.NewPodInfo(assumed), "n1"); err == nil {
		t.Error("assuming a pod twice succeeded")
	}
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "n1"); got != 1000 {
		t.Fatalf("assumed pod not counted: %dm requested", got)
	}

	c.Forget("p")
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "n1"); got != 0 || c.IsAssumed("p") {
		t.Fatalf("forgotten pod still counted: %dm requested", got)
	}

	// Assumed, then seen bound by the informer: confirmed, counted once.
	if err := c.Assume(framework.NewPodInfo(assumed), "n1"); err != nil {
		t.Fatal(err)
	}
	c.SetPod(assumed)
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "n1"); got != 1000 || c.IsAssumed("p") {
		t.Fatalf("confirmed pod: %dm requested, assumed %v; want 1000m, false", got, c.IsAssumed("p"))
	}
	// A confirmed pod is not forgotten by a late binding failure.
	c.Forget("p")
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "n1"); got != 1000 {
		t.Fatalf("Forget removed a confirmed pod")
	}

	// A finished pod frees its node.
	done := pod("p", "n1", "1")
	done.Status.Phase = corev1.PodSucceeded
	c.SetPod(done)
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "n1"); got != 0 {
		t.Fatalf("finished pod still counted: %dm", got)
	}
}

func TestAssumedPodSurvivesStaleInformerCopy(t *testing.T) {
	c := New()
	c.AddNode(node("n1"))
	if err := c.Assume(framework.NewPodInfo(pod("p", "n1", "1")), "n1"); err != nil {
		t.Fatal(err)
	}
	c.SetPod(pod("p", "", "1")) // an update from before the binding
	if !c.IsAssumed("p") {
		t.Fatal("a stale unbound copy dropped the assumed pod")
	}
}

func TestSnapshotIsIncremental(t *testing.T) {
	c := New()
	for _, n := range []string{"n1", "n2", "n3"} {
		c.AddNode(node(n))
	}
	snap := framework.NewSnapshot()
	c.UpdateSnapshot(snap)
	n1, n2 := snap.Get("n1"), snap.Get("n2")

	c.SetPod(pod("p", "n2", "500m"))
	c.UpdateSnapshot(snap)
	if snap.Get("n1") != n1 {
		t.Error("an unchanged node was cloned again")
	}
	if snap.Get("n2") == n2 {
		t.Fatal("a changed node was not replaced")
	}
	if n2.Requested.MilliCPU != 0 {
		t.Error("the previous snapshot's node was modified")
	}
	if got := requestedCPU(t, snap, "n2"); got != 500 {
		t.Errorf("n2 requests %dm, want 500m", got)
	}

	c.RemoveNode("n3")
	c.UpdateSnapshot(snap)
	if snap.Get("n3") != nil || snap.Len() != 2 {
		t.Errorf("removed node still in snapshot (%d nodes)", snap.Len())
	}

	// A pod may arrive before its node.
	c.SetPod(pod("early", "n4", "1"))
	c.UpdateSnapshot(snap)
	if snap.Get("n4") != nil {
		t.Error("a node without its Node object is in the snapshot")
	}
	c.AddNode(node("n4"))
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "n4"); got != 1000 {
		t.Errorf("n4 requests %dm, want 1000m", got)
	}
	c.RemovePod("early")
	c.UpdateSnapshot(snap)
	if got := requestedCPU(t, snap, "n4"); got != 0 {
		t.Errorf("deleted pod still counted: %dm", got)
	}
}
