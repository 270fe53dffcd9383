package rollout

import (
	"cmp"
	"math"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
)

// FindNew returns the ReplicaSet of rss whose template is d's, the oldest if
// there are several, or nil.
func FindNew(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	for _, rs := range SortedByCreation(rss) {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// FindOld returns every ReplicaSet of rss but the new one.
func FindOld(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	newRS := FindNew(d, rss)
	var old []*appsv1.ReplicaSet
	for _, rs := range rss {
		if newRS == nil || rs.UID != newRS.UID {
			old = append(old, rs)
		}
	}
	return old
}

// Active returns the ReplicaSets of rss that want pods, skipping nils.
func Active(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && Replicas(rs.Spec.Replicas) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// SpecReplicas is the sum of the replicas rss want.
func SpecReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sum(rss, func(rs *appsv1.ReplicaSet) int32 { return Replicas(rs.Spec.Replicas) })
}

// ActualReplicas is the sum of the pods rss have.
func ActualReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sum(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.Status.Replicas })
}

// ReadyReplicas is the sum of the ready pods of rss.
func ReadyReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sum(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.Status.ReadyReplicas })
}

// AvailableReplicas is the sum of the available pods of rss.
func AvailableReplicas(rss []*appsv1.ReplicaSet) int32 {
	return sum(rss, func(rs *appsv1.ReplicaSet) int32 { return rs.Status.AvailableReplicas })
}

func sum(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSet) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(rs)
		}
	}
	return n
}

// byCreation orders oldest first, by name when created in the same second.
func byCreation(a, b *appsv1.ReplicaSet) int {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		if a.CreationTimestamp.Before(&b.CreationTimestamp) {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.Name, b.Name)
}

// SortedByCreation returns rss oldest first.
func SortedByCreation(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	return slices.SortedStableFunc(slices.Values(rss), byCreation)
}

// SortedByRevision returns rss lowest revision first, by age on a tie.
func SortedByRevision(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	return slices.SortedStableFunc(slices.Values(rss), func(a, b *appsv1.ReplicaSet) int {
		ra, _ := Revision(a.Annotations)
		rb, _ := Revision(b.Annotations)
		if ra == rb {
			return byCreation(a, b)
		}
		return cmp.Compare(ra, rb)
	})
}

// SortedBySize returns rss largest first; among equals the newest first when
// scaling up and the oldest first when scaling down.
func SortedBySize(rss []*appsv1.ReplicaSet, up bool) []*appsv1.ReplicaSet {
	return slices.SortedStableFunc(slices.Values(rss), func(a, b *appsv1.ReplicaSet) int {
		if c := cmp.Compare(Replicas(b.Spec.Replicas), Replicas(a.Spec.Replicas)); c != 0 {
			return c
		}
		if up {
			return byCreation(b, a)
		}
		return byCreation(a, b)
	})
}

// FindActiveOrLatest returns the one ReplicaSet that has pods, or the newest
// if none has; nil when several have (a rollout is under way).
func FindActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	active := Active(append(slices.Clone(oldRSs), newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		sorted := SortedByCreation(oldRSs)
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

// IsSaturated reports whether rs, d's new ReplicaSet, runs all of d's
// replicas, all available.
func IsSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := annotatedInt(rs, DesiredReplicasAnnotation)
	want := Replicas(d.Spec.Replicas)
	return ok && Replicas(rs.Spec.Replicas) == want && desired == want && rs.Status.AvailableReplicas == want
}

// NewReplicas is how many replicas d's new ReplicaSet should have now: all of
// them for Recreate (the old ones are gone by then); for RollingUpdate as many
// more as maxSurge leaves room for.
//
// With 10 replicas and maxSurge 3, an old ReplicaSet at 10 and the new one at
// 0: at most 13 pods, 10 exist, so the new one gets 3.
func NewReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	want := Replicas(d.Spec.Replicas)
	if !IsRollingUpdate(d) {
		return want
	}
	current := SpecReplicas(all)
	maxTotal := want + MaxSurge(d)
	have := Replicas(newRS.Spec.Replicas)
	if current >= maxTotal {
		return have
	}
	return have + min(maxTotal-current, want-have)
}

// Proportion is how many replicas to add to (or, negative, remove from) rs
// when a Deployment mid-rollout is scaled: its share of toAdd by its size
// against the size d had when rs was last scaled (max-replicas), never beyond
// what is left of toAdd after added.
//
// Scaling from 10 to 15 replicas with maxSurge 3 (13 to 18 pods at most),
// mid-rollout with an old ReplicaSet at 8 and the new one at 5, both annotated
// max-replicas 13: toAdd is 5; the old gets round(8·18/13) − 8 = 3, the new
// round(5·18/13) − 5 = 2.
func Proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || Replicas(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := fraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

// fraction is how much rs would grow (or shrink) in proportion to d's new size.
func fraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	have := Replicas(rs.Spec.Replicas)
	if Replicas(d.Spec.Replicas) == 0 {
		return -have
	}
	total := Replicas(d.Spec.Replicas) + MaxSurge(d)
	annotated, ok := annotatedInt(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		// Without the annotation, the size d last had is the best guess.
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	return int32(math.Round(float64(have)*float64(total)/float64(annotated))) - have
}
