package plugins

import (
	"context"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// constraint is a parsed topology spread constraint. System default
// constraints select the pods of the incoming pod's controller (owner)
// instead of by labels.
type constraint struct {
	key           string
	maxSkew       int64
	minDomains    int64
	selector      labels.Selector
	owner         types.UID
	honorAffinity bool
	honorTaints   bool
}

// matches says whether pod counts for c; pods are counted in the incoming
// pod's namespace only, and terminating pods not at all.
func (c *constraint) matches(pod *corev1.Pod, namespace string) bool {
	if pod.Namespace != namespace || pod.DeletionTimestamp != nil {
		return false
	}
	if c.owner != "" {
		ref := metav1.GetControllerOfNoCopy(pod)
		return ref != nil && ref.UID == c.owner
	}
	return c.selector.Matches(labels.Set(pod.Labels))
}

// eligible says whether nodes like n count towards c's domains.
func (s *State) eligible(c *constraint, n *framework.NodeInfo) bool {
	if c.honorAffinity && !s.matchesNodeAffinity(n.Node) {
		return false
	}
	return !c.honorTaints || s.filterTaints(n) == nil
}

// count is how many pods on n match c.
func (c *constraint) count(n *framework.NodeInfo, namespace string) int64 {
	if c.owner != "" {
		return int64(n.OwnerCount(c.owner))
	}
	var cnt int64
	for _, p := range n.Pods {
		if c.matches(p.Pod, namespace) {
			cnt++
		}
	}
	return cnt
}

// constraints parses the pod's constraints with the given action.
func constraints(pod *corev1.Pod, action corev1.UnsatisfiableConstraintAction) []constraint {
	var out []constraint
	for _, tsc := range pod.Spec.TopologySpreadConstraints {
		if tsc.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(tsc.LabelSelector)
		if err != nil {
			sel = labels.Nothing()
		}
		for _, k := range tsc.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.In, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		c := constraint{key: tsc.TopologyKey, maxSkew: int64(tsc.MaxSkew), selector: sel,
			honorAffinity: tsc.NodeAffinityPolicy == nil || *tsc.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			honorTaints:   tsc.NodeTaintsPolicy != nil && *tsc.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor}
		if tsc.MinDomains != nil {
			c.minDomains = int64(*tsc.MinDomains)
		}
		out = append(out, c)
	}
	return out
}

// defaultConstraints are upstream's system defaults, applied to pods without
// constraints of their own: spread the owner's replicas over hosts (maxSkew
// 3) and zones (maxSkew 5), as a preference.
func defaultConstraints(pod *corev1.Pod) []constraint {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return nil
	}
	return []constraint{
		{key: corev1.LabelHostname, maxSkew: 3, owner: ref.UID, honorAffinity: true},
		{key: corev1.LabelTopologyZone, maxSkew: 5, owner: ref.UID, honorAffinity: true},
	}
}

// spreadState holds, per DoNotSchedule constraint, the matching pods per
// domain and the smallest such count.
type spreadState struct {
	constraints []constraint
	counts      []map[string]int64
	min         []int64
}

func hasAllKeys(node *corev1.Node, cs []constraint) bool {
	for i := range cs {
		if _, ok := node.Labels[cs[i].key]; !ok {
			return false
		}
	}
	return true
}

func (s *State) preFilterSpread(_ context.Context) (*spreadState, *framework.Status) {
	cs := constraints(s.Pod.Pod, corev1.DoNotSchedule)
	if len(cs) == 0 {
		return nil, nil
	}
	st := &spreadState{constraints: cs, counts: make([]map[string]int64, len(cs)), min: make([]int64, len(cs))}
	for i := range cs {
		st.counts[i] = map[string]int64{}
	}
	ns := s.Pod.Pod.Namespace
	for _, n := range s.snapshot.Nodes() {
		if !hasAllKeys(n.Node, cs) {
			continue
		}
		for i := range cs {
			if s.eligible(&cs[i], n) {
				st.counts[i][n.Node.Labels[cs[i].key]] += cs[i].count(n, ns)
			}
		}
	}
	for i, counts := range st.counts {
		st.min[i] = math.MaxInt64
		for _, c := range counts {
			st.min[i] = min(st.min[i], c)
		}
	}
	return st, nil
}

// filter rejects n when placing the pod there would make a domain exceed
// maxSkew over the least populated domain (0 while fewer than minDomains
// domains exist).
func (st *spreadState) filter(p *framework.PodInfo, n *framework.NodeInfo) *framework.Status {
	for i := range st.constraints {
		c := &st.constraints[i]
		v, ok := n.Node.Labels[c.key]
		if !ok {
			return statusSpreadMissingLabel
		}
		var self int64
		if c.matches(p.Pod, p.Pod.Namespace) {
			self = 1
		}
		least := st.min[i]
		if least == math.MaxInt64 || int64(len(st.counts[i])) < c.minDomains {
			least = 0
		}
		if st.counts[i][v]+self-least > c.maxSkew {
			return statusSpread
		}
	}
	return nil
}

// spreadScores scores nodes by how few matching pods their domains hold, for
// ScheduleAnyway constraints or the system defaults; it reports false when
// there is nothing to spread.
func (s *State) spreadScores(ctx context.Context, workers int, nodes []*framework.NodeInfo, out []int64) bool {
	pod := s.Pod.Pod
	cs := constraints(pod, corev1.ScheduleAnyway)
	requireAll := true
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		cs, requireAll = defaultConstraints(pod), false
	}
	if len(cs) == 0 {
		return false
	}
	// values[j*len(cs)+i] is node j's domain for constraint i, "" when
	// it has none; read once, as label lookups dominate the cost.
	values := make([]string, len(nodes)*len(cs))
	has := make([]bool, len(nodes)*len(cs))
	ignored := make([]bool, len(nodes))
	domains := make([]map[string]int64, len(cs))
	for i := range cs {
		domains[i] = map[string]int64{}
	}
	eligibleNodes := 0
	for j, n := range nodes {
		if requireAll && !hasAllKeys(n.Node, cs) {
			ignored[j] = true
			continue
		}
		eligibleNodes++
		for i := range cs {
			v, ok := n.Node.Labels[cs[i].key]
			values[j*len(cs)+i], has[j*len(cs)+i] = v, ok
			if ok && cs[i].key != corev1.LabelHostname {
				domains[i][v] = 0
			}
		}
	}
	ns := pod.Namespace
	weights := make([]float64, len(cs))
	for i := range cs {
		if cs[i].key == corev1.LabelHostname {
			// Each node is its own domain, counted on the node itself.
			weights[i] = math.Log(float64(eligibleNodes + 2))
			continue
		}
		weights[i] = math.Log(float64(len(domains[i]) + 2))
		if len(domains[i]) == 0 {
			continue
		}
		// Every node counts for an owner's replicas unless the pod
		// restricts its nodes: then the snapshot's zone counts serve.
		if cs[i].owner != "" && cs[i].key == corev1.LabelTopologyZone && s.nodeSelector == nil && s.requiredAffinity == nil {
			for v := range domains[i] {
				domains[i][v] = int64(s.snapshot.OwnerZoneCount(cs[i].owner, v))
			}
			continue
		}
		for _, n := range s.snapshot.Nodes() {
			v, ok := n.Node.Labels[cs[i].key]
			if !ok || (requireAll && !hasAllKeys(n.Node, cs)) || !s.eligible(&cs[i], n) {
				continue
			}
			if _, ok := domains[i][v]; ok {
				domains[i][v] += cs[i].count(n, ns)
			}
		}
	}
	framework.Parallel(ctx, workers, len(nodes), func(j int) {
		if ignored[j] {
			return
		}
		var score float64
		for i := range cs {
			if !has[j*len(cs)+i] {
				continue
			}
			var cnt int64
			if cs[i].key == corev1.LabelHostname {
				cnt = cs[i].count(nodes[j], ns)
			} else {
				cnt = domains[i][values[j*len(cs)+i]]
			}
			score += float64(cnt)*weights[i] + float64(cs[i].maxSkew-1)
		}
		out[j] = int64(math.Round(score))
	})
	var lo, hi int64 = math.MaxInt64, 0
	for j := range nodes {
		if !ignored[j] {
			lo, hi = min(lo, out[j]), max(hi, out[j])
		}
	}
	for j := range nodes {
		switch {
		case ignored[j]:
			out[j] = 0
		case hi == 0:
			out[j] = MaxNodeScore
		default:
			out[j] = MaxNodeScore * (hi + lo - out[j]) / hi
		}
	}
	return true
}
