package rollout

import appsv1 "k8s.io/api/apps/v1"

// Resize is a ReplicaSet and the replicas it should have.
type Resize struct {
	RS *appsv1.ReplicaSet
	To int32
}

// NewReplicaSetTarget is the size d's new ReplicaSet should have in this
// step of a rollout: no more than d's replicas, and on the way up as much as
// NewReplicas allows.
func NewReplicaSetTarget(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := Replicas(d.Spec.Replicas)
	if Replicas(newRS.Spec.Replicas) >= want {
		return want
	}
	return NewReplicas(d, all, newRS)
}

// ScaleDownOld plans one scale-down step of a rolling update: which of old,
// d's active old ReplicaSets, shrink and to what, oldest first. It never lets
// the available pods of d fall below replicas − maxUnavailable.
//
// First go the old pods that are not available, as far as the budget allows:
// all pods wanted − the minimum available − the new pods not yet available
// (those may yet count as unavailable, so they cannot be spent twice). Removing
// an unavailable pod costs no availability, and stuck old pods would otherwise
// block the rollout. Then go available old pods, as many as exceed the minimum.
//
// With 10 replicas, maxSurge 3 and maxUnavailable 2: the new ReplicaSet was
// created at 3 next to the old one at 10, all 10 old pods available, none new.
// The budget is 13 − 8 − 3 = 2 and no old pod is unavailable; 10 are available,
// 2 more than 8, so the old ReplicaSet goes to 8. Were the new pods crash
// looping and an old pod lost, the budget would be 13 − 8 − 3 = 2 still, but
// only 9 − 8 = 1 available old pod may go: 1 unavailable and 1 available.
func ScaleDownOld(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []Resize {
	if SpecReplicas(old) == 0 {
		return nil
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	minAvailable := Replicas(d.Spec.Replicas) - MaxUnavailable(d)
	newUnavailable := Replicas(newRS.Spec.Replicas) - newRS.Status.AvailableReplicas
	budget := SpecReplicas(all) - minAvailable - newUnavailable
	if budget <= 0 {
		return nil
	}

	sorted := SortedByCreation(old)
	sizes := make([]int32, len(sorted))
	cut := int32(0)
	for i, rs := range sorted {
		sizes[i] = Replicas(rs.Spec.Replicas)
		unavailable := sizes[i] - rs.Status.AvailableReplicas
		if cut >= budget || unavailable <= 0 {
			continue
		}
		n := min(budget-cut, unavailable)
		sizes[i] -= n
		cut += n
	}
	excess := AvailableReplicas(all) - minAvailable
	for i := range sorted {
		if excess <= 0 {
			break
		}
		n := min(sizes[i], excess)
		sizes[i] -= n
		excess -= n
	}

	var plan []Resize
	for i, rs := range sorted {
		if sizes[i] != Replicas(rs.Spec.Replicas) {
			plan = append(plan, Resize{RS: rs, To: sizes[i]})
		}
	}
	return plan
}
