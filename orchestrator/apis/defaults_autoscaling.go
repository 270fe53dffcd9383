package apis

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// defaultHorizontalPodAutoscaler scales on 80% CPU utilization when no metric is
// given, and fills the scaling rules of a behavior that is given in part.
func defaultHorizontalPodAutoscaler(hpa *autoscalingv2.HorizontalPodAutoscaler) {
	spec := &hpa.Spec
	defaultPointer(&spec.MinReplicas, 1)
	if len(spec.Metrics) == 0 {
		spec.Metrics = []autoscalingv2.MetricSpec{{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{
					Type:               autoscalingv2.UtilizationMetricType,
					AverageUtilization: new(int32(80)),
				},
			},
		}}
	}
	if b := spec.Behavior; b != nil {
		// Scale up by at most 4 pods or 100% in 15s, whichever is more, at once.
		defaultScalingRules(&b.ScaleUp, new(int32(0)),
			autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15})
		// Scale down by at most 100% in 15s; the stabilization window stays unset for
		// the controller's own default.
		defaultScalingRules(&b.ScaleDown, nil,
			autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15})
	}
}

func defaultScalingRules(rules **autoscalingv2.HPAScalingRules, window *int32, policies ...autoscalingv2.HPAScalingPolicy) {
	defaultPointer(rules, autoscalingv2.HPAScalingRules{})
	r := *rules
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = window
	}
	defaultPointer(&r.SelectPolicy, autoscalingv2.MaxChangePolicySelect)
	if r.Policies == nil {
		r.Policies = policies
	}
}
