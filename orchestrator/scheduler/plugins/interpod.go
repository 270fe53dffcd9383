package plugins

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// topoPair is one topology domain: a node label and its value.
type topoPair struct{ key, value string }

// interPodState counts, per topology domain, the pods that decide the
// InterPodAffinity filter for the incoming pod.
//
// Anti-affinity terms by hostname (the common "one replica per node") are not
// counted over the cluster: only the pods on a node can violate them there,
// so Filter checks that node's pods, as upstream's hostname fast path does.
type interPodState struct {
	pod     *framework.PodInfo
	plugins *Plugins
	// countAnti says whether the pod has anti-affinity terms by a key
	// other than hostname, counted in anti.
	countAnti bool
	// existingAnti: existing pods whose required anti-affinity selects the
	// incoming pod; anti: existing pods the incoming pod's required
	// anti-affinity selects; affinity: existing pods matching all of its
	// required affinity terms.
	existingAnti, anti, affinity map[topoPair]int64
	// existingAntiKeys are the topology keys in existingAnti.
	existingAntiKeys []string
}

// termMatches says whether the affinity term t selects pod.
func (p *Plugins) termMatches(t *framework.AffinityTerm, pod *corev1.Pod) bool {
	if !slices.Contains(t.Namespaces, pod.Namespace) {
		if t.NamespaceSelector == nil || labels.MatchesNothing(t.NamespaceSelector) || p.Namespaces == nil ||
			!t.NamespaceSelector.Matches(p.Namespaces(pod.Namespace)) {
			return false
		}
	}
	return t.Selector.Matches(labels.Set(pod.Labels))
}

func (p *Plugins) matchesAll(terms []framework.AffinityTerm, pod *corev1.Pod) bool {
	for i := range terms {
		if !p.termMatches(&terms[i], pod) {
			return false
		}
	}
	return true
}

// preFilterInterPod returns nil when neither the pod nor any pod in the
// cluster has a required (anti-)affinity term, so the filter costs nothing.
func (s *State) preFilterInterPod(_ context.Context) (*interPodState, *framework.Status) {
	pod := s.Pod
	withAnti := s.snapshot.WithRequiredAntiAffinity()
	if len(withAnti) == 0 && len(pod.RequiredAffinity) == 0 && len(pod.RequiredAntiAffinity) == 0 {
		return nil, nil
	}
	st := &interPodState{pod: pod, plugins: s.plugins, existingAnti: map[topoPair]int64{}, anti: map[topoPair]int64{}, affinity: map[topoPair]int64{}}
	for i := range pod.RequiredAntiAffinity {
		st.countAnti = st.countAnti || !byHost(&pod.RequiredAntiAffinity[i])
	}
	for _, n := range withAnti {
		for _, existing := range n.PodsWithRequiredAntiAffinity {
			for i := range existing.RequiredAntiAffinity {
				t := &existing.RequiredAntiAffinity[i]
				if byHost(t) {
					continue
				}
				if v, ok := n.Node.Labels[t.TopologyKey]; ok && s.plugins.termMatches(t, pod.Pod) {
					st.existingAnti[topoPair{t.TopologyKey, v}]++
					if !slices.Contains(st.existingAntiKeys, t.TopologyKey) {
						st.existingAntiKeys = append(st.existingAntiKeys, t.TopologyKey)
					}
				}
			}
		}
	}
	if len(pod.RequiredAffinity) > 0 || st.countAnti {
		for _, n := range s.snapshot.Nodes() {
			for _, existing := range n.Pods {
				st.countExisting(s.plugins, n, existing.Pod, 1)
			}
		}
	}
	return st, nil
}

// countExisting adds sign times what existing, on n, contributes to the
// incoming pod's affinity and anti-affinity counts.
func (st *interPodState) countExisting(p *Plugins, n *framework.NodeInfo, existing *corev1.Pod, sign int64) {
	terms := st.pod.RequiredAffinity
	if len(terms) > 0 && p.matchesAll(terms, existing) {
		for i := range terms {
			if v, ok := n.Node.Labels[terms[i].TopologyKey]; ok {
				st.affinity[topoPair{terms[i].TopologyKey, v}] += sign
			}
		}
	}
	for i := range st.pod.RequiredAntiAffinity {
		t := &st.pod.RequiredAntiAffinity[i]
		if byHost(t) {
			continue
		}
		if v, ok := n.Node.Labels[t.TopologyKey]; ok && p.termMatches(t, existing) {
			st.anti[topoPair{t.TopologyKey, v}] += sign
		}
	}
}

// byHost says whether a term's topology is the node itself.
func byHost(t *framework.AffinityTerm) bool { return t.TopologyKey == corev1.LabelHostname }

func (st *interPodState) filter(n *framework.NodeInfo) *framework.Status {
	labels := n.Node.Labels
	if terms := st.pod.RequiredAffinity; len(terms) > 0 {
		found := true
		for i := range terms {
			v, ok := labels[terms[i].TopologyKey]
			if !ok {
				return statusAffinity
			}
			if st.affinity[topoPair{terms[i].TopologyKey, v}] <= 0 {
				found = false
			}
		}
		// The first pod of a group with affinity to itself may go where
		// the topology keys exist, else the group could never start.
		if !found && !(len(st.affinity) == 0 && st.selfAffine()) {
			return statusAffinity
		}
	}
	_, hasHost := labels[corev1.LabelHostname]
	for i := range st.pod.RequiredAntiAffinity {
		t := &st.pod.RequiredAntiAffinity[i]
		if byHost(t) {
			if hasHost && st.anyPodMatches(t, n) {
				return statusAntiAffinity
			}
			continue
		}
		if v, ok := labels[t.TopologyKey]; ok && st.anti[topoPair{t.TopologyKey, v}] > 0 {
			return statusAntiAffinity
		}
	}
	for _, k := range st.existingAntiKeys {
		if v, ok := labels[k]; ok && st.existingAnti[topoPair{k, v}] > 0 {
			return statusExistingAnti
		}
	}
	if hasHost {
		for _, existing := range n.PodsWithRequiredAntiAffinity {
			for i := range existing.RequiredAntiAffinity {
				if t := &existing.RequiredAntiAffinity[i]; byHost(t) && st.plugins.termMatches(t, st.pod.Pod) {
					return statusExistingAnti
				}
			}
		}
	}
	return nil
}

func (st *interPodState) anyPodMatches(t *framework.AffinityTerm, n *framework.NodeInfo) bool {
	for _, p := range n.Pods {
		if st.plugins.termMatches(t, p.Pod) {
			return true
		}
	}
	return false
}

func (st *interPodState) selfAffine() bool {
	pod := st.pod.Pod
	for i := range st.pod.RequiredAffinity {
		t := &st.pod.RequiredAffinity[i]
		if !slices.Contains(t.Namespaces, pod.Namespace) || !t.Selector.Matches(labels.Set(pod.Labels)) {
			return false
		}
	}
	return true
}

// interPodScores computes the preferred inter-pod affinity score of each of
// nodes into out; it reports false when no pod has a term that could make a
// difference, and then leaves out alone.
func (s *State) interPodScores(nodes []*framework.NodeInfo, out []int64) bool {
	pod := s.Pod
	incoming := len(pod.PreferredAffinity) > 0 || len(pod.PreferredAntiAffinity) > 0
	source := s.snapshot.WithAffinity()
	if incoming {
		source = s.snapshot.Nodes()
	}
	if len(source) == 0 {
		return false
	}
	topo := map[topoPair]int64{}
	add := func(n *framework.NodeInfo, key string, w int64) {
		if v, ok := n.Node.Labels[key]; ok {
			topo[topoPair{key, v}] += w
		}
	}
	for _, n := range source {
		pods := n.PodsWithAffinity
		if incoming {
			pods = n.Pods
		}
		for _, existing := range pods {
			for i := range pod.PreferredAffinity {
				if t := &pod.PreferredAffinity[i]; s.plugins.termMatches(&t.AffinityTerm, existing.Pod) {
					add(n, t.TopologyKey, int64(t.Weight))
				}
			}
			for i := range pod.PreferredAntiAffinity {
				if t := &pod.PreferredAntiAffinity[i]; s.plugins.termMatches(&t.AffinityTerm, existing.Pod) {
					add(n, t.TopologyKey, -int64(t.Weight))
				}
			}
			// Existing pods' required affinity counts with upstream's
			// hardPodAffinityWeight of 1.
			for i := range existing.RequiredAffinity {
				if t := &existing.RequiredAffinity[i]; s.plugins.termMatches(t, pod.Pod) {
					add(n, t.TopologyKey, 1)
				}
			}
			for i := range existing.PreferredAffinity {
				if t := &existing.PreferredAffinity[i]; s.plugins.termMatches(&t.AffinityTerm, pod.Pod) {
					add(n, t.TopologyKey, int64(t.Weight))
				}
			}
			for i := range existing.PreferredAntiAffinity {
				if t := &existing.PreferredAntiAffinity[i]; s.plugins.termMatches(&t.AffinityTerm, pod.Pod) {
					add(n, t.TopologyKey, -int64(t.Weight))
				}
			}
		}
	}
	if len(topo) == 0 {
		return false
	}
	for i, n := range nodes {
		var sum int64
		for tp, w := range topo {
			if v, ok := n.Node.Labels[tp.key]; ok && v == tp.value {
				sum += w
			}
		}
		out[i] = sum
	}
	normalizeMinMax(out)
	return true
}
