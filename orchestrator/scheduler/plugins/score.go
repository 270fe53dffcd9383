package plugins

import (
	"context"
	"math"

	corev1 "k8s.io/api/core/v1"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// MaxNodeScore is the best score a plugin gives a node.
const MaxNodeScore int64 = 100

// The weights of upstream's default profile.
const (
	weightFit          = 1
	weightBalanced     = 1
	weightNodeAffinity = 2
	weightInterPod     = 2
	weightSpread       = 2
	weightTaint        = 3
)

// Score adds up, for each of nodes (which passed Filter), the weighted
// normalized scores into total. Scores that would be equal on every node
// are skipped: they cannot change which node wins.
func (s *State) Score(ctx context.Context, workers int, nodes []*framework.NodeInfo, total []int64) {
	pod := s.Pod
	framework.Parallel(ctx, workers, len(nodes), func(j int) {
		n := nodes[j]
		total[j] = weightFit*LeastAllocated(pod, n) + weightBalanced*BalancedAllocation(pod, n)
	})
	var buf []int64
	scratch := func() []int64 {
		if buf == nil {
			buf = make([]int64, len(nodes))
		}
		return buf
	}
	addWeighted := func(w int64, scores []int64) {
		for j := range total {
			total[j] += w * scores[j]
		}
	}
	if len(s.preferredAffinity) > 0 {
		out := scratch()
		for j, n := range nodes {
			out[j] = s.preferredNodeAffinity(n.Node)
		}
		normalize(out, false)
		addWeighted(weightNodeAffinity, out)
	}
	if out := scratch(); s.taintScores(nodes, out) {
		addWeighted(weightTaint, out)
	}
	if out := scratch(); s.interPodScores(nodes, out) {
		addWeighted(weightInterPod, out)
	}
	if out := scratch(); s.spreadScores(ctx, workers, nodes, out) {
		addWeighted(weightSpread, out)
	}
}

// LeastAllocated favours nodes with more cpu and memory left after placing
// the pod, counting containers without requests at upstream's defaults.
func LeastAllocated(p *framework.PodInfo, n *framework.NodeInfo) int64 {
	least := func(requested, capacity int64) int64 {
		if capacity == 0 || requested > capacity {
			return 0
		}
		return (capacity - requested) * MaxNodeScore / capacity
	}
	cpu := least(n.NonZeroRequested.MilliCPU+p.NonZero.MilliCPU, n.Allocatable.MilliCPU)
	mem := least(n.NonZeroRequested.Memory+p.NonZero.Memory, n.Allocatable.Memory)
	return (cpu + mem) / 2
}

// BalancedAllocation favours nodes whose cpu and memory would be used in
// equal fractions: 100 × (1 − the fractions' standard deviation).
func BalancedAllocation(p *framework.PodInfo, n *framework.NodeInfo) int64 {
	fraction := func(requested, capacity int64) (float64, bool) {
		if capacity == 0 {
			return 0, false
		}
		return min(1, float64(requested)/float64(capacity)), true
	}
	cpu, okCPU := fraction(n.Requested.MilliCPU+p.Requests.MilliCPU, n.Allocatable.MilliCPU)
	mem, okMem := fraction(n.Requested.Memory+p.Requests.Memory, n.Allocatable.Memory)
	std := 0.0
	if okCPU && okMem {
		std = math.Abs(cpu-mem) / 2
	}
	return int64((1 - std) * float64(MaxNodeScore))
}

func (s *State) preferredNodeAffinity(node *corev1.Node) int64 {
	var sum int64
	for i := range s.preferredAffinity {
		if s.preferredAffinity[i].term.matches(node) {
			sum += s.preferredAffinity[i].weight
		}
	}
	return sum
}

// taintScores favours nodes with fewer PreferNoSchedule taints the pod does
// not tolerate; false when no node has any.
func (s *State) taintScores(nodes []*framework.NodeInfo, out []int64) bool {
	found := false
	for j, n := range nodes {
		out[j] = 0
		for i := range n.Taints {
			t := &n.Taints[i]
			if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerates(s.preferNoSchedule, t) {
				out[j]++
				found = true
			}
		}
	}
	if found {
		normalize(out, true)
	}
	return found
}

// normalize scales scores to 0..MaxNodeScore by the highest; reverse makes
// the highest the worst.
func normalize(scores []int64, reverse bool) {
	var hi int64
	for _, s := range scores {
		hi = max(hi, s)
	}
	for i, s := range scores {
		if hi == 0 {
			if reverse {
				scores[i] = MaxNodeScore
			}
			continue
		}
		s = MaxNodeScore * s / hi
		if reverse {
			s = MaxNodeScore - s
		}
		scores[i] = s
	}
}

// normalizeMinMax scales scores so the lowest is 0 and the highest
// MaxNodeScore; all 0 when they are equal.
func normalizeMinMax(scores []int64) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, s := range scores {
		lo, hi = min(lo, s), max(hi, s)
	}
	for i, s := range scores {
		if hi > lo {
			scores[i] = int64(float64(MaxNodeScore) * float64(s-lo) / float64(hi-lo))
		} else {
			scores[i] = 0
		}
	}
}
