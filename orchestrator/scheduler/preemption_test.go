package scheduler

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	"berth.dev/berth/orchestrator/scheduler/framework"
	"berth.dev/berth/orchestrator/scheduler/plugins"
)

func onNode(p *corev1.Pod, node string, labels ...string) *corev1.Pod {
	p.Spec.NodeName = node
	p.Labels = map[string]string{}
	for i := 0; i < len(labels); i += 2 {
		p.Labels[labels[i]] = labels[i+1]
	}
	return p
}

// candidates runs selectVictims on every node for pod.
func candidates(t *testing.T, pod *corev1.Pod, nodes []*corev1.Node, pods []*corev1.Pod, budgets []budget) ([]*candidate, map[string]string) {
	t.Helper()
	infos := map[string]*framework.NodeInfo{}
	var list []*framework.NodeInfo
	for _, n := range nodes {
		infos[n.Name] = framework.NewNodeInfo(n)
		list = append(list, infos[n.Name])
	}
	for _, p := range pods {
		infos[p.Spec.NodeName].AddPod(framework.NewPodInfo(p))
	}
	snap := framework.NewSnapshot(list...)
	state, st := (&plugins.Plugins{}).PreFilter(context.Background(), framework.NewPodInfo(pod), snap)
	if st != nil {
		t.Fatal(st.Message())
	}
	var out []*candidate
	reasons := map[string]string{}
	for _, n := range snap.Nodes() {
		c, st := selectVictims(state, n, budgets)
		reasons[n.Name] = st.Message()
		out = append(out, c)
	}
	return out, reasons
}

func victimNames(c *candidate) []string {
	var names []string
	for _, v := range c.victims {
		names = append(names, v.Pod.Name)
	}
	return names
}

func TestSelectVictims(t *testing.T) {
	nodes := []*corev1.Node{testNode("n1", "2"), testNode("n2", "2"), testNode("n3", "2")}
	pods := []*corev1.Pod{
		// n1: one big low-priority pod does it.
		onNode(testPod("n1-big", "1500m", 10), "n1"),
		// n2: two small pods of lower priority must both go.
		onNode(testPod("n2-a", "1100m", 1), "n2"), onNode(testPod("n2-b", "1100m", 2), "n2"),
		// n3: only pods of equal or higher priority.
		onNode(testPod("n3-peer", "2", 100), "n3"),
	}
	cs, reasons := candidates(t, testPod("preemptor", "1", 100), nodes, pods, nil)
	if diff := cmp.Diff(map[string]string{"n1": "", "n2": "", "n3": ReasonNoVictims}, reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	got := map[string][]string{}
	for _, c := range cs {
		if c != nil {
			got[c.node] = victimNames(c)
		}
	}
	if diff := cmp.Diff(map[string][]string{"n1": {"n1-big"}, "n2": {"n2-b", "n2-a"}}, got); diff != "" {
		t.Errorf("victims (-want +got):\n%s", diff)
	}
	// n2's highest victim (2) is below n1's (10).
	if best := pickCandidate(cs); best.node != "n2" {
		t.Errorf("picked %s, want n2 (lowest highest-priority victim)", best.node)
	}
}

func TestSelectVictimsRespectsBudgets(t *testing.T) {
	nodes := []*corev1.Node{testNode("n1", "2"), testNode("n2", "2")}
	pods := []*corev1.Pod{
		onNode(testPod("guarded", "1500m", 0), "n1", "app", "db"),
		onNode(testPod("free", "1500m", 5), "n2", "app", "web"),
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db"},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	}
	b, ok := newBudget(pdb)
	if !ok {
		t.Fatal("budget not parsed")
	}
	cs, _ := candidates(t, testPod("preemptor", "1", 100), nodes, pods, []budget{b})
	best := pickCandidate(cs)
	if best == nil || best.node != "n2" {
		t.Fatalf("picked %+v, want n2: n1's victim violates a budget", best)
	}
	i := slices.IndexFunc(cs, func(c *candidate) bool { return c != nil && c.node == "n1" })
	if cs[i].pdbViolations != 1 {
		t.Errorf("n1 violations = %d, want 1", cs[i].pdbViolations)
	}
}

func TestPickCandidateOrder(t *testing.T) {
	victim := func(prio int32) *framework.PodInfo {
		return framework.NewPodInfo(testPod("v", "1", prio))
	}
	tests := []struct {
		name string
		a, b *candidate // a must win
	}{
		{"fewer budget violations", &candidate{node: "a", victims: []*framework.PodInfo{victim(50)}}, &candidate{node: "b", victims: []*framework.PodInfo{victim(1)}, pdbViolations: 1}},
		{"lower highest priority", &candidate{node: "a", victims: []*framework.PodInfo{victim(5), victim(5)}}, &candidate{node: "b", victims: []*framework.PodInfo{victim(6)}}},
		{"smaller priority sum", &candidate{node: "a", victims: []*framework.PodInfo{victim(5), victim(-10)}}, &candidate{node: "b", victims: []*framework.PodInfo{victim(5), victim(1)}}},
		{"fewer victims", &candidate{node: "a", victims: []*framework.PodInfo{victim(5)}}, &candidate{node: "b", victims: []*framework.PodInfo{victim(5), victim(-2147483648)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pickCandidate([]*candidate{tc.b, nil, tc.a}); got != tc.a {
				t.Errorf("picked %s, want a", got.node)
			}
		})
	}
}

func TestNominatedPodsKeepTheirRoom(t *testing.T) {
	s := newScheduler(nopAPI{}, &record.FakeRecorder{}, Config{}, &plugins.Plugins{})
	s.cache.AddNode(testNode("n1", "2"))
	s.cache.UpdateSnapshot(s.snapshot)
	s.nominated.add(framework.NewPodInfo(testPod("preemptor", "1500m", 100)), "n1")

	_, err := s.schedulePod(context.Background(), framework.NewPodInfo(testPod("low", "1", 0)))
	if err == nil || err.Error() != "0/1 nodes are available: 1 Insufficient cpu." {
		t.Errorf("a lower-priority pod: got %v, want it kept out of the nominated room", err)
	}
	res, err := s.schedulePod(context.Background(), framework.NewPodInfo(testPod("higher", "1", 200)))
	if err != nil || res.node != "n1" {
		t.Errorf("a higher-priority pod: got %q, %v; want n1", res.node, err)
	}
	s.nominated.remove("uid-preemptor")
	if res, err := s.schedulePod(context.Background(), framework.NewPodInfo(testPod("low", "1", 0))); err != nil || res.node != "n1" {
		t.Errorf("after the nomination ended: got %q, %v; want n1", res.node, err)
	}
}

func TestPreemptionMessage(t *testing.T) {
	s := newScheduler(nopAPI{}, &record.FakeRecorder{}, Config{}, &plugins.Plugins{})
	tainted := testNode("tainted", "4")
	tainted.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	s.cache.AddNode(tainted)
	s.cache.AddNode(testNode("full", "2"))
	s.cache.SetPod(onNode(testPod("peer", "2", 10), "full"))
	s.cache.UpdateSnapshot(s.snapshot)

	info := framework.NewPodInfo(testPod("p", "1", 10))
	res, err := s.schedulePod(context.Background(), info)
	fitErr, ok := err.(*framework.FitError)
	if !ok {
		t.Fatalf("got %v, want a FitError", err)
	}
	fitErr.PostFilterMsg = s.preempt(context.Background(), info, res.state, fitErr)
	want := "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint(s). " +
		"preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
	if got := fitErr.Error(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestPodLimitedToNamedNodes(t *testing.T) {
	s := newScheduler(nopAPI{}, &record.FakeRecorder{}, Config{}, &plugins.Plugins{})
	for _, n := range []*corev1.Node{testNode("n1", "4"), testNode("n2", "1"), testNode("n3", "4")} {
		s.cache.AddNode(n)
	}
	s.cache.UpdateSnapshot(s.snapshot)
	daemon := testPod("daemon", "2", 0)
	daemon.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n2"}}}}},
	}}}
	_, err := s.schedulePod(context.Background(), framework.NewPodInfo(daemon))
	want := "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]."
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	daemon.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchFields[0].Values = []string{"n3"}
	if res, err := s.schedulePod(context.Background(), framework.NewPodInfo(daemon)); err != nil || res.node != "n3" {
		t.Errorf("got %q, %v; want n3", res.node, err)
	}
}
