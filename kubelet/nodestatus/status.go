package nodestatus

import (
	"context"
	"runtime"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The thresholds of upstream's default hard eviction on Linux. They are
// withheld from allocatable and decide the pressure conditions; berth does
// not evict pods over them.
const (
	// MemoryEvictionThreshold (memory.available<100Mi) is taken off allocatable
	// memory; MemoryPressure is True while MemAvailable is below it.
	MemoryEvictionThreshold = 100 << 20
	// NodeFSEvictionPercent (nodefs.available<10%) of the file system is taken
	// off allocatable ephemeral-storage; DiskPressure is True while less of it
	// is available, or fewer than NodeFSInodesEvictionPercent of its inodes
	// (nodefs.inodesFree<5%) are free.
	NodeFSEvictionPercent       = 10
	NodeFSInodesEvictionPercent = 5
	// PIDEvictionPercent (pid.available<10%): PIDPressure is True while fewer
	// than this share of the host's process ids are free. Upstream's Linux
	// defaults carried it for a while; it has no default there today.
	PIDEvictionPercent = 10
)

// Upstream's limits on status.images.
const (
	maxImages        = 50
	maxNamesPerImage = 5
)

// Reasons and messages of the node conditions, as upstream's kubelet writes
// them.
const (
	reasonReady               = "KubeletReady"
	messageReady              = "kubelet is posting ready status"
	reasonNotReady            = "KubeletNotReady"
	reasonSufficientMemory    = "KubeletHasSufficientMemory"
	messageSufficientMemory   = "kubelet has sufficient memory available"
	reasonInsufficientMemory  = "KubeletHasInsufficientMemory"
	messageInsufficientMemory = "kubelet has insufficient memory available"
	reasonNoDiskPressure      = "KubeletHasNoDiskPressure"
	messageNoDiskPressure     = "kubelet has no disk pressure"
	reasonDiskPressure        = "KubeletHasDiskPressure"
	messageDiskPressure       = "kubelet has disk pressure"
	reasonSufficientPID       = "KubeletHasSufficientPID"
	messageSufficientPID      = "kubelet has sufficient PID available"
	reasonInsufficientPID     = "KubeletHasInsufficientPID"
	messageInsufficientPID    = "kubelet has insufficient PID available"
)

// labels are the labels the node carries: the standard ones and Config's.
func (n *Node) labels() map[string]string {
	labels := n.standardLabels()
	for k, v := range n.cfg.Labels {
		labels[k] = v
	}
	return labels
}

// standardLabels are the labels upstream's kubelet sets on its Node.
func (n *Node) standardLabels() map[string]string {
	return map[string]string{
		corev1.LabelHostname:      n.cfg.NodeName,
		corev1.LabelOSStable:      runtime.GOOS,
		corev1.LabelArchStable:    runtime.GOARCH,
		"beta.kubernetes.io/os":   runtime.GOOS,
		"beta.kubernetes.io/arch": runtime.GOARCH,
	}
}

// labelsToSet returns the labels of the node's that are missing or differ
// from what it must carry, or nil. Other labels are left alone.
func (n *Node) labelsToSet(node *corev1.Node) map[string]string {
	var set map[string]string
	for k, v := range n.labels() {
		if have, ok := node.Labels[k]; !ok || have != v {
			if set == nil {
				set = map[string]string{}
			}
			set[k] = v
		}
	}
	return set
}

// transition is a condition changing status, for an event like upstream's
// "Node X status is now: NodeHasSufficientMemory".
type transition struct {
	eventType, reason string
}

// Resources are the node's capacity and what of it is allocatable to pods,
// from the host's facts: capacity less the hard eviction thresholds, as
// upstream computes it with no system or kube reservations (16Gi of memory
// leaves 16Gi-100Mi, a 100Gi file system 90Gi).
func Resources(f Facts, maxPods int) (capacity, allocatable corev1.ResourceList) {
	if maxPods <= 0 {
		maxPods = DefaultMaxPods
	}
	capacity = corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(int64(f.CPUs)*1000, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(f.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(maxPods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(f.FSBytes, resource.BinarySI),
	}
	allocatable = capacity.DeepCopy()
	allocatable[corev1.ResourceMemory] = *resource.NewQuantity(max(0, f.MemoryBytes-MemoryEvictionThreshold), resource.BinarySI)
	allocatable[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(max(0, f.FSBytes-f.FSBytes*NodeFSEvictionPercent/100), resource.BinarySI)
	return capacity, allocatable
}

// setStatus computes node's status from the host's facts, the images and the
// readiness error (nil: ready) at now, keeping the transition times of
// conditions whose status stays, and returns the conditions that changed.
// Status fields berth does not own (other conditions, other resources) stay.
func (n *Node) setStatus(node *corev1.Node, f Facts, images []corev1.ContainerImage, notReady error, now metav1.Time) []transition {
	s := &node.Status
	if s.Capacity == nil {
		s.Capacity = corev1.ResourceList{}
	}
	if s.Allocatable == nil {
		s.Allocatable = corev1.ResourceList{}
	}
	capacity, allocatable := Resources(f, n.cfg.MaxPods)
	for name, q := range capacity {
		s.Capacity[name] = q
		s.Allocatable[name] = allocatable[name]
	}

	if len(n.cfg.Addresses) > 0 {
		s.Addresses = append([]corev1.NodeAddress(nil), n.cfg.Addresses...)
	} else {
		s.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: f.InternalIP},
			{Type: corev1.NodeHostName, Address: n.cfg.NodeName},
		}
	}
	s.DaemonEndpoints.KubeletEndpoint.Port = n.cfg.KubeletPort
	s.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               f.MachineID,
		SystemUUID:              f.SystemUUID,
		BootID:                  f.BootID,
		KernelVersion:           f.KernelVersion,
		OSImage:                 f.OSImage,
		ContainerRuntimeVersion: n.cfg.ContainerRuntimeVersion,
		KubeletVersion:          n.cfg.KubeletVersion,
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
	}
	if images != nil {
		s.Images = nodeImages(images)
	}

	var changed []transition
	set := func(c corev1.NodeCondition, event string) {
		if setCondition(s, c, now) {
			changed = append(changed, transition{corev1.EventTypeNormal, event})
		}
	}
	if f.MemoryAvailableBytes < MemoryEvictionThreshold {
		set(condition(corev1.NodeMemoryPressure, corev1.ConditionTrue, reasonInsufficientMemory, messageInsufficientMemory), "NodeHasInsufficientMemory")
	} else {
		set(condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, reasonSufficientMemory, messageSufficientMemory), "NodeHasSufficientMemory")
	}
	if diskPressure(f) {
		set(condition(corev1.NodeDiskPressure, corev1.ConditionTrue, reasonDiskPressure, messageDiskPressure), "NodeHasDiskPressure")
	} else {
		set(condition(corev1.NodeDiskPressure, corev1.ConditionFalse, reasonNoDiskPressure, messageNoDiskPressure), "NodeHasNoDiskPressure")
	}
	if f.PIDLimit-f.PIDs < f.PIDLimit*PIDEvictionPercent/100 {
		set(condition(corev1.NodePIDPressure, corev1.ConditionTrue, reasonInsufficientPID, messageInsufficientPID), "NodeHasInsufficientPID")
	} else {
		set(condition(corev1.NodePIDPressure, corev1.ConditionFalse, reasonSufficientPID, messageSufficientPID), "NodeHasSufficientPID")
	}
	if notReady != nil {
		set(condition(corev1.NodeReady, corev1.ConditionFalse, reasonNotReady, notReady.Error()), "NodeNotReady")
	} else {
		set(condition(corev1.NodeReady, corev1.ConditionTrue, reasonReady, messageReady), "NodeReady")
	}
	// Ready goes last, as upstream keeps it for old clients that read the
	// last condition.
	for i, c := range s.Conditions {
		if c.Type == corev1.NodeReady && i != len(s.Conditions)-1 {
			s.Conditions = append(append(s.Conditions[:i:i], s.Conditions[i+1:]...), c)
			break
		}
	}
	return changed
}

// diskPressure reports whether the kubelet's file system is short of space or
// inodes.
func diskPressure(f Facts) bool {
	return f.FSAvailableBytes < f.FSBytes*NodeFSEvictionPercent/100 ||
		f.FSInodesFree < f.FSInodes*NodeFSInodesEvictionPercent/100
}

func condition(t corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string) corev1.NodeCondition {
	return corev1.NodeCondition{Type: t, Status: status, Reason: reason, Message: message}
}

// setCondition puts c into s with its heartbeat at now. Its transition time is
// now when the condition is new or its status changes, which setCondition
// reports, and stays as it was otherwise.
func setCondition(s *corev1.NodeStatus, c corev1.NodeCondition, now metav1.Time) bool {
	c.LastHeartbeatTime = now
	for i := range s.Conditions {
		old := &s.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		changed := old.Status != c.Status
		c.LastTransitionTime = old.LastTransitionTime
		if changed || c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		*old = c
		return changed
	}
	c.LastTransitionTime = now
	s.Conditions = append(s.Conditions, c)
	return true
}

// nodeImages returns the largest images first, at most maxImages of them with
// at most maxNamesPerImage names each, as upstream reports them.
func nodeImages(images []corev1.ContainerImage) []corev1.ContainerImage {
	sorted := make([]corev1.ContainerImage, 0, len(images))
	for _, img := range images {
		if len(img.Names) == 0 {
			continue
		}
		names := img.Names
		if len(names) > maxNamesPerImage {
			names = names[:maxNamesPerImage]
		}
		sorted = append(sorted, corev1.ContainerImage{Names: append([]string(nil), names...), SizeBytes: img.SizeBytes})
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].SizeBytes > sorted[j].SizeBytes })
	if len(sorted) > maxImages {
		sorted = sorted[:maxImages]
	}
	return sorted
}

// statusChanged reports whether two statuses differ in more than their
// conditions' heartbeat times.
func statusChanged(old, new *corev1.NodeStatus) bool {
	a, b := old.DeepCopy(), new.DeepCopy()
	for _, s := range []*corev1.NodeStatus{a, b} {
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
	}
	return !apiequality.Semantic.DeepEqual(a, b)
}

// readiness asks Config.Ready, if set, whether the node is ready.
func (n *Node) readiness(ctx context.Context) error {
	if n.cfg.Ready == nil {
		return nil
	}
	return n.cfg.Ready(ctx)
}
