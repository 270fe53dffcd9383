package framework

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Snapshot is a consistent view of the nodes and their pods for one
// scheduling cycle. Nodes are listed zone by zone in turn, as upstream's node
// tree lists them, so that the first feasible nodes found spread over zones.
type Snapshot struct {
	nodes  []*NodeInfo
	byName map[string]*NodeInfo
	index  map[string]int // position in nodes
	// nodes with pods that have any pod affinity term, or a required
	// anti-affinity term
	withAffinity             []*NodeInfo
	withRequiredAntiAffinity []*NodeInfo
	// ownerZones counts the pods of each owner per zone, kept up to date
	// node by node, so that spreading replicas over zones does not walk
	// the cluster.
	ownerZones map[ownerZone]int32
}

type ownerZone struct {
	owner types.UID
	zone  string
}

// countOwners adds sign times n's pods to their owners' zone counts.
func (s *Snapshot) countOwners(n *NodeInfo, sign int32) {
	zone, ok := n.Node.Labels[corev1.LabelTopologyZone]
	if !ok {
		return
	}
	for _, o := range n.Owners {
		k := ownerZone{o.Owner, zone}
		if v := s.ownerZones[k] + sign*o.Count; v != 0 {
			s.ownerZones[k] = v
		} else {
			delete(s.ownerZones, k)
		}
	}
}

// OwnerZoneCount is how many pods of owner run in zone (the value of the
// node label topology.kubernetes.io/zone), terminating pods left out.
func (s *Snapshot) OwnerZoneCount(owner types.UID, zone string) int32 {
	return s.ownerZones[ownerZone{owner, zone}]
}

// NewSnapshot builds a snapshot of nodes; nodes without a Node are left out.
func NewSnapshot(nodes ...*NodeInfo) *Snapshot {
	s := &Snapshot{}
	s.Reset(nodes)
	return s
}

// Reset replaces every node.
func (s *Snapshot) Reset(nodes []*NodeInfo) {
	s.byName = make(map[string]*NodeInfo, len(nodes))
	s.ownerZones = map[ownerZone]int32{}
	for _, n := range nodes {
		if n.Node != nil {
			s.byName[n.Name] = n
			s.countOwners(n, 1)
		}
	}
	s.order()
	s.refreshAffinity()
}

// Replace swaps in new versions of nodes already in the snapshot, keeping the
// order, and adds or removes others; removed names map to nil.
func (s *Snapshot) Replace(changed map[string]*NodeInfo) {
	reorder, affinity := false, false
	for name, n := range changed {
		old := s.byName[name]
		if old != nil {
			s.countOwners(old, -1)
		}
		if n != nil && n.Node != nil {
			s.countOwners(n, 1)
		}
		if old != nil && (len(old.PodsWithAffinity) > 0 || len(old.PodsWithRequiredAntiAffinity) > 0) {
			affinity = true
		}
		if n == nil || n.Node == nil {
			if old != nil {
				delete(s.byName, name)
				reorder = true
			}
			continue
		}
		if len(n.PodsWithAffinity) > 0 || len(n.PodsWithRequiredAntiAffinity) > 0 {
			affinity = true
		}
		if old == nil || zoneKey(old.Node) != zoneKey(n.Node) {
			reorder = true
		}
		s.byName[name] = n
		if !reorder {
			s.nodes[s.index[name]] = n
		}
	}
	if reorder {
		s.order()
	}
	if affinity || reorder {
		s.refreshAffinity()
	}
}

// order lists the nodes zone by zone in turn, names sorted within a zone.
func (s *Snapshot) order() {
	zones := map[string][]*NodeInfo{}
	for _, n := range s.byName {
		z := zoneKey(n.Node)
		zones[z] = append(zones[z], n)
	}
	keys := make([]string, 0, len(zones))
	for z, ns := range zones {
		keys = append(keys, z)
		sort.Slice(ns, func(i, j int) bool { return ns[i].Name < ns[j].Name })
	}
	sort.Strings(keys)
	s.nodes = make([]*NodeInfo, 0, len(s.byName))
	s.index = make(map[string]int, len(s.byName))
	for i := 0; len(s.nodes) < len(s.byName); i++ {
		for _, z := range keys {
			if ns := zones[z]; i < len(ns) {
				s.index[ns[i].Name] = len(s.nodes)
				s.nodes = append(s.nodes, ns[i])
			}
		}
	}
}

func (s *Snapshot) refreshAffinity() {
	s.withAffinity, s.withRequiredAntiAffinity = nil, nil
	for _, n := range s.nodes {
		if len(n.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, n)
		}
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			s.withRequiredAntiAffinity = append(s.withRequiredAntiAffinity, n)
		}
	}
}

// Nodes lists every node; callers must not modify the slice.
func (s *Snapshot) Nodes() []*NodeInfo { return s.nodes }

// Len is the number of nodes.
func (s *Snapshot) Len() int { return len(s.nodes) }

// Get returns the named node, or nil.
func (s *Snapshot) Get(name string) *NodeInfo { return s.byName[name] }

// WithAffinity lists the nodes running pods with pod (anti-)affinity terms.
func (s *Snapshot) WithAffinity() []*NodeInfo { return s.withAffinity }

// WithRequiredAntiAffinity lists the nodes running pods with required
// anti-affinity terms.
func (s *Snapshot) WithRequiredAntiAffinity() []*NodeInfo { return s.withRequiredAntiAffinity }

// zoneKey identifies a node's region and zone.
func zoneKey(node *corev1.Node) string {
	region, zone := node.Labels[corev1.LabelTopologyRegion], node.Labels[corev1.LabelTopologyZone]
	if region == "" {
		region = node.Labels[corev1.LabelFailureDomainBetaRegion]
	}
	if zone == "" {
		zone = node.Labels[corev1.LabelFailureDomainBetaZone]
	}
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}
