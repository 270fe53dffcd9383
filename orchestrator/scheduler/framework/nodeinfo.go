package framework

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Taints the node lifecycle controller puts on nodes that are not ready, which
// the scheduler implies itself for nodes that lack them (berth may run without
// that controller): a node without a Ready=True condition is not ready.
const (
	TaintNodeNotReady    = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable = "node.kubernetes.io/unreachable"
)

const wildcardIP = "0.0.0.0"

// NodeInfo is a node with the pods on it (bound, or assumed by the scheduler)
// and what they occupy.
type NodeInfo struct {
	// Node is nil while pods name a node the cache has not seen yet.
	Node *corev1.Node
	Name string
	Pods []*PodInfo
	// PodsWithAffinity have a term that scores other pods (any but a
	// required anti-affinity term), PodsWithRequiredAntiAffinity a
	// required anti-affinity term.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	UsedPorts                    HostPorts
	// Requested sums the pods' requests, NonZeroRequested their requests
	// with defaults for containers that name none.
	Requested        Resource
	NonZeroRequested Resource
	Allocatable      Resource
	// Taints are the node's taints and those implied by its Ready condition.
	Taints []corev1.Taint
	// Unschedulable is the node's spec.unschedulable, kept here so that
	// filtering reads one object per node.
	Unschedulable bool
	// Owners counts the pods on the node that are not terminating by
	// their controller's UID, so that spreading replicas costs a lookup
	// per node rather than a walk over its pods. A node runs few owners'
	// pods: a short slice beats a map here.
	Owners []OwnerCount
}

// OwnerCount is how many pods of one owner run on a node.
type OwnerCount struct {
	Owner types.UID
	Count int32
}

// OwnerCount is how many pods owner runs on the node.
func (n *NodeInfo) OwnerCount(owner types.UID) int32 {
	for _, o := range n.Owners {
		if o.Owner == owner {
			return o.Count
		}
	}
	return 0
}

// addOwner adds delta pods of owner.
func (n *NodeInfo) addOwner(owner types.UID, delta int32) {
	for i := range n.Owners {
		if n.Owners[i].Owner != owner {
			continue
		}
		if n.Owners[i].Count += delta; n.Owners[i].Count <= 0 {
			n.Owners = slices.Delete(n.Owners, i, i+1)
		}
		return
	}
	if delta > 0 {
		n.Owners = append(n.Owners, OwnerCount{Owner: owner, Count: delta})
	}
}

// NewNodeInfo returns node with pods on it.
func NewNodeInfo(node *corev1.Node, pods ...*PodInfo) *NodeInfo {
	n := &NodeInfo{}
	if node != nil {
		n.SetNode(node)
	}
	for _, p := range pods {
		n.AddPod(p)
	}
	return n
}

// SetNode sets the node object.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	n.Name = node.Name
	n.Allocatable = NewResource(node.Status.Allocatable)
	n.Taints = nodeTaints(node)
	n.Unschedulable = node.Spec.Unschedulable
}

// AddPod puts p on the node.
func (n *NodeInfo) AddPod(p *PodInfo) {
	n.Pods = append(n.Pods, p)
	if p.scoresOthers() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, p)
	}
	if len(p.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, p)
	}
	n.Requested.Add(p.Requests)
	n.NonZeroRequested.Add(p.NonZero)
	for _, hp := range p.Ports {
		n.UsedPorts.Add(hp)
	}
	if countsForOwner(p) {
		n.addOwner(p.Owner, 1)
	}
}

func countsForOwner(p *PodInfo) bool {
	return p.Owner != "" && p.Pod.DeletionTimestamp == nil
}

// RemovePod takes the pod with uid off the node; it says whether it was there.
func (n *NodeInfo) RemovePod(uid types.UID) bool {
	i := slices.IndexFunc(n.Pods, func(p *PodInfo) bool { return p.Pod.UID == uid })
	if i < 0 {
		return false
	}
	p := n.Pods[i]
	n.Pods = deleteAt(n.Pods, i)
	if j := slices.Index(n.PodsWithAffinity, p); j >= 0 {
		n.PodsWithAffinity = deleteAt(n.PodsWithAffinity, j)
	}
	if j := slices.Index(n.PodsWithRequiredAntiAffinity, p); j >= 0 {
		n.PodsWithRequiredAntiAffinity = deleteAt(n.PodsWithRequiredAntiAffinity, j)
	}
	n.Requested.Sub(p.Requests)
	n.NonZeroRequested.Sub(p.NonZero)
	for _, hp := range p.Ports {
		n.UsedPorts.Remove(hp)
	}
	if countsForOwner(p) {
		n.addOwner(p.Owner, -1)
	}
	return true
}

// deleteAt removes element i, moving the last one into its place.
func deleteAt(s []*PodInfo, i int) []*PodInfo {
	last := len(s) - 1
	s[i] = s[last]
	s[last] = nil
	return s[:last]
}

// Clone returns a copy that can be changed without touching n.
func (n *NodeInfo) Clone() *NodeInfo {
	return &NodeInfo{
		Node:                         n.Node,
		Name:                         n.Name,
		Pods:                         slices.Clone(n.Pods),
		PodsWithAffinity:             slices.Clone(n.PodsWithAffinity),
		PodsWithRequiredAntiAffinity: slices.Clone(n.PodsWithRequiredAntiAffinity),
		UsedPorts:                    n.UsedPorts.Clone(),
		Requested:                    n.Requested.Clone(),
		NonZeroRequested:             n.NonZeroRequested.Clone(),
		Allocatable:                  n.Allocatable.Clone(),
		Taints:                       n.Taints,
		Unschedulable:                n.Unschedulable,
		Owners:                       slices.Clone(n.Owners),
	}
}

// nodeTaints returns the node's taints plus node.kubernetes.io/not-ready (Ready
// False or missing) or node.kubernetes.io/unreachable (Ready Unknown) with
// effect NoSchedule, as the node lifecycle controller puts them.
func nodeTaints(node *corev1.Node) []corev1.Taint {
	implied := TaintNodeNotReady
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			implied = ""
		case corev1.ConditionUnknown:
			implied = TaintNodeUnreachable
		}
		break
	}
	taints := node.Spec.Taints
	if implied == "" || slices.ContainsFunc(taints, func(t corev1.Taint) bool {
		return t.Key == implied && t.Effect == corev1.TaintEffectNoSchedule
	}) {
		return taints
	}
	return append(slices.Clip(taints), corev1.Taint{Key: implied, Effect: corev1.TaintEffectNoSchedule})
}

// HostPorts counts the host ports in use on a node.
type HostPorts struct {
	exact map[HostPort]int  // by protocol, address and port
	any   map[protoPort]int // by protocol and port, whatever the address
}

type protoPort struct {
	protocol corev1.Protocol
	port     int32
}

// Add records hp in use.
func (h *HostPorts) Add(hp HostPort) {
	if h.exact == nil {
		h.exact, h.any = map[HostPort]int{}, map[protoPort]int{}
	}
	h.exact[hp]++
	h.any[protoPort{hp.Protocol, hp.Port}]++
}

// Remove records hp free again.
func (h *HostPorts) Remove(hp HostPort) {
	pp := protoPort{hp.Protocol, hp.Port}
	if h.exact[hp] <= 1 {
		delete(h.exact, hp)
	} else {
		h.exact[hp]--
	}
	if h.any[pp] <= 1 {
		delete(h.any, pp)
	} else {
		h.any[pp]--
	}
}

// Conflicts says whether binding hp would clash with a port in use: the same
// protocol and port on the same address, or where either address is 0.0.0.0.
func (h *HostPorts) Conflicts(hp HostPort) bool {
	if hp.IP == wildcardIP {
		return h.any[protoPort{hp.Protocol, hp.Port}] > 0
	}
	return h.exact[hp] > 0 || h.exact[HostPort{Protocol: hp.Protocol, IP: wildcardIP, Port: hp.Port}] > 0
}

// Len is the number of ports in use.
func (h *HostPorts) Len() int { return len(h.exact) }

// Clone returns a copy.
func (h HostPorts) Clone() HostPorts {
	if h.exact == nil {
		return h
	}
	c := HostPorts{exact: make(map[HostPort]int, len(h.exact)), any: make(map[protoPort]int, len(h.any))}
	for k, v := range h.exact {
		c.exact[k] = v
	}
	for k, v := range h.any {
		c.any[k] = v
	}
	return c
}
