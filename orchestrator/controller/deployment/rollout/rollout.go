// Package rollout holds the arithmetic and bookkeeping of Deployment rollouts,
// as pure functions over Deployments and their ReplicaSets: the pod template
// hash, revisions and the annotations that carry them, which ReplicaSet is new
// and which are old, how far a rolling update may surge or fall short
// (maxSurge, maxUnavailable), proportional scaling, and the Progressing and
// Available conditions. The values and messages are upstream's, so that kubectl
// reads them unchanged. It must not call the API: the controller
// (orchestrator/controller/deployment) does.
package rollout

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/dump"
)

// Annotations the controller keeps on Deployments and their ReplicaSets.
const (
	// RevisionAnnotation is the revision of a ReplicaSet, and of a Deployment
	// the revision of its new ReplicaSet.
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions a ReplicaSet had
	// before a rollback made it new again.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the Deployment's replicas when the
	// ReplicaSet was last scaled, MaxReplicasAnnotation those plus maxSurge;
	// proportional scaling works from them.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
)

// Condition reasons, as kubectl and users know them.
const (
	ReasonNewReplicaSetCreated   = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet     = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated      = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable = "NewReplicaSetAvailable"
	ReasonTimedOut               = "ProgressDeadlineExceeded"
	ReasonPaused                 = "DeploymentPaused"
	ReasonResumed                = "DeploymentResumed"
	ReasonReplicaSetCreateError  = "ReplicaSetCreateError"
	ReasonMinimumAvailable       = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable     = "MinimumReplicasUnavailable"
)

// skipAnnotations are the annotations of a Deployment not copied to its
// ReplicaSets (they are the controller's own, or describe the Deployment).
var skipAnnotations = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true,
	RevisionAnnotation:                 true,
	RevisionHistoryAnnotation:          true,
	DesiredReplicasAnnotation:          true,
	MaxReplicasAnnotation:              true,
	// A rollback request of the retired extensions/v1beta1 API is addressed
	// to the controller, not part of a revision; berth does not act on it.
	appsv1.DeprecatedRollbackTo: true,
}

// maxHistoryChars bounds the revision-history annotation (about 100 revisions).
const maxHistoryChars = 2000

// Hash is the pod-template-hash of a template: upstream's, so that ReplicaSets
// and pods are named as on any cluster (FNV-32a of the template's deep dump,
// salted with the collision count, in rand's safe alphabet).
func Hash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// EqualIgnoreHash reports whether two templates are the same but for the
// pod-template-hash label.
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return equality.Semantic.DeepEqual(a, b)
}

// Replicas is a Deployment's or ReplicaSet's replicas, 1 if unset (the default).
func Replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

// Revision is the revision annotation of obj, 0 if it has none.
func Revision(annotations map[string]string) (int64, error) {
	v, ok := annotations[RevisionAnnotation]
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// MaxRevision is the highest revision among rss.
func MaxRevision(rss []*appsv1.ReplicaSet) int64 {
	var top int64
	for _, rs := range rss {
		if v, err := Revision(rs.Annotations); err == nil {
			top = max(top, v)
		}
	}
	return top
}

// SetRevision sets d's revision annotation and reports whether it changed.
func SetRevision(d *appsv1.Deployment, revision string) bool {
	if d.Annotations[RevisionAnnotation] == revision {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[RevisionAnnotation] = revision
	return true
}

// SetNewReplicaSetAnnotations brings the annotations of d's new ReplicaSet up
// to date: d's own annotations (bar the skipped ones), the revision if it is
// higher than rs has (keeping the replaced one in the revision history, as a
// rollback does), and for a ReplicaSet about to be created the replica counts.
// It reports whether anything changed.
func SetNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, revision string, exists bool) bool {
	changed := copyAnnotations(d, rs)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	old, had := rs.Annotations[RevisionAnnotation]
	oldN, err := strconv.ParseInt(old, 10, 64)
	if err != nil {
		if old != "" {
			return false
		}
		oldN = 0
	}
	newN, err := strconv.ParseInt(revision, 10, 64)
	if err != nil {
		return false
	}
	if oldN < newN {
		rs.Annotations[RevisionAnnotation] = revision
		changed = true
		if had {
			rs.Annotations[RevisionHistoryAnnotation] = appendHistory(rs.Annotations[RevisionHistoryAnnotation], old)
		}
	}
	if !exists && SetReplicasAnnotations(rs, Replicas(d.Spec.Replicas), Replicas(d.Spec.Replicas)+MaxSurge(d)) {
		changed = true
	}
	return changed
}

// appendHistory adds revision to a comma-separated history, dropping the
// oldest entries to stay within maxHistoryChars.
func appendHistory(history, revision string) string {
	if history == "" {
		return revision
	}
	entries := append(strings.Split(history, ","), revision)
	for len(strings.Join(entries, ",")) > maxHistoryChars && len(entries) > 1 {
		entries = entries[1:]
	}
	return strings.Join(entries, ",")
}

// copyAnnotations copies d's annotations to rs, bar the skipped ones.
func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	for k, v := range d.Annotations {
		if skipAnnotations[k] {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		if rs.Annotations == nil {
			rs.Annotations = map[string]string{}
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// SetReplicasAnnotations records desired and max on rs and reports whether they
// changed.
func SetReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if !ReplicasAnnotationsNeedUpdate(rs, desired, maxReplicas) {
		return false
	}
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[DesiredReplicasAnnotation] = strconv.Itoa(int(desired))
	rs.Annotations[MaxReplicasAnnotation] = strconv.Itoa(int(maxReplicas))
	return true
}

// ReplicasAnnotationsNeedUpdate reports whether rs lacks desired or max.
func ReplicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	return rs.Annotations[DesiredReplicasAnnotation] != strconv.Itoa(int(desired)) ||
		rs.Annotations[MaxReplicasAnnotation] != strconv.Itoa(int(maxReplicas))
}

// DesiredReplicas is the desired-replicas annotation of rs.
func DesiredReplicas(rs *appsv1.ReplicaSet) (int32, bool) {
	return annotatedInt(rs, DesiredReplicasAnnotation)
}

func annotatedInt(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, err := strconv.ParseInt(rs.Annotations[key], 10, 32)
	return int32(v), err == nil
}

// HasProgressDeadline reports whether d reports lack of progress at all.
func HasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// HasRevisionHistoryLimit reports whether d's old ReplicaSets are cleaned up.
func HasRevisionHistoryLimit(d *appsv1.Deployment) bool {
	return d.Spec.RevisionHistoryLimit != nil && *d.Spec.RevisionHistoryLimit != math.MaxInt32
}

// IsRollingUpdate reports whether d rolls out with the RollingUpdate strategy.
func IsRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// fenceposts resolves maxSurge and maxUnavailable against d's replicas: a
// percentage of surge rounds up, of unavailability down, and when both come to
// zero one pod may be unavailable, or the rollout could never start.
//
// For 10 replicas at 25%/25%: surge ⌈2.5⌉ = 3, unavailable ⌊2.5⌋ = 2, so
// between 8 and 13 pods; for 4 replicas: 1 and 1, between 3 and 5.
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	desired := int(Replicas(d.Spec.Replicas))
	var s, u int
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		// Validation refuses bad values: they count as zero here.
		if ru.MaxSurge != nil {
			s, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
		}
		if ru.MaxUnavailable != nil {
			u, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, false)
		}
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

// MaxSurge is how many pods above replicas a rolling update may run.
func MaxSurge(d *appsv1.Deployment) int32 {
	if !IsRollingUpdate(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

// MaxUnavailable is how many of replicas a rolling update may be short of
// available, never more than replicas.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	if !IsRollingUpdate(d) || Replicas(d.Spec.Replicas) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, Replicas(d.Spec.Replicas))
}
