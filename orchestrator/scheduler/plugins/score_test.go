package plugins

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

func TestResourceScores(t *testing.T) {
	// A node of 4 cpu and 8Gi running 1 cpu and 1Gi; the pod asks 1 cpu, 3Gi.
	n := framework.NewNodeInfo(makeNode("n", "4", "8Gi"), framework.NewPodInfo(makePod("e", req("cpu", "1", "memory", "1Gi"))))
	p := framework.NewPodInfo(makePod("p", req("cpu", "1", "memory", "3Gi")))
	// cpu (4-2)/4 = 50, memory (8-4)/8 = 50.
	if got := LeastAllocated(p, n); got != 50 {
		t.Errorf("LeastAllocated = %d, want 50", got)
	}
	// Fractions 0.5 and 0.5: perfectly balanced.
	if got := BalancedAllocation(p, n); got != 100 {
		t.Errorf("BalancedAllocation = %d, want 100", got)
	}
	// cpu 2/4 = 0.5 and memory 1/8: std = 0.1875, score 81.
	p = framework.NewPodInfo(makePod("p", req("cpu", "1")))
	if got := BalancedAllocation(p, n); got != 81 {
		t.Errorf("BalancedAllocation = %d, want 81", got)
	}
	// A pod without requests counts as 100m and 200Mi when scoring.
	p = framework.NewPodInfo(makePod("p", nil))
	if got, want := LeastAllocated(p, n), int64((((4000-1100)*100/4000)+((8192-1224)*100/8192))/2); got != want {
		t.Errorf("LeastAllocated without requests = %d, want %d", got, want)
	}
}

// scores runs PreFilter and Score over every node of snap.
func scores(t *testing.T, pod *corev1.Pod, snap *framework.Snapshot) map[string]int64 {
	t.Helper()
	state, st := (&Plugins{}).PreFilter(t.Context(), framework.NewPodInfo(pod), snap)
	if st != nil {
		t.Fatal(st.Message())
	}
	nodes := snap.Nodes()
	total := make([]int64, len(nodes))
	state.Score(t.Context(), 2, nodes, total)
	out := map[string]int64{}
	for i, n := range nodes {
		out[n.Name] = total[i]
	}
	return out
}

func TestScores(t *testing.T) {
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		// better lists node names from the best score to the worst.
		better []string
	}{
		{
			name:  "NodeAffinity preferred",
			nodes: []*corev1.Node{makeNode("a", "4", "8Gi", withLabels("disk", "ssd")), makeNode("b", "4", "8Gi")},
			pod: makePod("p", nil, func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}},
				}}}}
			}),
			better: []string{"a", "b"},
		},
		{
			name:   "TaintToleration PreferNoSchedule",
			nodes:  []*corev1.Node{makeNode("a", "4", "8Gi", withTaint("x", "", corev1.TaintEffectPreferNoSchedule)), makeNode("b", "4", "8Gi")},
			pod:    makePod("p", nil),
			better: []string{"b", "a"},
		},
		{
			name:     "InterPodAffinity preferred",
			nodes:    []*corev1.Node{makeNode("a", "4", "8Gi", withLabels("zone", "z1")), makeNode("b", "4", "8Gi", withLabels("zone", "z2"))},
			existing: []*corev1.Pod{makePod("cache", nil, onNode("b"), podLabels("app", "cache"))},
			pod: makePod("p", nil, func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
					Weight: 50, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cache"}}, TopologyKey: "zone"},
				}}}}
			}),
			better: []string{"b", "a"},
		},
		{
			name:  "PodTopologySpread ScheduleAnyway",
			nodes: []*corev1.Node{makeNode("a", "4", "8Gi", withLabels("zone", "z1")), makeNode("b", "4", "8Gi", withLabels("zone", "z2"))},
			existing: []*corev1.Pod{
				makePod("w1", nil, onNode("a"), podLabels("app", "web")),
				makePod("w2", nil, onNode("a"), podLabels("app", "web")),
			},
			pod:    makePod("p", nil, podLabels("app", "web"), spread("zone", 1, corev1.ScheduleAnyway, nil)),
			better: []string{"b", "a"},
		},
		{
			name:  "replicas of one owner spread by default",
			nodes: []*corev1.Node{makeNode("a", "4", "8Gi"), makeNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{
				makePod("r1", nil, onNode("a"), ownedBy("rs-1")),
				makePod("r2", nil, onNode("a"), ownedBy("rs-1")),
				makePod("other1", nil, onNode("b"), ownedBy("rs-2")),
				makePod("other2", nil, onNode("b"), ownedBy("rs-2")),
			},
			pod:    makePod("p", nil, ownedBy("rs-1")),
			better: []string{"b", "a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scores(t, tc.pod, cluster(tc.nodes, tc.existing...))
			for i := 1; i < len(tc.better); i++ {
				if hi, lo := got[tc.better[i-1]], got[tc.better[i]]; hi <= lo {
					t.Errorf("score of %s (%d) is not above %s (%d)", tc.better[i-1], hi, tc.better[i], lo)
				}
			}
		})
	}
}

func ownedBy(uid string) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: uid, UID: k8stypes.UID("uid-" + uid), Controller: ptr.To(true)}}
	}
}

func TestNormalize(t *testing.T) {
	s := []int64{0, 5, 10}
	normalize(s, false)
	if diff := cmp.Diff([]int64{0, 50, 100}, s); diff != "" {
		t.Errorf("normalize (-want +got):\n%s", diff)
	}
	s = []int64{0, 1, 2}
	normalize(s, true)
	if diff := cmp.Diff([]int64{100, 50, 0}, s); diff != "" {
		t.Errorf("normalize reverse (-want +got):\n%s", diff)
	}
	s = []int64{-10, 0, 10}
	normalizeMinMax(s)
	if diff := cmp.Diff([]int64{0, 50, 100}, s); diff != "" {
		t.Errorf("normalizeMinMax (-want +got):\n%s", diff)
	}
}
