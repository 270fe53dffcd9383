package daemonset

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// nodeNameField is the only field a node selector term may match.
const nodeNameField = "metadata.name"

// daemonTolerations are the tolerations upstream adds to every DaemonSet pod:
// a daemon keeps running on a node that is unready, unreachable or under
// pressure, and lands on a cordoned one, since it is often what the node needs
// to recover (a network or storage agent).
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// hostNetworkToleration lets a host-network daemon (a CNI plugin) run before
// the node's pod network is up.
var hostNetworkToleration = corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// addDaemonTolerations adds to spec the daemon tolerations it lacks.
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := slices.Clone(daemonTolerations)
	if spec.HostNetwork {
		add = append(add, hostNetworkToleration)
	}
	for _, t := range add {
		if !slices.ContainsFunc(spec.Tolerations, func(have corev1.Toleration) bool { return have.MatchToleration(&t) }) {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
}

// pinToNode makes the scheduler place a pod on node and nowhere else, through
// a required node affinity on the node's name, as upstream does rather than
// setting nodeName: the scheduler then still checks the pod fits, and
// preempts for it. It replaces any required terms: node was already checked
// against them.
func pinToNode(spec *corev1.PodSpec, node string) {
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{
		{Key: nodeNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}}
}

// targetNode is the node a daemon pod runs on or is pinned to, "" if neither.
func targetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 {
		return ""
	}
	for _, f := range terms[0].MatchFields {
		if f.Key == nodeNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
			return f.Values[0]
		}
	}
	return ""
}

// placement says whether a daemon pod with spec (tolerations added) should be
// created on node, and whether one already there should be left running: a
// pod stays on a node with a new NoSchedule taint, but not with a NoExecute
// taint it does not tolerate, nor on a node its selector no longer matches.
func placement(spec *corev1.PodSpec, node *corev1.Node) (shouldRun, shouldContinueRunning bool) {
	if spec.NodeName != "" && spec.NodeName != node.Name || !matchesSelector(spec, node) {
		return false, false
	}
	schedulable, running := true, true
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute || tolerated(spec.Tolerations, t) {
			continue
		}
		schedulable = false
		if t.Effect == corev1.TaintEffectNoExecute {
			running = false
		}
	}
	return schedulable, running
}

func tolerated(tolerations []corev1.Toleration, t *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(klog.Background(), t, true) {
			return true
		}
	}
	return false
}

// matchesSelector reports whether node satisfies spec's nodeSelector and
// required node affinity (terms ORed, everything within a term ANDed; a
// malformed term matches no node).
func matchesSelector(spec *corev1.PodSpec, node *corev1.Node) bool {
	ok, err := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: *spec}).Match(node)
	return err == nil && ok
}
