package validation

import (
	policyv1 "k8s.io/api/policy/v1"
	v1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	spec := &pdb.Spec
	var errs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(specPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if v := spec.MinAvailable; v != nil {
		errs = append(errs, intOrPercent(*v, specPath.Child("minAvailable"))...)
		errs = append(errs, notMoreThan100Percent(*v, specPath.Child("minAvailable"))...)
	}
	if v := spec.MaxUnavailable; v != nil {
		errs = append(errs, intOrPercent(*v, specPath.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(*v, specPath.Child("maxUnavailable"))...)
	}
	errs = append(errs, labelSelector(spec.Selector, specPath.Child("selector"))...)
	if policy := spec.UnhealthyPodEvictionPolicy; policy != nil {
		errs = append(errs, supportedValue(*policy, specPath.Child("unhealthyPodEvictionPolicy"),
			policyv1.IfHealthyBudget, policyv1.AlwaysAllow)...)
	}
	return errs
}

func validatePodDisruptionBudgetStatus(pdb, _ *policyv1.PodDisruptionBudget) field.ErrorList {
	s := pdb.Status
	errs := v1validation.ValidateConditions(s.Conditions, statusPath.Child("conditions"))
	for _, c := range []count{{"disruptionsAllowed", s.DisruptionsAllowed}, {"currentHealthy", s.CurrentHealthy},
		{"desiredHealthy", s.DesiredHealthy}, {"expectedPods", s.ExpectedPods}} {
		errs = append(errs, nonNegative(int64(c.value), statusPath.Child(c.name))...)
	}
	return errs
}
