package plugins

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// Volumes looks up the claims and volumes pods mount; the VolumeBinding
// filter uses it.
type Volumes interface {
	Claim(namespace, name string) (*corev1.PersistentVolumeClaim, error)
	Volume(name string) (*corev1.PersistentVolume, error)
}

// NamespaceLabels returns the labels of a namespace (nil when unknown), for
// affinity terms with a namespaceSelector.
type NamespaceLabels func(namespace string) labels.Set

// Plugins runs the filters and scores. Its fields may be nil: then volumes
// are not checked and namespace selectors match no namespace.
type Plugins struct {
	Volumes    Volumes
	Namespaces NamespaceLabels
}

// State is what PreFilter derived from one pod for one cycle. Filter and
// Score only read it, so they may run on many nodes at once.
type State struct {
	Pod      *framework.PodInfo
	snapshot *framework.Snapshot
	plugins  *Plugins

	nodeSelector     labels.Selector // nil when the pod has none
	requiredAffinity *nodeSelector   // nil when the pod has none
	// volumeAffinity are the node affinities of the bound volumes.
	volumeAffinity []*nodeSelector
	interPod       *interPodState // nil when no pod anywhere has affinity
	spread         *spreadState   // nil without DoNotSchedule constraints

	preferredAffinity []weightedNodeTerm
	preferNoSchedule  []corev1.Toleration

	// NodeNames, when not nil, are the only nodes the pod's required node
	// affinity can match (by metadata.name, as DaemonSet pods name their
	// node), so only they need filtering.
	NodeNames []string
}

// ReasonNotInNodeNames is upstream's reason for the nodes a PreFilter left
// out of consideration.
const ReasonNotInNodeNames = "node(s) didn't satisfy plugin(s) [NodeAffinity]"

// StatusNotInNodeNames is the status of every node not in NodeNames.
var StatusNotInNodeNames = framework.NewStatus(framework.NodeAffinity, framework.UnschedulableAndUnresolvable, ReasonNotInNodeNames)

// nodeNames returns the node names the required terms are limited to, nil
// when some term may match any node. Terms are ORed, the metadata.name
// requirements within one ANDed.
func nodeNames(terms []corev1.NodeSelectorTerm) (names []string, limited bool) {
	seen := map[string]bool{}
	for _, t := range terms {
		var termNames []string
		restricted := false
		for _, r := range t.MatchFields {
			if r.Key != "metadata.name" || r.Operator != corev1.NodeSelectorOpIn {
				continue
			}
			if !restricted {
				termNames, restricted = slices.Clone(r.Values), true
				continue
			}
			termNames = slices.DeleteFunc(termNames, func(n string) bool { return !slices.Contains(r.Values, n) })
		}
		if !restricted {
			return nil, false
		}
		for _, n := range termNames {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names, len(terms) > 0
}

// PreFilter derives the state of pod for a cycle over snap. A non-nil status
// means the pod cannot be scheduled on any node.
func (p *Plugins) PreFilter(ctx context.Context, pod *framework.PodInfo, snap *framework.Snapshot) (*State, *framework.Status) {
	s := &State{Pod: pod, snapshot: snap, plugins: p}
	spec := &pod.Pod.Spec
	if len(spec.NodeSelector) > 0 {
		s.nodeSelector = labels.SelectorFromSet(spec.NodeSelector)
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		if r := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			s.requiredAffinity = newNodeSelector(r.NodeSelectorTerms)
			names, limited := nodeNames(r.NodeSelectorTerms)
			if limited && len(names) == 0 {
				return nil, framework.NewStatus(framework.NodeAffinity, framework.UnschedulableAndUnresolvable, "pod affinity terms conflict")
			}
			if limited {
				s.NodeNames = names
			}
		}
		for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if t.Weight == 0 {
				continue
			}
			s.preferredAffinity = append(s.preferredAffinity, weightedNodeTerm{
				term:   newNodeTerm(&t.Preference),
				weight: int64(t.Weight),
			})
		}
	}
	for _, t := range spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			s.preferNoSchedule = append(s.preferNoSchedule, t)
		}
	}
	if st := s.preFilterVolumes(); st != nil {
		return nil, st
	}
	if pod.Err != nil {
		return nil, framework.NewStatus(framework.InterPodAffinity, framework.UnschedulableAndUnresolvable, pod.Err.Error())
	}
	var st *framework.Status
	if s.interPod, st = s.preFilterInterPod(ctx); st != nil {
		return nil, st
	}
	if s.spread, st = s.preFilterSpread(ctx); st != nil {
		return nil, st
	}
	return s, nil
}

// preFilterVolumes collects the node affinity of the volumes bound to the
// pod's claims; unbound claims are left to the volume binder.
func (s *State) preFilterVolumes() *framework.Status {
	if s.plugins.Volumes == nil {
		return nil
	}
	for _, v := range s.Pod.Pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		claim, err := s.plugins.Volumes.Claim(s.Pod.Pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		if apierrors.IsNotFound(err) {
			return framework.NewStatus(framework.VolumeBinding, framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("persistentvolumeclaim %q not found", v.PersistentVolumeClaim.ClaimName))
		}
		if err != nil {
			return framework.NewStatus(framework.VolumeBinding, framework.Error, fmt.Sprintf("getting claim %q: %v", v.PersistentVolumeClaim.ClaimName, err))
		}
		if claim.DeletionTimestamp != nil {
			return framework.NewStatus(framework.VolumeBinding, framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("persistentvolumeclaim %q is being deleted", claim.Name))
		}
		if claim.Spec.VolumeName == "" {
			continue
		}
		pv, err := s.plugins.Volumes.Volume(claim.Spec.VolumeName)
		if apierrors.IsNotFound(err) {
			return framework.NewStatus(framework.VolumeBinding, framework.UnschedulableAndUnresolvable,
				"pvc(s) bound to non-existent pv(s)")
		}
		if err != nil {
			return framework.NewStatus(framework.VolumeBinding, framework.Error, fmt.Sprintf("getting volume %q: %v", claim.Spec.VolumeName, err))
		}
		if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
			s.volumeAffinity = append(s.volumeAffinity, newNodeSelector(na.Required.NodeSelectorTerms))
		}
	}
	return nil
}

// Filter says whether the pod fits node n, running the filters in upstream's
// order and stopping at the first that fails, as upstream does.
func (s *State) Filter(n *framework.NodeInfo) *framework.Status {
	if n.Node == nil {
		return statusNodeNotFound
	}
	if st := s.filterUnschedulable(n); st != nil {
		return st
	}
	if name := s.Pod.Pod.Spec.NodeName; name != "" && name != n.Name {
		return statusNodeName
	}
	if st := s.filterTaints(n); st != nil {
		return st
	}
	if !s.matchesNodeAffinity(n.Node) {
		return statusNodeAffinity
	}
	for _, hp := range s.Pod.Ports {
		if n.UsedPorts.Conflicts(hp) {
			return statusNodePorts
		}
	}
	if st := FitsResources(s.Pod, n); st != nil {
		return st
	}
	for _, sel := range s.volumeAffinity {
		if !sel.matches(n.Node) {
			return statusVolumeAffinity
		}
	}
	if s.spread != nil {
		if st := s.spread.filter(s.Pod, n); st != nil {
			return st
		}
	}
	if s.interPod != nil {
		if st := s.interPod.filter(n); st != nil {
			return st
		}
	}
	return nil
}

// matchesNodeAffinity checks spec.nodeSelector and required node affinity.
func (s *State) matchesNodeAffinity(node *corev1.Node) bool {
	if s.nodeSelector != nil && !s.nodeSelector.Matches(labels.Set(node.Labels)) {
		return false
	}
	return s.requiredAffinity == nil || s.requiredAffinity.matches(node)
}
