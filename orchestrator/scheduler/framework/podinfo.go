package framework

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// PodInfo is a pod with what scheduling derives from it, computed once per
// version of the pod. It is shared between the cache, snapshots and the queue
// and must not be modified.
type PodInfo struct {
	Pod      *corev1.Pod
	Priority int32
	// Requests is what the pod occupies on a node.
	Requests Resource
	// NonZero is Requests with defaults for containers that request no cpu
	// or memory; scoring uses it.
	NonZero Resource
	// Ports are the host ports the pod's containers bind.
	Ports []HostPort

	RequiredAffinity      []AffinityTerm
	RequiredAntiAffinity  []AffinityTerm
	PreferredAffinity     []WeightedAffinityTerm
	PreferredAntiAffinity []WeightedAffinityTerm
	// Err says why the pod's affinity terms could not be parsed.
	Err error
	// Owner is the UID of the pod's controller (a ReplicaSet, ...), empty
	// when it has none; replicas of one owner are spread by default.
	Owner types.UID
}

// AffinityTerm is a parsed pod (anti-)affinity term: pods in Namespaces (or
// in namespaces NamespaceSelector selects) whose labels Selector matches,
// counted per value of the node label TopologyKey.
type AffinityTerm struct {
	Namespaces        []string
	NamespaceSelector labels.Selector
	Selector          labels.Selector
	TopologyKey       string
}

// WeightedAffinityTerm is a preferred term.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// Matches says whether pod, in a namespace labelled nsLabels, is selected.
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if slices.Contains(t.Namespaces, pod.Namespace) || t.NamespaceSelector.Matches(nsLabels) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// HostPort is a port bound on the node's network.
type HostPort struct {
	Protocol corev1.Protocol
	IP       string
	Port     int32
}

// PodPriority is the pod's priority, 0 when admission set none.
func PodPriority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}

// NewPodInfo derives the scheduling view of pod.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	p := &PodInfo{
		Pod:      pod,
		Priority: PodPriority(pod),
		Requests: podRequests(&pod.Spec, false),
		NonZero:  podRequests(&pod.Spec, true),
		Ports:    hostPorts(&pod.Spec),
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		p.Owner = ref.UID
	}
	if a := pod.Spec.Affinity; a != nil {
		var errs []error
		add := func(err error) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if pa := a.PodAffinity; pa != nil {
			p.RequiredAffinity = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, add)
			p.PreferredAffinity = weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, add)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			p.RequiredAntiAffinity = affinityTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, add)
			p.PreferredAntiAffinity = weightedTerms(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, add)
		}
		if len(errs) > 0 {
			p.Err = fmt.Errorf("parsing the affinity of pod %s/%s: %w", pod.Namespace, pod.Name, errs[0])
		}
	}
	return p
}

// scoresOthers says whether the pod has a term that scores the nodes of pods
// it selects: required affinity counts as a preference of weight 1.
func (p *PodInfo) scoresOthers() bool {
	return len(p.RequiredAffinity)+len(p.PreferredAffinity)+len(p.PreferredAntiAffinity) > 0
}

// NewAffinityTerm parses term of pod.
func NewAffinityTerm(pod *corev1.Pod, term *corev1.PodAffinityTerm) (AffinityTerm, error) {
	selector, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	nsSelector, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
	if err != nil {
		return AffinityTerm{}, err
	}
	namespaces := term.Namespaces
	if len(namespaces) == 0 && term.NamespaceSelector == nil {
		namespaces = []string{pod.Namespace}
	}
	return AffinityTerm{Namespaces: namespaces, NamespaceSelector: nsSelector, Selector: selector, TopologyKey: term.TopologyKey}, nil
}

func affinityTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm, fail func(error)) []AffinityTerm {
	out := make([]AffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i])
		if err != nil {
			fail(err)
			continue
		}
		out = append(out, t)
	}
	return out
}

func weightedTerms(pod *corev1.Pod, terms []corev1.WeightedPodAffinityTerm, fail func(error)) []WeightedAffinityTerm {
	out := make([]WeightedAffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			fail(err)
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: terms[i].Weight})
	}
	return out
}

// hostPorts lists the host ports of the containers and sidecars.
func hostPorts(spec *corev1.PodSpec) []HostPort {
	var out []HostPort
	add := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := HostPort{Protocol: p.Protocol, IP: p.HostIP, Port: p.HostPort}
			if hp.Protocol == "" {
				hp.Protocol = corev1.ProtocolTCP
			}
			if hp.IP == "" {
				hp.IP = wildcardIP
			}
			out = append(out, hp)
		}
	}
	for i := range spec.Containers {
		add(&spec.Containers[i])
	}
	for i := range spec.InitContainers {
		if c := &spec.InitContainers[i]; c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	return out
}
