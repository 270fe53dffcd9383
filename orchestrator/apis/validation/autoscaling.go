package validation

import (
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	maxScalingPeriodSeconds       = 1800
	maxStabilizationWindowSeconds = 3600
)

func validateHPA(hpa *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	spec := &hpa.Spec
	errs := validateReplicaBounds(spec.MinReplicas, spec.MaxReplicas)
	errs = append(errs, validateScaleTarget(spec.ScaleTargetRef.Kind, spec.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))...)
	for i, m := range spec.Metrics {
		errs = append(errs, validateMetricSpec(m, specPath.Child("metrics").Index(i))...)
	}
	if b := spec.Behavior; b != nil {
		errs = append(errs, validateScalingRules(b.ScaleUp, specPath.Child("behavior", "scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, specPath.Child("behavior", "scaleDown"))...)
	}
	return errs
}

// validateReplicaBounds checks 1 <= minReplicas <= maxReplicas; scaling to zero
// (the HPAScaleToZero feature) is not served.
func validateReplicaBounds(min *int32, max int32) field.ErrorList {
	var errs field.ErrorList
	if min != nil && *min < 1 {
		errs = append(errs, field.Invalid(specPath.Child("minReplicas"), *min, "must be greater than or equal to 1"))
	}
	if max < 1 {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), max, "must be greater than 0"))
	}
	if min != nil && max < *min {
		errs = append(errs, field.Invalid(specPath.Child("maxReplicas"), max, "must be greater than or equal to `minReplicas`"))
	}
	return errs
}

func validateScaleTarget(kind, name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kind == "" {
		errs = append(errs, field.Required(p.Child("kind"), ""))
	} else {
		errs = append(errs, messages(p.Child("kind"), kind, path.IsValidPathSegmentName(kind))...)
	}
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, messages(p.Child("name"), name, path.IsValidPathSegmentName(name))...)
	}
	return errs
}

var metricSourceTypes = []autoscalingv2.MetricSourceType{autoscalingv2.ContainerResourceMetricSourceType,
	autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType,
	autoscalingv2.ResourceMetricSourceType}

// validateMetricSpec requires the source named by the metric's type, and only it.
func validateMetricSpec(m autoscalingv2.MetricSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m.Type == "" {
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric source type"))
	} else {
		errs = append(errs, supportedValue(m.Type, p.Child("type"), metricSourceTypes...)...)
	}
	sources := []struct {
		typ  autoscalingv2.MetricSourceType
		name string
		set  bool
	}{
		{autoscalingv2.ObjectMetricSourceType, "object", m.Object != nil},
		{autoscalingv2.PodsMetricSourceType, "pods", m.Pods != nil},
		{autoscalingv2.ResourceMetricSourceType, "resource", m.Resource != nil},
		{autoscalingv2.ContainerResourceMetricSourceType, "containerResource", m.ContainerResource != nil},
		{autoscalingv2.ExternalMetricSourceType, "external", m.External != nil},
	}
	for _, s := range sources {
		switch {
		case s.typ == m.Type && !s.set:
			errs = append(errs, field.Required(p.Child(s.name), "must populate information for the given metric source"))
		case s.typ != m.Type && s.set:
			errs = append(errs, field.Forbidden(p.Child(s.name), "must populate the given metric source only"))
		}
	}
	switch {
	case m.Object != nil && m.Type == autoscalingv2.ObjectMetricSourceType:
		op := p.Child("object")
		errs = append(errs, validateScaleTarget(m.Object.DescribedObject.Kind, m.Object.DescribedObject.Name, op.Child("describedObject"))...)
		errs = append(errs, validateMetricIdentifier(m.Object.Metric, op.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.Object.Target, op.Child("target"))...)
		if m.Object.Target.Value == nil && m.Object.Target.AverageValue == nil {
			errs = append(errs, field.Required(op.Child("target", "averageValue"), "must set either a target value or averageValue"))
		}
	case m.Pods != nil && m.Type == autoscalingv2.PodsMetricSourceType:
		pp := p.Child("pods")
		errs = append(errs, validateMetricIdentifier(m.Pods.Metric, pp.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.Pods.Target, pp.Child("target"))...)
		if m.Pods.Target.AverageValue == nil {
			errs = append(errs, field.Required(pp.Child("target", "averageValue"), "must specify a positive target averageValue"))
		}
	case m.Resource != nil && m.Type == autoscalingv2.ResourceMetricSourceType:
		rp := p.Child("resource")
		if m.Resource.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), "must specify a resource name"))
		}
		errs = append(errs, validateUtilizationTarget(m.Resource.Target, rp.Child("target"))...)
	case m.ContainerResource != nil && m.Type == autoscalingv2.ContainerResourceMetricSourceType:
		cp := p.Child("containerResource")
		if m.ContainerResource.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), "must specify a resource name"))
		} else {
			errs = append(errs, validateContainerResourceName(m.ContainerResource.Name, cp.Child("name"))...)
		}
		if m.ContainerResource.Container == "" {
			errs = append(errs, field.Required(cp.Child("container"), "must specify a container"))
		} else {
			errs = append(errs, dnsLabel(m.ContainerResource.Container, cp.Child("container"))...)
		}
		errs = append(errs, validateUtilizationTarget(m.ContainerResource.Target, cp.Child("target"))...)
	case m.External != nil && m.Type == autoscalingv2.ExternalMetricSourceType:
		ep := p.Child("external")
		errs = append(errs, validateMetricIdentifier(m.External.Metric, ep.Child("metric"))...)
		errs = append(errs, validateMetricTarget(m.External.Target, ep.Child("target"))...)
		switch t := m.External.Target; {
		case t.Value == nil && t.AverageValue == nil:
			errs = append(errs, field.Required(ep.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
		case t.Value != nil && t.AverageValue != nil:
			errs = append(errs, field.Forbidden(ep.Child("target", "value"), "may not set both a target value for metric and a per-pod target"))
		}
	}
	return errs
}

func validateUtilizationTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	errs := validateMetricTarget(t, p)
	switch {
	case t.AverageUtilization == nil && t.AverageValue == nil:
		errs = append(errs, field.Required(p.Child("averageUtilization"), "must set either a target raw value or a target utilization"))
	case t.AverageUtilization != nil && t.AverageValue != nil:
		errs = append(errs, field.Forbidden(p.Child("averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return errs
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if id.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), "must specify a metric name"))
	} else {
		errs = append(errs, messages(p.Child("name"), id.Name, path.IsValidPathSegmentName(id.Name))...)
	}
	return append(errs, labelSelector(id.Selector, p.Child("selector"))...)
}

func validateMetricTarget(t autoscalingv2.MetricTarget, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Type == "" {
		errs = append(errs, field.Required(p.Child("type"), "must specify a metric target type"))
	} else {
		errs = append(errs, supportedValue(t.Type, p.Child("type"),
			autoscalingv2.UtilizationMetricType, autoscalingv2.ValueMetricType, autoscalingv2.AverageValueMetricType)...)
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("value"), t.Value, "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		errs = append(errs, field.Invalid(p.Child("averageValue"), t.AverageValue, "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		errs = append(errs, field.Invalid(p.Child("averageUtilization"), t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}

func validateScalingRules(r *autoscalingv2.HPAScalingRules, p *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && *w < 0 {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), w, "must be greater than or equal to zero"))
	} else if w != nil && *w > maxStabilizationWindowSeconds {
		errs = append(errs, field.Invalid(p.Child("stabilizationWindowSeconds"), w, fmt.Sprintf("must be less than or equal to %v", maxStabilizationWindowSeconds)))
	}
	if s := r.SelectPolicy; s != nil {
		errs = append(errs, supportedValue(*s, p.Child("selectPolicy"),
			autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect)...)
	}
	pp := p.Child("policies")
	if len(r.Policies) == 0 {
		errs = append(errs, field.Required(pp, "must specify at least one Policy"))
	}
	for i, policy := range r.Policies {
		ip := pp.Index(i)
		errs = append(errs, supportedValue(policy.Type, ip.Child("type"), autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy)...)
		if policy.Value <= 0 {
			errs = append(errs, field.Invalid(ip.Child("value"), policy.Value, notPositiveMsg))
		}
		if policy.PeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(ip.Child("periodSeconds"), policy.PeriodSeconds, notPositiveMsg))
		} else if policy.PeriodSeconds > maxScalingPeriodSeconds {
			errs = append(errs, field.Invalid(ip.Child("periodSeconds"), policy.PeriodSeconds, fmt.Sprintf("must be less than or equal to %v", maxScalingPeriodSeconds)))
		}
	}
	return errs
}

func validateHPAStatus(hpa, _ *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	errs := nonNegative(int64(hpa.Status.CurrentReplicas), statusPath.Child("currentReplicas"))
	return append(errs, nonNegative(int64(hpa.Status.DesiredReplicas), statusPath.Child("desiredReplicas"))...)
}

func validateHPAv1(hpa *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	errs := validateReplicaBounds(hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	errs = append(errs, validateScaleTarget(hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))...)
	if t := hpa.Spec.TargetCPUUtilizationPercentage; t != nil && *t < 1 {
		errs = append(errs, field.Invalid(specPath.Child("targetCPUUtilizationPercentage"), *t, "must be greater than 0"))
	}
	return errs
}

func validateHPAv1Status(hpa, _ *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	errs := nonNegative(int64(hpa.Status.CurrentReplicas), statusPath.Child("currentReplicas"))
	return append(errs, nonNegative(int64(hpa.Status.DesiredReplicas), statusPath.Child("desiredReplicas"))...)
}
