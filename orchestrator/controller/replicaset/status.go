package replicaset

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// calculateStatus counts the replicas of rs among its pods and reports an
// error creating or deleting them as the ReplicaFailure condition.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	template := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	for _, p := range pods {
		if template.Matches(labels.Set(p.Labels)) {
			status.FullyLabeledReplicas++
		}
		if podcontrol.IsPodReady(p) {
			status.ReadyReplicas++
			if podcontrol.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				status.AvailableReplicas++
			}
		}
	}
	failure := condition(status, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if len(pods) > int(replicas(rs)) {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure != nil:
		var kept []appsv1.ReplicaSetCondition
		for _, c := range status.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				kept = append(kept, c)
			}
		}
		status.Conditions = kept
	}
	return status
}

func condition(status appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}

// updateStatus writes status unless rs already has it, retrying once on a
// fresh copy when the write fails; it returns rs as written.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	status.ObservedGeneration = rs.Status.ObservedGeneration
	if rs.Generation == rs.Status.ObservedGeneration && equality.Semantic.DeepEqual(rs.Status, status) {
		return rs, nil
	}
	// The generation acted on, so that a retry cannot claim to have seen a newer spec.
	status.ObservedGeneration = rs.Generation
	var err error
	for attempt := 0; ; attempt++ {
		rs = rs.DeepCopy()
		rs.Status = status
		var written *appsv1.ReplicaSet
		if written, err = c.kind.updateStatus(ctx, rs); err == nil {
			return written, nil
		}
		if attempt == 1 {
			return nil, err
		}
		if rs, err = c.kind.fresh(ctx, rs.Namespace, rs.Name); err != nil {
			return nil, err
		}
	}
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}
