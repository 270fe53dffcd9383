package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth.dev/berth/orchestrator/scheduler/framework"
	"berth.dev/berth/orchestrator/scheduler/plugins"
)

// Upstream's preemption reasons.
const (
	ReasonNoVictims         = "No preemption victims found for incoming pod"
	msgPreemptionNever      = "not eligible due to preemptionPolicy=Never."
	msgTerminatingNominated = "not eligible due to a terminating pod on the nominated node."
)

var (
	statusNoVictims  = framework.NewStatus(framework.DefaultPreemption, framework.UnschedulableAndUnresolvable, ReasonNoVictims)
	statusNotHelpful = framework.NewStatus(framework.DefaultPreemption, framework.UnschedulableAndUnresolvable, framework.PreemptionNotHelpful)
)

// candidate is a node where the pod fits once victims are gone.
type candidate struct {
	node    string
	victims []*framework.PodInfo // most important first
	// pdbViolations counts victims whose eviction a PodDisruptionBudget
	// does not allow.
	pdbViolations int
}

// preempt is upstream's DefaultPreemption: when lower-priority pods stand in
// the way of a pod that fits nowhere, it picks the node where removing them
// costs least, nominates it for the pod and deletes the victims in the
// background. It returns the message for FitError.PostFilterMsg, which
// names the node when one was found. A nil state (the pod failed PreFilter) leaves every node
// unhelpful.
func (s *Scheduler) preempt(ctx context.Context, info *framework.PodInfo, state *plugins.State, fitErr *framework.FitError) string {
	pod := info.Pod
	if msg := s.ineligible(info, fitErr); msg != "" {
		return "preemption: " + msg
	}
	nodes := s.snapshot.Nodes()
	statuses := make([]*framework.Status, len(nodes))
	candidates := make([]*candidate, len(nodes))
	pdbs := s.disruptionBudgets()
	// As upstream, stop once enough candidates that violate no budget are
	// found (10% of the nodes, at least 100), starting at a random node so
	// that preemption does not always hit the same ones.
	enough := int64(min(len(nodes), max(100, len(nodes)/10)))
	offset := rand.IntN(len(nodes))
	var found atomic.Int64
	dryRun, cancel := context.WithCancel(ctx)
	defer cancel()
	framework.Parallel(dryRun, s.cfg.Parallelism, len(nodes), func(k int) {
		i := (offset + k) % len(nodes)
		if state == nil || nodeStatus(fitErr, nodes[i].Name).CodeOf() == framework.UnschedulableAndUnresolvable {
			statuses[i] = statusNotHelpful
			return
		}
		c, st := selectVictims(state, nodes[i], pdbs)
		candidates[i], statuses[i] = c, st
		if c != nil && c.pdbViolations == 0 && found.Add(1) >= enough {
			cancel()
		}
	})
	best := pickCandidate(candidates)
	if best == nil {
		fe := &framework.FitError{NumAllNodes: len(nodes), Statuses: make(map[string]*framework.Status, len(nodes))}
		for i, st := range statuses {
			fe.Statuses[nodes[i].Name] = st
		}
		return "preemption: " + fe.Error()
	}
	s.nominated.add(info, best.node)
	s.async(ctx, func(ctx context.Context) {
		if err := s.api.nominate(ctx, pod, best.node); err != nil {
			slog.Warn("preempting", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		for _, v := range best.victims {
			if err := s.api.deletePod(ctx, v.Pod); err != nil {
				if !apierrors.IsNotFound(err) {
					slog.Warn("preempting", "pod", pod.Namespace+"/"+pod.Name, "err", err)
				}
				continue
			}
			s.recorder.Eventf(v.Pod, corev1.EventTypeNormal, "Preempted", "Preempted by pod %v on node %v", pod.UID, best.node)
		}
	})
	return fmt.Sprintf("preemption: found a potential placement for pod on node %s, preempting %d victims", best.node, len(best.victims))
}

// ineligible says why the pod may not preempt, as upstream words it.
func (s *Scheduler) ineligible(p *framework.PodInfo, fitErr *framework.FitError) string {
	pod := p.Pod
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return msgPreemptionNever
	}
	// Victims chosen last time are still leaving: wait for them rather
	// than choose more.
	name := pod.Status.NominatedNodeName
	if name == "" || nodeStatus(fitErr, name).CodeOf() == framework.UnschedulableAndUnresolvable {
		return ""
	}
	if n := s.snapshot.Get(name); n != nil {
		for _, q := range n.Pods {
			if q.Priority < p.Priority && q.Pod.DeletionTimestamp != nil {
				return msgTerminatingNominated
			}
		}
	}
	return ""
}

func nodeStatus(fitErr *framework.FitError, name string) *framework.Status {
	if st, ok := fitErr.Statuses[name]; ok {
		return st
	}
	return fitErr.Absent
}

// budget is a PodDisruptionBudget with its selector parsed and the
// disruptions it still allows.
type budget struct {
	namespace string
	selector  labels.Selector
	allowed   int32
	disrupted map[string]metav1.Time
}

func (s *Scheduler) disruptionBudgets() []budget {
	if s.pdbs == nil {
		return nil
	}
	list, err := s.pdbs.List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make([]budget, 0, len(list))
	for _, pdb := range list {
		if b, ok := newBudget(pdb); ok {
			out = append(out, b)
		}
	}
	return out
}

func newBudget(pdb *policyv1.PodDisruptionBudget) (budget, bool) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || sel.Empty() {
		return budget{}, false
	}
	return budget{namespace: pdb.Namespace, selector: sel, allowed: pdb.Status.DisruptionsAllowed, disrupted: pdb.Status.DisruptedPods}, true
}

// splitByBudget separates the pods whose eviction, in order, some budget
// does not allow.
func splitByBudget(pods []*framework.PodInfo, budgets []budget) (violating, ok []*framework.PodInfo) {
	allowed := make([]int32, len(budgets))
	for i := range budgets {
		allowed[i] = budgets[i].allowed
	}
	for _, p := range pods {
		violates := false
		for i := range budgets {
			b := &budgets[i]
			if b.namespace != p.Pod.Namespace || !b.selector.Matches(labels.Set(p.Pod.Labels)) {
				continue
			}
			if _, gone := b.disrupted[p.Pod.Name]; gone {
				continue
			}
			allowed[i]--
			violates = violates || allowed[i] < 0
		}
		if violates {
			violating = append(violating, p)
		} else {
			ok = append(ok, p)
		}
	}
	return violating, ok
}

// moreImportant orders pods by priority, then the longer running first.
func moreImportant(a, b *framework.PodInfo) int {
	if a.Priority != b.Priority {
		return int(b.Priority) - int(a.Priority)
	}
	return startTime(a).Compare(startTime(b))
}

func startTime(p *framework.PodInfo) time.Time {
	if p.Pod.Status.StartTime != nil {
		return p.Pod.Status.StartTime.Time
	}
	return p.Pod.CreationTimestamp.Time
}

// selectVictims finds the fewest lower-priority pods on n to remove for the
// pod to fit, as upstream: remove them all, then reprieve as many as still
// fit, the most important first and those a budget protects before others.
// Inter-pod affinity and topology spread are judged as before removal.
func selectVictims(state *plugins.State, n *framework.NodeInfo, budgets []budget) (*candidate, *framework.Status) {
	var lower []*framework.PodInfo
	for _, p := range n.Pods {
		if p.Priority < state.Pod.Priority {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil, statusNoVictims
	}
	clone := n.Clone()
	for _, p := range lower {
		clone.RemovePod(p.Pod.UID)
	}
	if st := state.Filter(clone); st != nil {
		return nil, st
	}
	slices.SortStableFunc(lower, moreImportant)
	violating, ok := splitByBudget(lower, budgets)
	c := &candidate{node: n.Name}
	reprieve := func(p *framework.PodInfo, violates bool) {
		clone.AddPod(p)
		if state.Filter(clone) == nil {
			return
		}
		clone.RemovePod(p.Pod.UID)
		c.victims = append(c.victims, p)
		if violates {
			c.pdbViolations++
		}
	}
	for _, p := range violating {
		reprieve(p, true)
	}
	for _, p := range ok {
		reprieve(p, false)
	}
	slices.SortStableFunc(c.victims, moreImportant)
	return c, nil
}

// pickCandidate chooses as upstream: fewest budget violations, then the
// lowest highest-priority victim, the smallest sum of priorities, the fewest
// victims, the latest start among the highest-priority victims, the first.
func pickCandidate(candidates []*candidate) *candidate {
	var best *candidate
	for _, c := range candidates {
		if c == nil || len(c.victims) == 0 {
			continue
		}
		if best == nil || better(c, best) {
			best = c
		}
	}
	return best
}

func better(a, b *candidate) bool {
	if a.pdbViolations != b.pdbViolations {
		return a.pdbViolations < b.pdbViolations
	}
	if ha, hb := a.victims[0].Priority, b.victims[0].Priority; ha != hb {
		return ha < hb
	}
	if sa, sb := prioritySum(a), prioritySum(b); sa != sb {
		return sa < sb
	}
	if len(a.victims) != len(b.victims) {
		return len(a.victims) < len(b.victims)
	}
	return earliestTopStart(a).After(earliestTopStart(b))
}

// prioritySum shifts each priority up by 2^31 so negative priorities still
// add up to more victims costing more.
func prioritySum(c *candidate) int64 {
	var sum int64
	for _, v := range c.victims {
		sum += int64(v.Priority) + math.MaxInt32 + 1
	}
	return sum
}

func earliestTopStart(c *candidate) time.Time {
	top := c.victims[0].Priority
	earliest := startTime(c.victims[0])
	for _, v := range c.victims[1:] {
		if v.Priority == top && startTime(v).Before(earliest) {
			earliest = startTime(v)
		}
	}
	return earliest
}
