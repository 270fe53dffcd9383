package validation

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var statusPath = field.NewPath("status")

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	spec := &d.Spec
	errs := nonNegativePtr(spec.Replicas, specPath.Child("replicas"))
	sel, selErrs := controllerSelector(spec.Selector, specPath.Child("selector"), "deployment")
	errs = append(errs, selErrs...)
	errs = append(errs, validateControllerTemplate(&spec.Template, sel, specPath.Child("template"), "Deployment", podSpecOptions{})...)
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, specPath.Child("strategy"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	if d := spec.ProgressDeadlineSeconds; d != nil {
		errs = append(errs, nonNegative(int64(*d), specPath.Child("progressDeadlineSeconds"))...)
		if *d <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(specPath.Child("progressDeadlineSeconds"), *d, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return field.ErrorList{field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		rp := p.Child("rollingUpdate")
		var errs field.ErrorList
		var unavailable, surge int
		if ru.MaxUnavailable != nil {
			errs = append(errs, intOrPercent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			unavailable = intOrPercentValue(*ru.MaxUnavailable)
		}
		if ru.MaxSurge != nil {
			errs = append(errs, intOrPercent(*ru.MaxSurge, rp.Child("maxSurge"))...)
			surge = intOrPercentValue(*ru.MaxSurge)
		}
		if unavailable == 0 && surge == 0 {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		if ru.MaxUnavailable != nil {
			errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		}
		return errs
	default:
		return field.ErrorList{field.NotSupported(p, s, []appsv1.DeploymentStrategyType{
			appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
	return nil
}

// validateDeploymentUpdate keeps the selector: in apps/v1 a controller's pods are
// chosen once.
func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	return selectorImmutable(d.Spec.Selector, old.Spec.Selector)
}

func selectorImmutable(sel, old any) field.ErrorList {
	if !equality.Semantic.DeepEqual(sel, old) {
		return field.ErrorList{field.Invalid(specPath.Child("selector"), sel, immutableMsg)}
	}
	return nil
}

func validateDeploymentStatus(d, old *appsv1.Deployment) field.ErrorList {
	s := d.Status
	errs := validateReplicaCounts(statusPath, s.ObservedGeneration, []count{
		{"replicas", s.Replicas}, {"updatedReplicas", s.UpdatedReplicas}, {"readyReplicas", s.ReadyReplicas},
		{"availableReplicas", s.AvailableReplicas}, {"unavailableReplicas", s.UnavailableReplicas}})
	errs = append(errs, nonNegativePtr(s.TerminatingReplicas, statusPath.Child("terminatingReplicas"))...)
	return append(errs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

// validateCollisionCount checks the counter of hash collisions of a controller's
// revisions, which only grows.
func validateCollisionCount(n, old *int32) field.ErrorList {
	errs := nonNegativePtr(n, statusPath.Child("collisionCount"))
	if old != nil && (n == nil || *n < *old) {
		value := int32(0)
		if n != nil {
			value = *n
		}
		errs = append(errs, field.Invalid(statusPath.Child("collisionCount"), value, "cannot be decremented"))
	}
	return errs
}

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	spec := &rs.Spec
	errs := nonNegativePtr(spec.Replicas, specPath.Child("replicas"))
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	sel, selErrs := controllerSelector(spec.Selector, specPath.Child("selector"), "deployment")
	errs = append(errs, selErrs...)
	return append(errs, validateControllerTemplate(&spec.Template, sel, specPath.Child("template"), "ReplicaSet", podSpecOptions{})...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	return selectorImmutable(rs.Spec.Selector, old.Spec.Selector)
}

func validateReplicaSetStatus(rs, _ *appsv1.ReplicaSet) field.ErrorList {
	s := rs.Status
	errs := validateReplicaCounts(statusPath, s.ObservedGeneration, []count{
		{"replicas", s.Replicas}, {"fullyLabeledReplicas", s.FullyLabeledReplicas},
		{"readyReplicas", s.ReadyReplicas}, {"availableReplicas", s.AvailableReplicas}})
	return append(errs, nonNegativePtr(s.TerminatingReplicas, statusPath.Child("terminatingReplicas"))...)
}

var retentionPolicies = []appsv1.PersistentVolumeClaimRetentionPolicyType{
	appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	spec := &ss.Spec
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(specPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(specPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	up := specPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(up, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			rp := up.Child("rollingUpdate")
			errs = append(errs, nonNegativePtr(ru.Partition, rp.Child("partition"))...)
			if mu := ru.MaxUnavailable; mu != nil {
				errs = append(errs, intOrPercent(*mu, rp.Child("maxUnavailable"))...)
				if intOrPercentValue(*mu) == 0 {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), *mu, "cannot be 0"))
				}
				errs = append(errs, notMoreThan100Percent(*mu, rp.Child("maxUnavailable"))...)
			}
		}
	default:
		errs = append(errs, field.Invalid(up, spec.UpdateStrategy, fmt.Sprintf("must be '%s' or '%s'",
			appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if rp := spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		pp := specPath.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, supportedValue(rp.WhenDeleted, pp.Child("whenDeleted"), retentionPolicies...)...)
		errs = append(errs, supportedValue(rp.WhenScaled, pp.Child("whenScaled"), retentionPolicies...)...)
	}
	errs = append(errs, nonNegativePtr(spec.Replicas, specPath.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonNegative(int64(spec.Ordinals.Start), specPath.Child("ordinals", "start"))...)
	}
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	sel, selErrs := controllerSelector(spec.Selector, specPath.Child("selector"), "statefulset")
	errs = append(errs, selErrs...)
	// Containers mount the claims made from the volume claim templates like volumes.
	var claims []string
	for _, t := range spec.VolumeClaimTemplates {
		claims = append(claims, t.Name)
	}
	return append(errs, validateControllerTemplate(&spec.Template, sel, specPath.Child("template"), "StatefulSet", podSpecOptions{claimTemplates: claims})...)
}

// validateStatefulSetUpdate lets an update scale, roll out a new template or
// change how it rolls; the identity of the set's pods and claims stays.
func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	spec := ss.Spec.DeepCopy()
	spec.Replicas = old.Spec.Replicas
	spec.Ordinals = old.Spec.Ordinals
	spec.Template = old.Spec.Template
	spec.UpdateStrategy = old.Spec.UpdateStrategy
	spec.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	spec.MinReadySeconds = old.Spec.MinReadySeconds
	if !equality.Semantic.DeepEqual(*spec, old.Spec) {
		return field.ErrorList{field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
	}
	return nil
}

func validateStatefulSetStatus(ss, old *appsv1.StatefulSet) field.ErrorList {
	s := ss.Status
	errs := validateReplicaCounts(statusPath, s.ObservedGeneration, []count{
		{"replicas", s.Replicas}, {"readyReplicas", s.ReadyReplicas}, {"currentReplicas", s.CurrentReplicas},
		{"updatedReplicas", s.UpdatedReplicas}, {"availableReplicas", s.AvailableReplicas}})
	return append(errs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	spec := &ds.Spec
	sel, errs := controllerSelector(spec.Selector, specPath.Child("selector"), "daemonset")
	errs = append(errs, validateControllerTemplate(&spec.Template, sel, specPath.Child("template"), "DaemonSet", podSpecOptions{})...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, nonNegativePtr(spec.RevisionHistoryLimit, specPath.Child("revisionHistoryLimit"))...)
	up := specPath.Child("updateStrategy")
	switch s := spec.UpdateStrategy; s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(up.Child("rollingUpdate"), ""))
		}
		rp := up.Child("rollingUpdate")
		var unavailable, surge int
		if ru.MaxUnavailable != nil {
			errs = append(errs, intOrPercent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			unavailable = intOrPercentValue(*ru.MaxUnavailable)
		}
		if ru.MaxSurge != nil {
			errs = append(errs, intOrPercent(*ru.MaxSurge, rp.Child("maxSurge"))...)
			errs = append(errs, notMoreThan100Percent(*ru.MaxSurge, rp.Child("maxSurge"))...)
			surge = intOrPercentValue(*ru.MaxSurge)
		}
		switch {
		case unavailable != 0 && surge != 0:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		case unavailable == 0 && surge == 0:
			errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(up, s, []appsv1.DaemonSetUpdateStrategyType{
			appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}))
	}
	return errs
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	return selectorImmutable(ds.Spec.Selector, old.Spec.Selector)
}

func validateDaemonSetStatus(ds, old *appsv1.DaemonSet) field.ErrorList {
	s := ds.Status
	errs := nonNegative(s.ObservedGeneration, statusPath.Child("observedGeneration"))
	for _, c := range []count{
		{"currentNumberScheduled", s.CurrentNumberScheduled}, {"numberMisscheduled", s.NumberMisscheduled},
		{"desiredNumberScheduled", s.DesiredNumberScheduled}, {"numberReady", s.NumberReady},
		{"updatedNumberScheduled", s.UpdatedNumberScheduled}, {"numberAvailable", s.NumberAvailable},
		{"numberUnavailable", s.NumberUnavailable}} {
		errs = append(errs, nonNegative(int64(c.value), statusPath.Child(c.name))...)
	}
	return append(errs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount)...)
}

func validateControllerRevision(r *appsv1.ControllerRevision) field.ErrorList {
	var errs field.ErrorList
	if r.Data.Raw == nil && r.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(errs, nonNegative(r.Revision, field.NewPath("revision"))...)
}

func validateControllerRevisionUpdate(r, old *appsv1.ControllerRevision) field.ErrorList {
	return immutable(r.Data, old.Data, field.NewPath("data"))
}
