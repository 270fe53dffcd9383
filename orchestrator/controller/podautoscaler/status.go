package podautoscaler

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setStatus rewrites hpa's status from what this reconcile saw, keeping its
// conditions and, unless it rescaled now, its last scale time.
func (c *Controller) setStatus(hpa *autoscalingv2.HorizontalPodAutoscaler, current, desired int32, metrics []autoscalingv2.MetricStatus, rescaled bool) {
	// A metric that failed leaves a hole in the list: upstream reports the
	// statuses it has, in spec order.
	var reported []autoscalingv2.MetricStatus
	for _, m := range metrics {
		if m.Type != "" {
			reported = append(reported, m)
		}
	}
	generation := hpa.Generation
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: &generation,
		CurrentReplicas:    current,
		DesiredReplicas:    desired,
		CurrentMetrics:     reported,
		LastScaleTime:      hpa.Status.LastScaleTime,
		Conditions:         hpa.Status.Conditions,
	}
	if rescaled {
		now := metav1.NewTime(c.clock.Now())
		hpa.Status.LastScaleTime = &now
	}
}

// setLimited sets the ScalingLimited condition.
func (c *Controller) setLimited(hpa *autoscalingv2.HorizontalPodAutoscaler, limited bool, reason, message string) {
	status := corev1.ConditionFalse
	if limited {
		status = corev1.ConditionTrue
	}
	c.setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, "%s", message)
}

// setCondition sets a condition of hpa; its transition time moves only when
// its status does.
func (c *Controller) setCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType,
	status corev1.ConditionStatus, reason, format string, args ...any) {
	conds := hpa.Status.Conditions
	i := 0
	for i < len(conds) && conds[i].Type != t {
		i++
	}
	if i == len(conds) {
		conds = append(conds, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t})
	}
	if conds[i].Status != status {
		conds[i].LastTransitionTime = metav1.NewTime(c.clock.Now())
	}
	conds[i].Status, conds[i].Reason, conds[i].Message = status, reason, fmt.Sprintf(format, args...)
	hpa.Status.Conditions = conds
}

// updateStatusIfNeeded writes hpa's status unless it is what it was.
func (c *Controller) updateStatusIfNeeded(ctx context.Context, before *autoscalingv2.HorizontalPodAutoscalerStatus, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	if apiequality.Semantic.DeepEqual(before, &hpa.Status) {
		return nil
	}
	if _, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, hpa, metav1.UpdateOptions{}); err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedUpdateStatus", err.Error())
		return fmt.Errorf("updating the status of autoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	return nil
}
