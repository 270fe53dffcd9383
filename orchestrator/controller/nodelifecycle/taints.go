package nodelifecycle

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// rule is a taint the controller owns and when a node carries it.
type rule struct {
	key    string
	effect corev1.TaintEffect
	when   func(*corev1.Node) bool
}

func conditionIs(t corev1.NodeConditionType, s corev1.ConditionStatus) func(*corev1.Node) bool {
	return func(n *corev1.Node) bool { return conditionStatus(n, t) == s }
}

// rules are upstream's: NoExecute taints for an unhealthy node (which evict
// pods), and NoSchedule taints by condition (which keep new pods away).
var rules = []rule{
	{corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute, conditionIs(corev1.NodeReady, corev1.ConditionUnknown)},
	{corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute, conditionIs(corev1.NodeReady, corev1.ConditionFalse)},
	{corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule, conditionIs(corev1.NodeReady, corev1.ConditionUnknown)},
	{corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule, conditionIs(corev1.NodeReady, corev1.ConditionFalse)},
	{corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule, conditionIs(corev1.NodeMemoryPressure, corev1.ConditionTrue)},
	{corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule, conditionIs(corev1.NodeDiskPressure, corev1.ConditionTrue)},
	{corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule, conditionIs(corev1.NodePIDPressure, corev1.ConditionTrue)},
	{corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule, conditionIs(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)},
	{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule, func(n *corev1.Node) bool { return n.Spec.Unschedulable }},
}

func (r rule) matches(t corev1.Taint) bool { return t.Key == r.key && t.Effect == r.effect }

// taints returns node's taints with those the controller owns put in line with
// its conditions, and whether that changed them. Taints of others stay as they
// are, and so does the timeAdded of taints that stay.
func taints(node *corev1.Node, now time.Time) ([]corev1.Taint, bool) {
	out := make([]corev1.Taint, 0, len(node.Spec.Taints))
	changed := false
	for _, t := range node.Spec.Taints {
		if owned(t) && !wanted(node, t) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, r := range rules {
		if !r.when(node) || containsRule(out, r) {
			continue
		}
		t := corev1.Taint{Key: r.key, Effect: r.effect}
		if r.effect == corev1.TaintEffectNoExecute {
			// The taint eviction controller and users read when a
			// NoExecute taint came.
			t.TimeAdded = &metav1.Time{Time: now}
		}
		out = append(out, t)
		changed = true
	}
	return out, changed
}

func owned(t corev1.Taint) bool {
	for _, r := range rules {
		if r.matches(t) {
			return true
		}
	}
	return false
}

func wanted(node *corev1.Node, t corev1.Taint) bool {
	for _, r := range rules {
		if r.matches(t) && r.when(node) {
			return true
		}
	}
	return false
}

func containsRule(taints []corev1.Taint, r rule) bool {
	for _, t := range taints {
		if r.matches(t) {
			return true
		}
	}
	return false
}

// taint writes node's taints if they are not in line with its conditions,
// reading the node again when someone else wrote it meanwhile.
func (c *Controller) taint(ctx context.Context, node *corev1.Node, now time.Time) error {
	fresh := false
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if fresh {
			live, err := c.client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading node %s: %w", node.Name, err)
			}
			node = live
		}
		fresh = true
		next, changed := taints(node, now)
		if !changed {
			return nil
		}
		node.Spec.Taints = next
		_, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		if err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("tainting node %s: %w", node.Name, err)
		}
		if err == nil {
			c.log.Info("set node taints by condition", "node", node.Name, "taints", taintStrings(next))
		}
		return err
	})
}

func taintStrings(taints []corev1.Taint) []string {
	out := make([]string, 0, len(taints))
	for i := range taints {
		out = append(out, taints[i].ToString())
	}
	return out
}
