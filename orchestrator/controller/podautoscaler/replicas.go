package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// podMetric is a pod's usage of one resource, in thousandths of its unit
// (millicores, millibytes), as upstream's metrics client gives it.
type podMetric struct {
	value     int64
	timestamp time.Time
	window    time.Duration
}

// tolerances is how far below and above 1 a usage ratio may be without a change.
type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool { return 1-t.down <= ratio && ratio <= 1+t.up }

// tolerancesFor is the controller's tolerance unless hpa's behavior sets one
// for a direction.
func (c *Controller) tolerancesFor(hpa *autoscalingv2.HorizontalPodAutoscaler) tolerances {
	t := tolerances{down: c.tolerance, up: c.tolerance}
	if b := hpa.Spec.Behavior; b != nil {
		if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
			t.down = b.ScaleDown.Tolerance.AsApproximateFloat64()
		}
		if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
			t.up = b.ScaleUp.Tolerance.AsApproximateFloat64()
		}
	}
	return t
}

// utilizationReplicas proposes replicas for a target utilization (percent of
// the pods' requests) of resource, with the utilization and the average usage
// seen. For example, 3 ready pods requesting 100m and using 90m each against a
// target of 50% give a ratio of 90/50 = 1.8, and ceil(1.8 * 3) = 6 replicas.
func (c *Controller) utilizationReplicas(ctx context.Context, current, target int32, name corev1.ResourceName, tol tolerances,
	namespace string, selector labels.Selector) (int32, int32, int64, error) {
	if target <= 0 {
		return 0, 0, 0, fmt.Errorf("target utilization %d%% is not positive", target)
	}
	metrics, pods, err := c.usage(ctx, namespace, selector, name)
	if err != nil {
		return 0, 0, 0, err
	}
	requests, err := podRequests(pods, name)
	if err != nil {
		return 0, 0, 0, err
	}
	ready, unready, missing := c.groupPods(pods, metrics, name)
	if len(metrics) == 0 {
		return 0, 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, utilization, average, err := utilizationRatio(metrics, requests, target)
	if err != nil {
		return 0, 0, 0, err
	}
	replicas := adjust(current, tol, ratio, ready, unready, missing, metrics,
		// A pod without figures is taken, on the way down, to use its request
		// or the target, whichever is more: it must not speed a scale down.
		func(pod string) int64 { return requests[pod] * int64(max(100, target)) / 100 },
		func(m map[string]podMetric) float64 { r, _, _, _ := utilizationRatio(m, requests, target); return r })
	return replicas, utilization, average, nil
}

// averageValueReplicas proposes replicas for a target average usage of
// resource per pod (in thousandths), with the average usage seen.
func (c *Controller) averageValueReplicas(ctx context.Context, current int32, target int64, name corev1.ResourceName, tol tolerances,
	namespace string, selector labels.Selector) (int32, int64, error) {
	if target <= 0 {
		return 0, 0, fmt.Errorf("target average value %s is not positive", milliQuantity(target))
	}
	metrics, pods, err := c.usage(ctx, namespace, selector, name)
	if err != nil {
		return 0, 0, err
	}
	ready, unready, missing := c.groupPods(pods, metrics, name)
	if len(metrics) == 0 {
		return 0, 0, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	ratio, average := averageRatio(metrics, target)
	replicas := adjust(current, tol, ratio, ready, unready, missing, metrics,
		func(string) int64 { return target },
		func(m map[string]podMetric) float64 { r, _ := averageRatio(m, target); return r })
	return replicas, average, nil
}

// adjust turns a usage ratio over the ready pods into replicas, as upstream
// does. With every pod measured and ready, it is ceil(ratio * ready), or the
// current count within tolerance. Otherwise the ratio is recomputed
// conservatively: on the way up, pods not ready yet count as using nothing;
// on the way down, pods without figures count as using fallback, on the way up
// as using nothing. If that flips the direction or lands within tolerance,
// nothing changes.
func adjust(current int32, tol tolerances, ratio float64, ready int, unready, missing sets.Set[string], metrics map[string]podMetric,
	fallback func(pod string) int64, recompute func(map[string]podMetric) float64) int32 {
	upWithUnready := len(unready) > 0 && ratio > 1
	if !upWithUnready && len(missing) == 0 {
		if tol.within(ratio) {
			return current
		}
		return int32(math.Ceil(ratio * float64(ready)))
	}
	for pod := range missing {
		if ratio < 1 {
			metrics[pod] = podMetric{value: fallback(pod)}
		} else {
			metrics[pod] = podMetric{}
		}
	}
	if upWithUnready {
		for pod := range unready {
			metrics[pod] = podMetric{}
		}
	}
	newRatio := recompute(metrics)
	if tol.within(newRatio) || ratio < 1 && newRatio > 1 || ratio > 1 && newRatio < 1 {
		return current
	}
	replicas := int32(math.Ceil(newRatio * float64(len(metrics))))
	if newRatio < 1 && replicas > current || newRatio > 1 && replicas < current {
		return current
	}
	return replicas
}

// usage returns the usage of resource by the pods selector selects, by pod
// name, and those pods.
func (c *Controller) usage(ctx context.Context, namespace string, selector labels.Selector, name corev1.ResourceName) (map[string]podMetric, []*corev1.Pod, error) {
	list, err := c.metrics.PodMetrics(ctx, namespace, selector)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to fetch metrics from resource metrics API: %w", err)
	}
	if len(list) == 0 {
		return nil, nil, errors.New("no metrics returned from resource metrics API")
	}
	metrics := map[string]podMetric{}
	for _, m := range list {
		var sum int64
		complete := len(m.Containers) > 0
		for _, ct := range m.Containers {
			q, ok := ct.Usage[name]
			if !ok {
				complete = false // a container without the figure makes the sum a lie
				break
			}
			sum += q.MilliValue()
		}
		if complete {
			metrics[m.Name] = podMetric{value: sum, timestamp: m.Timestamp.Time, window: m.Window.Duration}
		}
	}
	pods, err := c.pods.Pods(namespace).List(selector)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the target's pods: %w", err)
	}
	if len(pods) == 0 {
		return nil, nil, errors.New("no pods returned by selector while calculating replica count")
	}
	return metrics, pods, nil
}

// groupPods sorts the pods by what their figures are worth and takes out of
// metrics the figures not to trust: pods being deleted or finished are ignored,
// pending pods are unready, pods without figures are missing, and for cpu, a
// pod is unready while it is not ready within its initialization period or
// its figures were measured partly before it became ready, or (later) when
// it has never been ready since it started. The rest are ready.
func (c *Controller) groupPods(pods []*corev1.Pod, metrics map[string]podMetric, name corev1.ResourceName) (int, sets.Set[string], sets.Set[string]) {
	now := c.clock.Now()
	ready, unready, missing := 0, sets.New[string](), sets.New[string]()
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
			delete(metrics, pod.Name)
			continue
		}
		if pod.Status.Phase == corev1.PodPending {
			unready.Insert(pod.Name)
			delete(metrics, pod.Name)
			continue
		}
		metric, found := metrics[pod.Name]
		if !found {
			missing.Insert(pod.Name)
			continue
		}
		if name == corev1.ResourceCPU && c.cpuUnready(pod, metric, now) {
			unready.Insert(pod.Name)
			delete(metrics, pod.Name)
			continue
		}
		ready++
	}
	return ready, unready, missing
}

func (c *Controller) cpuUnready(pod *corev1.Pod, metric podMetric, now time.Time) bool {
	var cond *corev1.PodCondition
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			cond = &pod.Status.Conditions[i]
		}
	}
	if cond == nil || pod.Status.StartTime == nil {
		return true
	}
	started := pod.Status.StartTime.Time
	if started.Add(c.cpuInitializationPeriod).After(now) {
		return cond.Status == corev1.ConditionFalse || metric.timestamp.Before(cond.LastTransitionTime.Add(metric.window))
	}
	return cond.Status == corev1.ConditionFalse && started.Add(c.initialReadinessDelay).After(cond.LastTransitionTime.Time)
}

// podRequests sums each pod's container requests of resource, in thousandths.
// Utilization is undefined for a pod with a container that requests none.
func podRequests(pods []*corev1.Pod, name corev1.ResourceName) (map[string]int64, error) {
	requests := make(map[string]int64, len(pods))
	for _, pod := range pods {
		var sum int64
		for _, ct := range pod.Spec.Containers {
			q, ok := ct.Resources.Requests[name]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", name, ct.Name, pod.Name)
			}
			sum += q.MilliValue()
		}
		requests[pod.Name] = sum
	}
	return requests, nil
}

// utilizationRatio is the pods' usage as a percentage of their requests, over
// the target percentage; with that percentage and the average usage per pod.
func utilizationRatio(metrics map[string]podMetric, requests map[string]int64, target int32) (float64, int32, int64, error) {
	var used, requested, n int64
	for pod, m := range metrics {
		r, ok := requests[pod]
		if !ok {
			continue
		}
		used += m.value
		requested += r
		n++
	}
	if requested == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	utilization := int32(used * 100 / requested)
	return float64(utilization) / float64(target), utilization, used / n, nil
}

// averageRatio is the pods' average usage over target, with that average.
func averageRatio(metrics map[string]podMetric, target int64) (float64, int64) {
	var used int64
	for _, m := range metrics {
		used += m.value
	}
	average := used / int64(len(metrics))
	return float64(average) / float64(target), average
}

func milliQuantity(v int64) *resource.Quantity {
	return resource.NewMilliQuantity(v, resource.DecimalSI)
}
