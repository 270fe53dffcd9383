package rollout

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NewCondition is a condition that changed (or was last updated) at now.
func NewCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) appsv1.DeploymentCondition {
	at := metav1.NewTime(now)
	return appsv1.DeploymentCondition{Type: t, Status: status, Reason: reason, Message: message, LastUpdateTime: at, LastTransitionTime: at}
}

// Condition returns the condition of type t, or nil.
func Condition(status appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// SetCondition sets c unless a condition of its type already has its status
// and reason; the transition time stays when only the reason changes.
func SetCondition(status *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := Condition(*status, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	RemoveCondition(status, c.Type)
	status.Conditions = append(status.Conditions, c)
}

// RemoveCondition drops the condition of type t.
func RemoveCondition(status *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var kept []appsv1.DeploymentCondition
	for _, c := range status.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	status.Conditions = kept
}

// FromReplicaSetCondition is a ReplicaSet's condition as the Deployment's.
func FromReplicaSetCondition(c appsv1.ReplicaSetCondition) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{
		Type: appsv1.DeploymentConditionType(c.Type), Status: c.Status, Reason: c.Reason, Message: c.Message,
		LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime,
	}
}

// Complete reports whether status shows d fully rolled out: every replica
// updated and available, no old one left, the latest spec observed.
func Complete(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	want := Replicas(d.Spec.Replicas)
	return status.UpdatedReplicas == want && status.Replicas == want && status.AvailableReplicas == want &&
		status.ObservedGeneration >= d.Generation
}

// Progressing reports whether status moved on from d's: more pods updated,
// ready or available, or fewer old ones.
func Progressing(d *appsv1.Deployment, status *appsv1.DeploymentStatus) bool {
	old := d.Status
	return status.UpdatedReplicas > old.UpdatedReplicas ||
		status.Replicas-status.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		status.ReadyReplicas > old.ReadyReplicas ||
		status.AvailableReplicas > old.AvailableReplicas
}

// TimedOut reports whether d has made no progress for its progress deadline
// since the Progressing condition of status was last updated.
func TimedOut(d *appsv1.Deployment, status *appsv1.DeploymentStatus, now time.Time) bool {
	if !HasProgressDeadline(d) {
		return false
	}
	c := Condition(*status, appsv1.DeploymentProgressing)
	if c == nil || c.Reason == ReasonNewReplicaSetAvailable {
		return false
	}
	if c.Reason == ReasonTimedOut {
		return true
	}
	deadline := time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	return c.LastUpdateTime.Add(deadline).Before(now)
}

// UpdateProgressing sets the Progressing condition of status, d's status as
// newly counted with newRS its new ReplicaSet (nil if none yet): complete
// (NewReplicaSetAvailable), progressing (ReplicaSetUpdated, with a fresh
// update time that restarts the deadline) or, with no progress for
// progressDeadlineSeconds, ProgressDeadlineExceeded. A Deployment without a
// deadline has no Progressing condition; one that completed keeps saying so
// until a new rollout begins.
func UpdateProgressing(d *appsv1.Deployment, status *appsv1.DeploymentStatus, newRS *appsv1.ReplicaSet, now time.Time) {
	if !HasProgressDeadline(d) {
		RemoveCondition(status, appsv1.DeploymentProgressing)
		return
	}
	cur := Condition(d.Status, appsv1.DeploymentProgressing)
	if status.Replicas == status.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewReplicaSetAvailable {
		return
	}
	// Messages name the new ReplicaSet, or the Deployment before it has one.
	subject := fmt.Sprintf("Deployment %q", d.Name)
	if newRS != nil {
		subject = fmt.Sprintf("ReplicaSet %q", newRS.Name)
	}
	switch {
	case Complete(d, status):
		SetCondition(status, NewCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			ReasonNewReplicaSetAvailable, subject+" has successfully progressed.", now))
	case Progressing(d, status):
		// Unlike SetCondition, the same reason again still counts: progress
		// moves the update time on.
		c := NewCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonReplicaSetUpdated, subject+" is progressing.", now)
		if cur != nil && cur.Status == corev1.ConditionTrue {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		RemoveCondition(status, appsv1.DeploymentProgressing)
		status.Conditions = append(status.Conditions, c)
	case TimedOut(d, status, now):
		SetCondition(status, NewCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
			ReasonTimedOut, subject+" has timed out progressing.", now))
	}
}

// UpdateReplicaFailure mirrors a ReplicaFailure condition of d's ReplicaSets
// (the new one's first) on status, or drops it when none has one.
func UpdateReplicaFailure(status *appsv1.DeploymentStatus, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) {
	for _, rs := range append([]*appsv1.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure {
				SetCondition(status, FromReplicaSetCondition(c))
				return
			}
		}
	}
	RemoveCondition(status, appsv1.DeploymentReplicaFailure)
}

// ProgressCheckIn is how long after now d should be looked at again to see
// whether its progress deadline has passed, given status, its newly counted
// status; false when there is nothing to wait for (no deadline, no
// Progressing condition yet, complete, or already timed out). The deadline
// runs from the last update of the condition: updated 3 minutes ago with a
// deadline of 10 minutes, the check is due in 7.
func ProgressCheckIn(d *appsv1.Deployment, status *appsv1.DeploymentStatus, now time.Time) (time.Duration, bool) {
	cur := Condition(d.Status, appsv1.DeploymentProgressing)
	if !HasProgressDeadline(d) || cur == nil || Complete(d, status) || cur.Reason == ReasonTimedOut {
		return 0, false
	}
	deadline := time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
	return cur.LastUpdateTime.Add(deadline).Sub(now), true
}
