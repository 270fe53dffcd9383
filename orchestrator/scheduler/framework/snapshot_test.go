package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func zonedNode(name, zone string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}}}
}

func replica(name, owner string) *PodInfo {
	return NewPodInfo(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, UID: types.UID(name),
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: owner, UID: types.UID(owner), Controller: ptr.To(true)}},
	}})
}

func TestSnapshotCountsOwnersPerZone(t *testing.T) {
	a := NewNodeInfo(zonedNode("a", "z1"), replica("r1", "rs"), replica("r2", "rs"))
	b := NewNodeInfo(zonedNode("b", "z1"), replica("r3", "rs"))
	c := NewNodeInfo(zonedNode("c", "z2"))
	s := NewSnapshot(a, b, c)
	if got := s.OwnerZoneCount("rs", "z1"); got != 3 {
		t.Fatalf("z1 holds %d replicas, want 3", got)
	}

	// A replica moves from a to c, and b goes away.
	a2 := a.Clone()
	a2.RemovePod("r1")
	c2 := c.Clone()
	c2.AddPod(replica("r1", "rs"))
	s.Replace(map[string]*NodeInfo{"a": a2, "b": nil, "c": c2})
	if z1, z2 := s.OwnerZoneCount("rs", "z1"), s.OwnerZoneCount("rs", "z2"); z1 != 1 || z2 != 1 {
		t.Errorf("after the move: z1 %d, z2 %d; want 1, 1", z1, z2)
	}
	if a.OwnerCount("rs") != 2 {
		t.Errorf("Clone shares Owners with the original")
	}

	// A terminating replica no longer counts.
	dying := replica("r4", "rs")
	dying.Pod.DeletionTimestamp = ptr.To(metav1.Now())
	c3 := c2.Clone()
	c3.AddPod(dying)
	s.Replace(map[string]*NodeInfo{"c": c3})
	if got := s.OwnerZoneCount("rs", "z2"); got != 1 {
		t.Errorf("z2 counts %d replicas with a terminating one, want 1", got)
	}
}
