package podcontrol

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// DeletionCostAnnotation lets users say which pods to scale down first: lower
// cost goes first.
const DeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// PodsToDelete picks the n pods of pods to delete when scaling down, the ones
// whose loss hurts least first, in upstream's order:
//
//  1. not yet scheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower pod-deletion-cost before higher;
//  5. on a node crowded with related pods (of the same owner) before alone;
//  6. ready for less time before more (on a logarithmic scale);
//  7. more container restarts before fewer;
//  8. newer before older (on a logarithmic scale), then by UID.
//
// related are the pods counted for crowding: for a ReplicaSet, those of every
// ReplicaSet sharing its owner, so that a Deployment mid-rollout spreads evenly
// across nodes; for other controllers, their own pods.
func PodsToDelete(pods, related []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range related {
		if IsPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	type ranked struct {
		pod  *corev1.Pod
		rank int
	}
	rs := make([]ranked, len(pods))
	for i, p := range pods {
		rs[i] = ranked{p, onNode[p.Spec.NodeName]}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		return compareForDeletion(a.pod, b.pod, a.rank, b.rank, now)
	})
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = rs[i].pod
	}
	return out
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// compareForDeletion is negative when a should be deleted before b.
func compareForDeletion(a, b *corev1.Pod, rankA, rankB int, now time.Time) int {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return boolFirst(a.Spec.NodeName == "")
	}
	if c := phaseOrder[a.Status.Phase] - phaseOrder[b.Status.Phase]; c != 0 {
		return c
	}
	readyA, readyB := IsPodReady(a), IsPodReady(b)
	if readyA != readyB {
		return boolFirst(!readyA)
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return cmp.Compare(ca, cb)
	}
	if rankA != rankB {
		return cmp.Compare(rankB, rankA)
	}
	if readyA && readyB {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			if c := laterFirst(ta, tb, now); c != 0 {
				return c
			}
			return cmp.Compare(string(a.UID), string(b.UID))
		}
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return cmp.Compare(rb, ra)
	}
	ca, cb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ca.Equal(cb) {
		if c := laterFirst(ca, cb, now); c != 0 {
			return c
		}
		return cmp.Compare(string(a.UID), string(b.UID))
	}
	return 0
}

// laterFirst orders two times newest first, a zero time before any other.
// Times are compared by the binary order of magnitude of their age, so that
// pods of about the same age count as equal (0) and a tie-break spreads
// scale-downs across them instead of always hitting the very newest.
func laterFirst(a, b, now time.Time) int {
	if a.IsZero() || b.IsZero() || now.IsZero() {
		switch {
		case a.IsZero():
			return -1
		case b.IsZero():
			return 1
		}
		return boolFirst(a.After(b))
	}
	return cmp.Compare(magnitude(now.Sub(a)), magnitude(now.Sub(b)))
}

func magnitude(age time.Duration) int {
	if age <= 0 {
		return -1
	}
	return int(math.Log2(float64(age)))
}

func deletionCost(p *corev1.Pod) int {
	v, err := strconv.ParseInt(p.Annotations[DeletionCostAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return int(v)
}

func restarts(p *corev1.Pod) int {
	n := 0
	for _, s := range p.Status.ContainerStatuses {
		n = max(n, int(s.RestartCount))
	}
	for _, s := range p.Status.InitContainerStatuses {
		n = max(n, int(s.RestartCount))
	}
	return n
}

// boolFirst orders the true side first: -1 when first holds.
func boolFirst(first bool) int {
	if first {
		return -1
	}
	return 1
}
