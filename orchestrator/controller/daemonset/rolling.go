package daemonset

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// rollingUpdate replaces the pods of older templates, node by node.
//
// Without surge it deletes old pods (manage then creates new ones), keeping at
// most maxUnavailable nodes without an available daemon: with 10 nodes and
// maxUnavailable 2, two old pods go; while their replacements start, those two
// nodes count as unavailable and nothing more is deleted. An old pod that is
// unavailable anyway is replaced at once: deleting it costs nothing.
//
// With maxSurge it creates the new pod beside the old one, on at most maxSurge
// nodes at a time, and deletes the old pod when the new one is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	maxSurge, maxUnavailable, err := rolloutLimits(ds, desired(ds, nodes))
	if err != nil {
		return err
	}
	now := c.now()
	available := func(p *corev1.Pod) bool { return podcontrol.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }
	spec := daemonPodSpec(ds)
	fits := map[string]bool{}
	for _, n := range nodes {
		fits[n.Name], _ = placement(spec, n)
	}

	if maxSurge == 0 {
		unavailable := 0
		var remove, candidates []*corev1.Pod
		for node, pods := range byNode {
			if node == "" {
				continue
			}
			newPod, oldPod, ok := podsOnNode(pods, hash)
			switch {
			case !ok:
				// manage removes the extra pods first.
				unavailable++
			case newPod != nil && oldPod != nil, newPod == nil && oldPod == nil:
				// Mid-replacement (a pod terminating, or two live): manage
				// finishes it, and until then the node is not serving for sure.
				unavailable++
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				remove = append(remove, oldPod)
				unavailable++
			default:
				candidates = append(candidates, oldPod)
			}
		}
		n := min(max(maxUnavailable-unavailable, 0), len(candidates))
		return c.syncNodes(ctx, ds, append(remove, candidates[:n]...), nil, hash)
	}

	surged := 0
	var create, candidates []string
	var remove []*corev1.Pod
	for node, pods := range byNode {
		if node == "" {
			continue
		}
		newPod, oldPod, ok := podsOnNode(pods, hash)
		switch {
		case !ok:
			// manage removes the extra pods first; count the node as surging.
			surged++
		case oldPod == nil:
			// Up to date, or manage creates the pod.
		case newPod == nil && !available(oldPod):
			// Nothing to keep serving: replace at once where the node still fits.
			if fits[node] {
				create = append(create, node)
			}
		case newPod == nil:
			candidates = append(candidates, node)
		case !available(newPod):
			surged++
		default:
			remove = append(remove, oldPod)
		}
	}
	n := min(max(maxSurge-surged, 0), len(candidates))
	return c.syncNodes(ctx, ds, remove, append(create, candidates[:n]...), hash)
}

// podsOnNode returns a node's live pod of the current template and of an
// older one; ok is false when it has more than one of either.
func podsOnNode(pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, p := range pods {
		if terminating(p) {
			continue
		}
		slot := &oldPod
		if updated(p, hash) {
			slot = &newPod
		}
		if *slot != nil {
			return nil, nil, false
		}
		*slot = p
	}
	return newPod, oldPod, true
}

// rolloutLimits resolves maxSurge (rounded up) and maxUnavailable (rounded
// up) against the number of nodes that should run ds. Both zero would stall
// the rollout, so maxUnavailable is then 1, as upstream.
func rolloutLimits(ds *appsv1.DaemonSet, desired int) (maxSurge, maxUnavailable int, err error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	one := intstr.FromInt32(1)
	unavailable, surge := &one, (*intstr.IntOrString)(nil)
	if ru != nil {
		if ru.MaxUnavailable != nil {
			unavailable = ru.MaxUnavailable
		}
		surge = ru.MaxSurge
	}
	if surge != nil {
		if maxSurge, err = intstr.GetScaledValueFromIntOrPercent(surge, desired, true); err != nil {
			return 0, 0, fmt.Errorf("invalid maxSurge: %w", err)
		}
	}
	if maxUnavailable, err = intstr.GetScaledValueFromIntOrPercent(unavailable, desired, true); err != nil {
		return 0, 0, fmt.Errorf("invalid maxUnavailable: %w", err)
	}
	if maxSurge == 0 && maxUnavailable == 0 {
		maxUnavailable = 1
	}
	return maxSurge, maxUnavailable, nil
}

// surge is ds's maxSurge as a number, 0 when it is not rolling with surge.
func surge(ds *appsv1.DaemonSet) int {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0
	}
	// Any positive value allows two pods per node; the exact count only
	// matters to the rollout.
	n, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, 100, true)
	if err != nil {
		return 0
	}
	return n
}
