package podautoscaler

import (
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// history is what one autoscaler recommended and scaled lately.
type history struct {
	recommendations []recommendation
	scaleUps        []scaleEvent
	scaleDowns      []scaleEvent
}

type recommendation struct {
	replicas int32
	at       time.Time
}

type scaleEvent struct {
	change int32 // replicas added or removed, positive
	at     time.Time
}

// historyOf returns key's history, creating it; c.mu must be held.
func (c *Controller) historyOf(key string) *history {
	h, ok := c.history[key]
	if !ok {
		h = &history{}
		c.history[key] = h
	}
	return h
}

func (c *Controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.history, key)
}

// recordInitialRecommendation makes the current replicas the first
// recommendation of an autoscaler seen for the first time, so that a
// restarted controller does not scale down at once.
func (c *Controller) recordInitialRecommendation(key string, current int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.historyOf(key); len(h.recommendations) == 0 {
		h.recommendations = []recommendation{{replicas: current, at: c.clock.Now()}}
	}
}

// normalize bounds a proposal for an autoscaler without behavior, as upstream
// does: the highest recommendation of the downscale stabilization window, then
// min/max replicas and a scale up to at most max(2*current, 4) at once.
func (c *Controller) normalize(key string, hpa *autoscalingv2.HorizontalPodAutoscaler, current, proposal, minReplicas int32) int32 {
	now := c.clock.Now()
	stabilized := proposal
	c.mu.Lock()
	h := c.historyOf(key)
	cutoff := now.Add(-c.downscaleWindow)
	kept := h.recommendations[:0]
	for _, r := range h.recommendations {
		if r.at.Before(cutoff) {
			continue
		}
		stabilized = max(stabilized, r.replicas)
		kept = append(kept, r)
	}
	h.recommendations = append(kept, recommendation{replicas: proposal, at: now})
	c.mu.Unlock()

	if stabilized != proposal {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
	} else {
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}

	desired, reason, message := stabilized, "DesiredWithinRange", "the desired count is within the acceptable range"
	upLimit := max(2*current, 4)
	maxAllowed, maxReason, maxMessage := hpa.Spec.MaxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	if maxAllowed > upLimit {
		maxAllowed, maxReason, maxMessage = upLimit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
	}
	switch {
	case stabilized < minReplicas:
		desired, reason, message = minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	case stabilized > maxAllowed:
		desired, reason, message = maxAllowed, maxReason, maxMessage
	}
	c.setLimited(hpa, desired != stabilized, reason, message)
	return desired
}

// normalizeWithBehavior bounds a proposal by hpa's behavior: the lowest
// recommendation of the scale-up window and the highest of the scale-down
// window, then the scaling policies' rates and min/max replicas.
func (c *Controller) normalizeWithBehavior(key string, hpa *autoscalingv2.HorizontalPodAutoscaler, current, proposal, minReplicas int32) int32 {
	up, down := c.rules(hpa.Spec.Behavior)
	now := c.clock.Now()
	upCutoff := now.Add(-seconds(*up.StabilizationWindowSeconds))
	downCutoff := now.Add(-seconds(*down.StabilizationWindowSeconds))

	c.mu.Lock()
	h := c.historyOf(key)
	upRec, downRec := proposal, proposal
	kept := h.recommendations[:0]
	for _, r := range h.recommendations {
		if r.at.After(upCutoff) {
			upRec = min(upRec, r.replicas)
		}
		if r.at.After(downCutoff) {
			downRec = max(downRec, r.replicas)
		}
		if r.at.After(upCutoff) || r.at.After(downCutoff) {
			kept = append(kept, r)
		}
	}
	h.recommendations = append(kept, recommendation{replicas: proposal, at: now})
	// Scale-up and scale-down limits: where the replicas were when each
	// policy's period began, moved by what the policy allows.
	upLimit, downLimit := scaleLimits(current, h, up, down, now)
	c.mu.Unlock()

	stabilized := min(max(current, upRec), downRec)
	switch {
	case stabilized == proposal:
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	case proposal >= current:
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation")
	default:
		c.setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
	}

	desired, reason, message := stabilized, "DesiredWithinRange", "the desired count is within the acceptable range"
	switch {
	case stabilized > current:
		maxAllowed, maxReason, maxMessage := hpa.Spec.MaxReplicas, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if limit := max(upLimit, current); maxAllowed > limit {
			maxAllowed, maxReason, maxMessage = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if stabilized > maxAllowed {
			desired, reason, message = maxAllowed, maxReason, maxMessage
		}
	case stabilized < current:
		minAllowed, minReason, minMessage := minReplicas, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if limit := min(downLimit, current); minAllowed < limit {
			minAllowed, minReason, minMessage = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if stabilized < minAllowed {
			desired, reason, message = minAllowed, minReason, minMessage
		}
	}
	c.setLimited(hpa, desired != stabilized, reason, message)
	return desired
}

// scaleLimits are the most replicas the scale-up policies allow now and the
// fewest the scale-down policies allow. Each policy counts from the replicas
// at the start of its period: with 10 replicas now, 4 added and 1 removed in
// the last 60s, a "Percent 100 per 60s" scale-up policy starts from 7 and
// allows 14. selectPolicy Max takes the policy allowing the biggest change,
// Min the smallest, Disabled none.
func scaleLimits(current int32, h *history, up, down *autoscalingv2.HPAScalingRules, now time.Time) (int32, int32) {
	periodStart := func(p autoscalingv2.HPAScalingPolicy) int32 {
		cutoff := now.Add(-seconds(p.PeriodSeconds))
		return current - changeSince(h.scaleUps, cutoff) + changeSince(h.scaleDowns, cutoff)
	}
	upLimit := current
	if sel := *up.SelectPolicy; sel != autoscalingv2.DisabledPolicySelect {
		upLimit = math.MinInt32
		if sel == autoscalingv2.MinChangePolicySelect {
			upLimit = math.MaxInt32
		}
		for _, p := range up.Policies {
			start := periodStart(p)
			proposed := start + p.Value
			if p.Type == autoscalingv2.PercentScalingPolicy {
				// Rounded up, or a small target could never grow.
				proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
			}
			if sel == autoscalingv2.MinChangePolicySelect {
				upLimit = min(upLimit, proposed)
			} else {
				upLimit = max(upLimit, proposed)
			}
		}
	}
	downLimit := current
	if sel := *down.SelectPolicy; sel != autoscalingv2.DisabledPolicySelect {
		downLimit = math.MaxInt32
		if sel == autoscalingv2.MinChangePolicySelect {
			downLimit = math.MinInt32
		}
		for _, p := range down.Policies {
			start := periodStart(p)
			proposed := start - p.Value
			if p.Type == autoscalingv2.PercentScalingPolicy {
				proposed = int32(float64(start) * (1 - float64(p.Value)/100))
			}
			if sel == autoscalingv2.MinChangePolicySelect {
				downLimit = max(downLimit, proposed)
			} else {
				downLimit = min(downLimit, proposed)
			}
		}
	}
	return upLimit, downLimit
}

func changeSince(events []scaleEvent, cutoff time.Time) int32 {
	var sum int32
	for _, e := range events {
		if e.at.After(cutoff) {
			sum += e.change
		}
	}
	return sum
}

// recordScaleEvent remembers a rescale for the scaling policies of hpa's
// behavior, dropping events older than any policy's period.
func (c *Controller) recordScaleEvent(key string, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior, from, to int32) {
	if behavior == nil {
		return // without behavior, the rate limit does not look back
	}
	up, down := c.rules(behavior)
	var longest int32
	for _, p := range append(append([]autoscalingv2.HPAScalingPolicy{}, up.Policies...), down.Policies...) {
		longest = max(longest, p.PeriodSeconds)
	}
	now := c.clock.Now()
	cutoff := now.Add(-seconds(longest))
	prune := func(events []scaleEvent) []scaleEvent {
		kept := events[:0]
		for _, e := range events {
			if e.at.After(cutoff) {
				kept = append(kept, e)
			}
		}
		return kept
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.historyOf(key)
	h.scaleUps, h.scaleDowns = prune(h.scaleUps), prune(h.scaleDowns)
	if to > from {
		h.scaleUps = append(h.scaleUps, scaleEvent{change: to - from, at: now})
	} else {
		h.scaleDowns = append(h.scaleDowns, scaleEvent{change: from - to, at: now})
	}
}

// rules returns behavior's scaling rules with upstream's defaults where
// unset (the API server fills them; a client writing around it may not), and
// the controller's scale-down stabilization window where none is set.
func (c *Controller) rules(behavior *autoscalingv2.HorizontalPodAutoscalerBehavior) (*autoscalingv2.HPAScalingRules, *autoscalingv2.HPAScalingRules) {
	up, down := &autoscalingv2.HPAScalingRules{}, &autoscalingv2.HPAScalingRules{}
	if behavior.ScaleUp != nil {
		up = behavior.ScaleUp.DeepCopy()
	}
	if behavior.ScaleDown != nil {
		down = behavior.ScaleDown.DeepCopy()
	}
	selectMax := autoscalingv2.MaxChangePolicySelect
	if up.StabilizationWindowSeconds == nil {
		up.StabilizationWindowSeconds = new(int32(0))
	}
	if up.SelectPolicy == nil {
		up.SelectPolicy = &selectMax
	}
	if up.Policies == nil {
		up.Policies = []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		}
	}
	if down.StabilizationWindowSeconds == nil {
		down.StabilizationWindowSeconds = new(int32(c.downscaleWindow / time.Second))
	}
	if down.SelectPolicy == nil {
		down.SelectPolicy = &selectMax
	}
	if down.Policies == nil {
		down.Policies = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
	}
	return up, down
}

func seconds(s int32) time.Duration { return time.Duration(s) * time.Second }
