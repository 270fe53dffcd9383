package framework

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Stand-ins for a container that requests no cpu or memory when nodes are
// scored, as upstream's scheduler uses, so that such pods still spread.
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is an amount of each resource: what a pod requests, what a node
// offers or what its pods request together.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// Pods is how many pods a node allows (its allocatable "pods").
	Pods int64
	// Scalar holds extended resources, hugepages and other countable
	// resources; nil when there are none.
	Scalar map[corev1.ResourceName]int64
}

// NewResource converts a resource list.
func NewResource(list corev1.ResourceList) Resource {
	var r Resource
	for name, q := range list {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case corev1.ResourcePods:
			r.Pods += q.Value()
		default:
			if IsScalarResourceName(name) {
				r.AddScalar(name, q.Value())
			}
		}
	}
	return r
}

// IsZero says whether nothing is requested.
func (r *Resource) IsZero() bool {
	return r.MilliCPU == 0 && r.Memory == 0 && r.EphemeralStorage == 0 && len(r.Scalar) == 0
}

// AddScalar adds q of a scalar resource.
func (r *Resource) AddScalar(name corev1.ResourceName, q int64) {
	if r.Scalar == nil {
		r.Scalar = map[corev1.ResourceName]int64{}
	}
	r.Scalar[name] += q
}

// Add adds o to r.
func (r *Resource) Add(o Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	r.Pods += o.Pods
	for name, q := range o.Scalar {
		r.AddScalar(name, q)
	}
}

// Sub subtracts o from r.
func (r *Resource) Sub(o Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	r.Pods -= o.Pods
	for name, q := range o.Scalar {
		r.AddScalar(name, -q)
	}
}

// SetMax raises each amount of r to at least o's.
func (r *Resource) SetMax(o Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	r.Pods = max(r.Pods, o.Pods)
	for name, q := range o.Scalar {
		if q > r.Scalar[name] {
			if r.Scalar == nil {
				r.Scalar = map[corev1.ResourceName]int64{}
			}
			r.Scalar[name] = q
		}
	}
}

// Clone returns a copy that shares nothing with r.
func (r Resource) Clone() Resource {
	if r.Scalar != nil {
		scalar := make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			scalar[k] = v
		}
		r.Scalar = scalar
	}
	return r
}

// IsScalarResourceName says whether name is counted as a scalar: an extended
// resource (example.com/foo), hugepages-*, attachable-volumes-* or a resource
// prefixed with kubernetes.io/.
func IsScalarResourceName(name corev1.ResourceName) bool {
	return IsExtendedResourceName(name) || strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) ||
		strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix) ||
		strings.HasPrefix(string(name), "attachable-volumes-")
}

// IsExtendedResourceName says whether name is an extended resource: one with a
// domain outside kubernetes.io and no requests. prefix.
func IsExtendedResourceName(name corev1.ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.Contains(s, corev1.ResourceDefaultNamespacePrefix) {
		return false
	}
	return !strings.HasPrefix(s, corev1.DefaultResourceRequestsPrefix)
}

// podRequests computes what a pod occupies on a node, as upstream computes the
// effective request: containers run together, init containers one after
// another (each beside the sidecars started before it), sidecars (restartable
// init containers) keep running beside the containers, a pod-level request
// replaces the containers' sum, and the overhead comes on top.
//
// With nonZero, a container that names no cpu or memory request counts as
// DefaultMilliCPURequest and DefaultMemoryRequest, which is what scoring uses.
//
// For example, init containers of 2 and 1 cpu, a sidecar of 0.5 and two
// containers of 1 cpu: the sidecar runs beside the second init container
// (1.5) and beside the containers (2.5), so the pod requests max(2, 1.5, 2.5)
// = 2.5 cpu.
func podRequests(spec *corev1.PodSpec, nonZero bool) Resource {
	var sum Resource
	for i := range spec.Containers {
		sum.Add(containerRequests(&spec.Containers[i], nonZero))
	}
	var sidecars, initMax Resource
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		r := containerRequests(c, nonZero)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Add(r)
			initMax.SetMax(sidecars)
			continue
		}
		r.Add(sidecars)
		initMax.SetMax(r)
	}
	sum.Add(sidecars)
	sum.SetMax(initMax)
	if spec.Resources != nil {
		if q, ok := spec.Resources.Requests[corev1.ResourceCPU]; ok {
			sum.MilliCPU = q.MilliValue()
		}
		if q, ok := spec.Resources.Requests[corev1.ResourceMemory]; ok {
			sum.Memory = q.Value()
		}
	}
	if spec.Overhead != nil {
		sum.Add(NewResource(spec.Overhead))
	}
	sum.Pods = 0
	return sum
}

func containerRequests(c *corev1.Container, nonZero bool) Resource {
	r := NewResource(c.Resources.Requests)
	if nonZero {
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			r.MilliCPU = DefaultMilliCPURequest
		}
		if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
			r.Memory = DefaultMemoryRequest
		}
	}
	return r
}
