package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// reconcile computes the replicas hpa wants, scales its target to them, and
// leaves in hpa.Status what it saw; sync writes the status. An error means the
// target could not be read, measured or scaled.
func (c *Controller) reconcile(ctx context.Context, key string, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	ref := hpa.Spec.ScaleTargetRef
	reference := fmt.Sprintf("%s/%s/%s", ref.Kind, hpa.Namespace, ref.Name)
	scale, targetGR, err := c.getScale(ctx, hpa)
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", err.Error())
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", "the HPA controller was unable to get the target's current scale: %v", err)
		return fmt.Errorf("getting the scale of %s: %w", reference, err)
	}
	c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")

	current := scale.Spec.Replicas
	c.recordInitialRecommendation(key, current)
	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}

	var (
		desired  int32
		reason   string
		statuses []autoscalingv2.MetricStatus
	)
	switch {
	case current == 0 && minReplicas != 0:
		// A target scaled to zero by hand is left alone until scaled up by hand.
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
	case current > hpa.Spec.MaxReplicas:
		desired, reason = hpa.Spec.MaxReplicas, "Current number of replicas above Spec.MaxReplicas"
	case current < minReplicas:
		desired, reason = minReplicas, "Current number of replicas below Spec.MinReplicas"
	default:
		proposal, metric, s, err := c.replicasForMetrics(ctx, hpa, scale)
		statuses = s
		if err != nil {
			c.setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false)
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", err.Error())
			return fmt.Errorf("computing the replicas of %s from its metrics: %w", reference, err)
		}
		if hpa.Spec.Behavior == nil {
			desired = c.normalize(key, hpa, current, proposal, minReplicas)
		} else {
			desired = c.normalizeWithBehavior(key, hpa, current, proposal, minReplicas)
		}
		switch {
		case desired > current:
			reason = metric + " above target"
		case desired < current:
			reason = "All metrics below target"
		}
	}

	rescale := desired != current
	if rescale {
		scale.Spec.Replicas = desired
		if _, err := c.scales.Scales(hpa.Namespace).Update(ctx, targetGR, scale, metav1.UpdateOptions{}); err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, reason, err)
			c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", "the HPA controller was unable to update the target scale: %v", err)
			c.setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false)
			return fmt.Errorf("scaling %s to %d: %w", reference, desired, err)
		}
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", "the HPA controller was able to update the target scale to %d", desired)
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		c.recordScaleEvent(key, hpa.Spec.Behavior, current, desired)
		slog.Info("rescaled", "hpa", key, "target", reference, "from", current, "to", desired, "reason", reason)
	}
	c.setStatus(hpa, current, desired, statuses, rescale)
	return nil
}

// getScale reads the scale subresource of hpa's target, trying each resource
// its kind maps to.
func (c *Controller) getScale(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler) (*autoscalingv1.Scale, schema.GroupResource, error) {
	ref := hpa.Spec.ScaleTargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, schema.GroupResource{}, fmt.Errorf("invalid API version in scale target reference: %w", err)
	}
	mappings, err := c.mapper.RESTMappings(schema.GroupKind{Group: gv.Group, Kind: ref.Kind})
	if err != nil {
		// A kind defined since the mapper last looked (a new CRD) is found
		// on the next sync.
		meta.MaybeResetRESTMapper(c.mapper)
		return nil, schema.GroupResource{}, fmt.Errorf("unable to determine resource for scale target reference: %w", err)
	}
	var first error
	for _, m := range mappings {
		gr := m.Resource.GroupResource()
		scale, err := c.scales.Scales(hpa.Namespace).Get(ctx, gr, ref.Name, metav1.GetOptions{})
		if err == nil {
			return scale, gr, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = errors.New("unrecognized resource")
	}
	return nil, schema.GroupResource{}, first
}

// replicasForMetrics proposes the replicas each metric asks for and returns the
// highest, the name of the metric that asked for it and the status of every
// metric. A metric that cannot be computed is skipped unless all are, or unless
// the others would scale down: without it, scaling down could be wrong.
func (c *Controller) replicasForMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale) (int32, string, []autoscalingv2.MetricStatus, error) {
	selector, err := c.selector(hpa, scale)
	if err != nil {
		return 0, "", nil, err
	}
	specs := hpa.Spec.Metrics
	statuses := make([]autoscalingv2.MetricStatus, len(specs))
	var (
		replicas     int32
		metric       string
		invalid      int
		firstErr     error
		firstInvalid autoscalingv2.HorizontalPodAutoscalerCondition
	)
	for i, spec := range specs {
		proposal, name, status, cond, err := c.replicasForMetric(ctx, hpa, spec, scale.Spec.Replicas, selector)
		if err != nil {
			if invalid == 0 {
				firstErr, firstInvalid = err, cond
			}
			invalid++
			continue
		}
		statuses[i] = status
		if replicas == 0 || proposal > replicas {
			replicas, metric = proposal, name
		}
	}
	if len(specs) == 0 {
		firstErr = errors.New("no metrics to scale on")
		firstInvalid = c.unableToCompute(hpa, "InvalidMetricSourceType", firstErr)
	}
	if invalid >= len(specs) || invalid > 0 && replicas < scale.Spec.Replicas {
		c.setCondition(hpa, firstInvalid.Type, firstInvalid.Status, firstInvalid.Reason, "%s", firstInvalid.Message)
		return 0, "", statuses, fmt.Errorf("invalid metrics (%d invalid out of %d), first error is: %w", invalid, len(specs), firstErr)
	}
	c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from %s", metric)
	return replicas, metric, statuses, nil
}

// selector is the label selector of the target's pods, from its scale.
func (c *Controller) selector(hpa *autoscalingv2.HorizontalPodAutoscaler, scale *autoscalingv1.Scale) (labels.Selector, error) {
	if scale.Status.Selector == "" {
		err := errors.New("selector is required")
		c.recorder.Event(hpa, corev1.EventTypeWarning, "SelectorRequired", err.Error())
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale is missing a selector")
		return nil, err
	}
	selector, err := labels.Parse(scale.Status.Selector)
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "InvalidSelector", err.Error())
		c.setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale has an invalid selector: %s", err)
		return nil, fmt.Errorf("parsing the selector %q of the target's scale: %w", scale.Status.Selector, err)
	}
	return selector, nil
}

// replicasForMetric proposes the replicas one metric asks for, with the name
// events give it and its status; on error, the condition to report.
func (c *Controller) replicasForMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec, current int32,
	selector labels.Selector) (int32, string, autoscalingv2.MetricStatus, autoscalingv2.HorizontalPodAutoscalerCondition, error) {
	var none autoscalingv2.MetricStatus
	if spec.Type != autoscalingv2.ResourceMetricSourceType || spec.Resource == nil {
		err := fmt.Errorf("unsupported metric source type %q: berth scales on resource metrics (cpu, memory) only", spec.Type)
		return 0, "", none, c.unableToCompute(hpa, "InvalidMetricSourceType", err), err
	}
	name, target := spec.Resource.Name, spec.Resource.Target
	tol := c.tolerancesFor(hpa)
	var (
		replicas int32
		metric   string
		value    autoscalingv2.MetricValueStatus
		err      error
	)
	switch {
	case target.AverageValue != nil:
		var average int64
		replicas, average, err = c.averageValueReplicas(ctx, current, target.AverageValue.MilliValue(), name, tol, hpa.Namespace, selector)
		metric = fmt.Sprintf("%s resource", name)
		value.AverageValue = milliQuantity(average)
	case target.AverageUtilization != nil:
		var utilization int32
		var average int64
		replicas, utilization, average, err = c.utilizationReplicas(ctx, current, *target.AverageUtilization, name, tol, hpa.Namespace, selector)
		metric = fmt.Sprintf("%s resource utilization (percentage of request)", name)
		value.AverageUtilization, value.AverageValue = &utilization, milliQuantity(average)
	default:
		err = errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	if err != nil {
		err = fmt.Errorf("failed to get %s resource metric value: %w", name, err)
		return 0, "", none, c.unableToCompute(hpa, "FailedGetResourceMetric", err), err
	}
	status := autoscalingv2.MetricStatus{
		Type:     autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricStatus{Name: name, Current: value},
	}
	return replicas, metric, status, autoscalingv2.HorizontalPodAutoscalerCondition{}, nil
}

// unableToCompute records why a metric gave no replica count and returns the
// ScalingActive condition saying so.
func (c *Controller) unableToCompute(hpa *autoscalingv2.HorizontalPodAutoscaler, reason string, err error) autoscalingv2.HorizontalPodAutoscalerCondition {
	c.recorder.Event(hpa, corev1.EventTypeWarning, reason, err.Error())
	return autoscalingv2.HorizontalPodAutoscalerCondition{
		Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: reason,
		Message: fmt.Sprintf("the HPA was unable to compute the replica count: %v", err),
	}
}
