package hollow

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// UsageSink receives what hollow nodes report using, as a kubelet's summary
// would give it: each node's usage and that of the pods running on it, in the
// types of the resource metrics API. orchestrator/metrics.Store is one; hollow
// knows nothing of it.
type UsageSink interface {
	// Report replaces what the node reported before: a pod left out has gone.
	Report(node metricsv1beta1.NodeMetrics, pods []metricsv1beta1.PodMetrics)
}

// DefaultUsageInterval is how often hollow nodes report usage when Config says
// nothing: the order of a kubelet's housekeeping and metrics-server's resolution.
const DefaultUsageInterval = 10 * time.Second

// idleContainer is what a container uses when its pod says nothing: an idle
// process, so that `kubectl top` shows a figure and utilization targets see
// pods well below any sensible request.
var idleContainer = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("1m"),
	corev1.ResourceMemory: resource.MustParse("4Mi"),
}

// systemUsage is what a node uses besides its pods: a kubelet, a container
// runtime and the operating system at rest.
var systemUsage = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("100m"),
	corev1.ResourceMemory: resource.MustParse("512Mi"),
}

// reportUsage reports every node's usage each interval until ctx ends. Stopped
// nodes report nothing, as a dead kubelet is not scraped.
func (n *Nodes) reportUsage(ctx context.Context, pods corelisters.PodLister) {
	ticker := time.NewTicker(n.cfg.UsageInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n.reportOnce(pods, time.Now())
	}
}

func (n *Nodes) reportOnce(pods corelisters.PodLister, now time.Time) {
	all, err := pods.List(labels.Everything())
	if err != nil {
		n.cfg.Log.Warn("listing pods to report hollow usage", "err", err)
		return
	}
	window := metav1.Duration{Duration: n.cfg.UsageInterval}
	byNode := map[string][]metricsv1beta1.PodMetrics{}
	for _, p := range all {
		if _, ours := n.names[p.Spec.NodeName]; !ours || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
			Timestamp:  metav1.NewTime(now), Window: window,
			Containers: podUsage(p),
		})
	}
	for i := 0; i < n.cfg.Count; i++ {
		name := n.name(i)
		n.mu.Lock()
		stopped := n.stopped[name]
		n.mu.Unlock()
		if stopped {
			continue
		}
		total := systemUsage.DeepCopy()
		for _, p := range byNode[name] {
			for _, c := range p.Containers {
				addTo(total, c.Usage)
			}
		}
		n.cfg.Usage.Report(metricsv1beta1.NodeMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Timestamp:  metav1.NewTime(now), Window: window,
			Usage: total,
		}, byNode[name])
	}
}

// podUsage is the usage of the pod's containers: the pod's annotations give the
// pod's total, split evenly over its containers (the first takes what does not
// divide); a resource not annotated, or annotated with something that is not a
// quantity, is idleContainer's figure for each container.
func podUsage(p *corev1.Pod) []metricsv1beta1.ContainerMetrics {
	out := make([]metricsv1beta1.ContainerMetrics, len(p.Spec.Containers))
	for i, c := range p.Spec.Containers {
		out[i] = metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: idleContainer.DeepCopy()}
	}
	if len(out) == 0 {
		return out
	}
	for annotation, name := range map[string]corev1.ResourceName{AnnotationCPUUsage: corev1.ResourceCPU, AnnotationMemoryUsage: corev1.ResourceMemory} {
		total, err := resource.ParseQuantity(p.Annotations[annotation])
		if err != nil {
			continue
		}
		for i, q := range split(name, total, len(out)) {
			out[i].Usage[name] = q
		}
	}
	return out
}

// split divides q into n parts, cpu in millicores and memory in bytes, the
// remainder going to the first part: 1 cpu over 3 containers is 334m, 333m, 333m.
func split(name corev1.ResourceName, q resource.Quantity, n int) []resource.Quantity {
	total, format := q.Value(), resource.BinarySI
	if name == corev1.ResourceCPU {
		total, format = q.MilliValue(), resource.DecimalSI
	}
	part, rest := total/int64(n), total%int64(n)
	out := make([]resource.Quantity, n)
	for i := range out {
		v := part
		if i == 0 {
			v += rest
		}
		if name == corev1.ResourceCPU {
			out[i] = *resource.NewMilliQuantity(v, format)
		} else {
			out[i] = *resource.NewQuantity(v, format)
		}
	}
	return out
}

func addTo(total, usage corev1.ResourceList) {
	for name, q := range usage {
		sum := total[name]
		sum.Add(q)
		total[name] = sum
	}
}
