// Package plugins holds the scheduler's filters and scores, worded and
// weighted as upstream kube-scheduler's default plugins: NodeUnschedulable,
// NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
// VolumeBinding (bound claims' PersistentVolume node affinity only),
// PodTopologySpread and InterPodAffinity, and the scores NodeResourcesFit
// (LeastAllocated), NodeResourcesBalancedAllocation, NodeAffinity,
// InterPodAffinity, TaintToleration and PodTopologySpread (with upstream's
// system default constraints spreading the replicas of one owner).
//
// PreFilter computes everything that depends on the pod and the cluster once
// per scheduling cycle, so that Filter and Score per node do no allocation on
// the common path. The package reads snapshots and listers it is given and
// must not talk to the API or keep state between cycles.
package plugins
