package apis

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func defaultDeployment(d *appsv1.Deployment) {
	spec := &d.Spec
	defaultPointer(&spec.Replicas, 1)
	defaultValue(&spec.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType)
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		defaultPointer(&spec.Strategy.RollingUpdate, appsv1.RollingUpdateDeployment{})
		defaultPointer(&spec.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
		defaultPointer(&spec.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
	}
	defaultPointer(&spec.RevisionHistoryLimit, 10)
	defaultPointer(&spec.ProgressDeadlineSeconds, 600)
	defaultPodSpec(&spec.Template.Spec)
}

func defaultReplicaSet(rs *appsv1.ReplicaSet) {
	defaultPointer(&rs.Spec.Replicas, 1)
	defaultPodSpec(&rs.Spec.Template.Spec)
}

// defaultStatefulSet gives a rolling update a partition only when it defaults the
// strategy, or when the rolling update is spelled out: an explicit RollingUpdate
// type alone keeps no rollingUpdate, as upstream.
func defaultStatefulSet(sts *appsv1.StatefulSet) {
	spec := &sts.Spec
	defaultValue(&spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement)
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		defaultPointer(&spec.UpdateStrategy.RollingUpdate, appsv1.RollingUpdateStatefulSetStrategy{})
	}
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && spec.UpdateStrategy.RollingUpdate != nil {
		defaultPointer(&spec.UpdateStrategy.RollingUpdate.Partition, 0)
	}
	defaultPointer(&spec.PersistentVolumeClaimRetentionPolicy, appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{})
	defaultValue(&spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	defaultValue(&spec.PersistentVolumeClaimRetentionPolicy.WhenScaled, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
	defaultPointer(&spec.Replicas, 1)
	defaultPointer(&spec.RevisionHistoryLimit, 10)
	defaultPodSpec(&spec.Template.Spec)
	for i := range spec.VolumeClaimTemplates {
		defaultPersistentVolumeClaim(&spec.VolumeClaimTemplates[i])
	}
}

func defaultDaemonSet(ds *appsv1.DaemonSet) {
	spec := &ds.Spec
	defaultValue(&spec.UpdateStrategy.Type, appsv1.RollingUpdateDaemonSetStrategyType)
	if spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		defaultPointer(&spec.UpdateStrategy.RollingUpdate, appsv1.RollingUpdateDaemonSet{})
		defaultPointer(&spec.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
		defaultPointer(&spec.UpdateStrategy.RollingUpdate.MaxSurge, intstr.FromInt32(0))
	}
	defaultPointer(&spec.RevisionHistoryLimit, 10)
	defaultPodSpec(&spec.Template.Spec)
}
