package plugins

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/klog/v2"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// Upstream's reasons, word for word, as FitError counts them.
const (
	ReasonUnschedulable        = "node(s) were unschedulable"
	ReasonNodeName             = "node(s) didn't match the requested node name"
	ReasonTaints               = "node(s) had untolerated taint(s)"
	ReasonNodeAffinity         = "node(s) didn't match Pod's node affinity/selector"
	ReasonNodePorts            = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods          = "Too many pods"
	ReasonVolumeAffinity       = "node(s) didn't match PersistentVolume's node affinity"
	ReasonSpread               = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel   = "node(s) didn't match pod topology spread constraints (missing required label)"
	ReasonAffinity             = "node(s) didn't match pod affinity rules"
	ReasonAntiAffinity         = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// Statuses without per-node detail are shared, so that a node failing a
// filter costs no allocation; nobody may modify them.
var (
	statusNodeNotFound       = framework.NewStatus(framework.NodeName, framework.UnschedulableAndUnresolvable, "node(s) not found")
	statusUnschedulable      = framework.NewStatus(framework.NodeUnschedulable, framework.UnschedulableAndUnresolvable, ReasonUnschedulable)
	statusNodeName           = framework.NewStatus(framework.NodeName, framework.UnschedulableAndUnresolvable, ReasonNodeName)
	statusTaints             = framework.NewStatus(framework.TaintToleration, framework.UnschedulableAndUnresolvable, ReasonTaints)
	statusNodeAffinity       = framework.NewStatus(framework.NodeAffinity, framework.UnschedulableAndUnresolvable, ReasonNodeAffinity)
	statusNodePorts          = framework.NewStatus(framework.NodePorts, framework.Unschedulable, ReasonNodePorts)
	statusVolumeAffinity     = framework.NewStatus(framework.VolumeBinding, framework.UnschedulableAndUnresolvable, ReasonVolumeAffinity)
	statusSpread             = framework.NewStatus(framework.PodTopologySpread, framework.Unschedulable, ReasonSpread)
	statusSpreadMissingLabel = framework.NewStatus(framework.PodTopologySpread, framework.UnschedulableAndUnresolvable, ReasonSpreadMissingLabel)
	statusAffinity           = framework.NewStatus(framework.InterPodAffinity, framework.UnschedulableAndUnresolvable, ReasonAffinity)
	statusAntiAffinity       = framework.NewStatus(framework.InterPodAffinity, framework.Unschedulable, ReasonAntiAffinity)
	statusExistingAnti       = framework.NewStatus(framework.InterPodAffinity, framework.Unschedulable, ReasonExistingAntiAffinity)
)

// unschedulableTaint is the taint a pod tolerates to run on a cordoned node.
var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

func tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(klog.Background(), taint, true) {
			return true
		}
	}
	return false
}

func (s *State) filterUnschedulable(n *framework.NodeInfo) *framework.Status {
	if n.Unschedulable && !tolerates(s.Pod.Pod.Spec.Tolerations, &unschedulableTaint) {
		return statusUnschedulable
	}
	return nil
}

// filterTaints rejects a node with a NoSchedule or NoExecute taint the pod
// does not tolerate.
func (s *State) filterTaints(n *framework.NodeInfo) *framework.Status {
	for i := range n.Taints {
		t := &n.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(s.Pod.Pod.Spec.Tolerations, t) {
			return statusTaints
		}
	}
	return nil
}

// FitsResources is NodeResourcesFit's filter: every reason the pod's requests
// exceed what is left on n, in upstream's order (pods, cpu, memory,
// ephemeral-storage, then scalar resources).
func FitsResources(p *framework.PodInfo, n *framework.NodeInfo) *framework.Status {
	var reasons []string
	if int64(len(n.Pods))+1 > n.Allocatable.Pods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	r := &p.Requests
	if r.MilliCPU == 0 && r.Memory == 0 && r.EphemeralStorage == 0 && len(r.Scalar) == 0 {
		return resourceStatus(reasons)
	}
	if r.MilliCPU > 0 && r.MilliCPU > n.Allocatable.MilliCPU-n.Requested.MilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if r.Memory > 0 && r.Memory > n.Allocatable.Memory-n.Requested.Memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if r.EphemeralStorage > 0 && r.EphemeralStorage > n.Allocatable.EphemeralStorage-n.Requested.EphemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	for name, q := range r.Scalar {
		if q > 0 && q > n.Allocatable.Scalar[name]-n.Requested.Scalar[name] {
			reasons = append(reasons, "Insufficient "+string(name))
		}
	}
	return resourceStatus(reasons)
}

func resourceStatus(reasons []string) *framework.Status {
	if len(reasons) == 0 {
		return nil
	}
	return framework.NewStatus(framework.NodeResourcesFit, framework.Unschedulable, reasons...)
}

// nodeSelector is a parsed node affinity: its terms are ORed.
type nodeSelector struct{ terms []nodeTerm }

// nodeTerm is a parsed NodeSelectorTerm: its label expressions and
// metadata.name field requirements are ANDed. A term that failed to parse,
// or names nothing, matches no node, as upstream.
type nodeTerm struct {
	labels labels.Selector
	fields []corev1.NodeSelectorRequirement
	valid  bool
}

type weightedNodeTerm struct {
	term   nodeTerm
	weight int64
}

func newNodeSelector(terms []corev1.NodeSelectorTerm) *nodeSelector {
	s := &nodeSelector{}
	for i := range terms {
		s.terms = append(s.terms, newNodeTerm(&terms[i]))
	}
	return s
}

var operators = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn:           selection.In,
	corev1.NodeSelectorOpNotIn:        selection.NotIn,
	corev1.NodeSelectorOpExists:       selection.Exists,
	corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt:           selection.GreaterThan,
	corev1.NodeSelectorOpLt:           selection.LessThan,
}

func newNodeTerm(t *corev1.NodeSelectorTerm) nodeTerm {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return nodeTerm{}
	}
	sel := labels.NewSelector()
	for _, e := range t.MatchExpressions {
		op, ok := operators[e.Operator]
		if !ok {
			return nodeTerm{}
		}
		if op == selection.GreaterThan || op == selection.LessThan {
			if len(e.Values) != 1 {
				return nodeTerm{}
			}
			if _, err := strconv.ParseInt(e.Values[0], 10, 64); err != nil {
				return nodeTerm{}
			}
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil {
			return nodeTerm{}
		}
		sel = sel.Add(*r)
	}
	for _, f := range t.MatchFields {
		if f.Key != "metadata.name" || (f.Operator != corev1.NodeSelectorOpIn && f.Operator != corev1.NodeSelectorOpNotIn) {
			return nodeTerm{}
		}
	}
	return nodeTerm{labels: sel, fields: t.MatchFields, valid: true}
}

func (t *nodeTerm) matches(node *corev1.Node) bool {
	if !t.valid || !t.labels.Matches(labels.Set(node.Labels)) {
		return false
	}
	for _, f := range t.fields {
		in := false
		for _, v := range f.Values {
			if v == node.Name {
				in = true
				break
			}
		}
		if in != (f.Operator == corev1.NodeSelectorOpIn) {
			return false
		}
	}
	return true
}

func (s *nodeSelector) matches(node *corev1.Node) bool {
	for i := range s.terms {
		if s.terms[i].matches(node) {
			return true
		}
	}
	return false
}
