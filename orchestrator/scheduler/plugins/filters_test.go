package plugins

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

func TestFilters(t *testing.T) {
	small, big := makeNode("small", "1", "1Gi"), makeNode("big", "8", "16Gi")
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		want     map[string]string
	}{
		{
			name:  "NodeResourcesFit cpu and memory",
			nodes: []*corev1.Node{small, big},
			pod:   makePod("p", req("cpu", "2", "memory", "2Gi")),
			want:  map[string]string{"small": "Insufficient cpu, Insufficient memory", "big": ""},
		},
		{
			name:     "NodeResourcesFit counts existing pods",
			nodes:    []*corev1.Node{small},
			existing: []*corev1.Pod{makePod("e", req("cpu", "700m"), onNode("small"))},
			pod:      makePod("p", req("cpu", "400m")),
			want:     map[string]string{"small": "Insufficient cpu"},
		},
		{
			name:  "NodeResourcesFit init containers and overhead",
			nodes: []*corev1.Node{small},
			pod: makePod("p", req("cpu", "100m"), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: req("cpu", "900m")}}}
				p.Spec.Overhead = req("cpu", "200m")
			}),
			want: map[string]string{"small": "Insufficient cpu"},
		},
		{
			name:  "NodeResourcesFit extended resources and ephemeral storage",
			nodes: []*corev1.Node{makeNode("gpu", "4", "4Gi", withAllocatable("example.com/gpu", "1"), withAllocatable("ephemeral-storage", "10Gi")), makeNode("plain", "4", "4Gi")},
			pod:   makePod("p", req("example.com/gpu", "1", "ephemeral-storage", "20Gi")),
			want:  map[string]string{"gpu": "Insufficient ephemeral-storage", "plain": "Insufficient ephemeral-storage, Insufficient example.com/gpu"},
		},
		{
			name:     "NodeResourcesFit pod count",
			nodes:    []*corev1.Node{makeNode("one", "4", "4Gi", withAllocatable("pods", "1"))},
			existing: []*corev1.Pod{makePod("e", nil, onNode("one"))},
			pod:      makePod("p", nil),
			want:     map[string]string{"one": "Too many pods"},
		},
		{
			name:  "NodeName",
			nodes: []*corev1.Node{small, big},
			pod:   makePod("p", nil, onNode("big")),
			want:  map[string]string{"small": ReasonNodeName, "big": ""},
		},
		{
			name:  "NodeUnschedulable",
			nodes: []*corev1.Node{makeNode("cordoned", "1", "1Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true }), big},
			pod:   makePod("p", nil),
			want:  map[string]string{"cordoned": ReasonUnschedulable, "big": ""},
		},
		{
			name:  "NodeUnschedulable tolerated",
			nodes: []*corev1.Node{makeNode("cordoned", "1", "1Gi", func(n *corev1.Node) { n.Spec.Unschedulable = true })},
			pod: makePod("p", nil, func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			}),
			want: map[string]string{"cordoned": ""},
		},
		{
			name: "TaintToleration NoSchedule and NoExecute, PreferNoSchedule ignored",
			nodes: []*corev1.Node{
				makeNode("db", "1", "1Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)),
				makeNode("evict", "1", "1Gi", withTaint("x", "", corev1.TaintEffectNoExecute)),
				makeNode("soft", "1", "1Gi", withTaint("y", "", corev1.TaintEffectPreferNoSchedule)),
				makeNode("notready", "1", "1Gi", func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }),
			},
			pod:  makePod("p", nil),
			want: map[string]string{"db": ReasonTaints, "evict": ReasonTaints, "soft": "", "notready": ReasonTaints},
		},
		{
			name:  "TaintToleration tolerated",
			nodes: []*corev1.Node{makeNode("db", "1", "1Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule))},
			pod: makePod("p", nil, func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db"}}
			}),
			want: map[string]string{"db": ""},
		},
		{
			name:  "NodeAffinity nodeSelector",
			nodes: []*corev1.Node{makeNode("ssd", "1", "1Gi", withLabels("disk", "ssd")), small},
			pod:   makePod("p", nil, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			want:  map[string]string{"ssd": "", "small": ReasonNodeAffinity},
		},
		{
			name:  "NodeAffinity required expressions and matchFields",
			nodes: []*corev1.Node{makeNode("a", "1", "1Gi", withLabels("gen", "5")), makeNode("b", "1", "1Gi", withLabels("gen", "2")), makeNode("c", "1", "1Gi")},
			pod: makePod("p", nil, func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{
						{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "gen", Operator: corev1.NodeSelectorOpGt, Values: []string{"3"}}}},
						{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"c"}}}},
					},
				}}}
			}),
			want: map[string]string{"a": "", "b": ReasonNodeAffinity, "c": ""},
		},
		{
			name:     "NodePorts",
			nodes:    []*corev1.Node{small, big},
			existing: []*corev1.Pod{makePod("e", nil, onNode("small"), hostPort(8080))},
			pod:      makePod("p", nil, hostPort(8080)),
			want:     map[string]string{"small": ReasonNodePorts, "big": ""},
		},
		{
			name:     "InterPodAffinity required affinity by zone",
			nodes:    []*corev1.Node{makeNode("a", "1", "1Gi", withLabels("zone", "z1")), makeNode("b", "1", "1Gi", withLabels("zone", "z1")), makeNode("c", "1", "1Gi", withLabels("zone", "z2")), makeNode("d", "1", "1Gi")},
			existing: []*corev1.Pod{makePod("db", nil, onNode("a"), podLabels("app", "db"))},
			pod:      makePod("p", nil, podAffinity(false, "zone", "app", "db")),
			want:     map[string]string{"a": "", "b": "", "c": ReasonAffinity, "d": ReasonAffinity},
		},
		{
			name:  "InterPodAffinity the first pod of a self-affine group",
			nodes: []*corev1.Node{makeNode("a", "1", "1Gi", withLabels("zone", "z1")), makeNode("d", "1", "1Gi")},
			pod:   makePod("p", nil, podLabels("app", "web"), podAffinity(false, "zone", "app", "web")),
			want:  map[string]string{"a": "", "d": ReasonAffinity},
		},
		{
			name:     "InterPodAffinity required anti-affinity by hostname",
			nodes:    []*corev1.Node{small, big},
			existing: []*corev1.Pod{makePod("web-1", nil, onNode("small"), podLabels("app", "web"))},
			pod:      makePod("p", nil, podLabels("app", "web"), podAffinity(true, corev1.LabelHostname, "app", "web")),
			want:     map[string]string{"small": ReasonAntiAffinity, "big": ""},
		},
		{
			name:     "InterPodAffinity required anti-affinity by zone",
			nodes:    []*corev1.Node{makeNode("a", "1", "1Gi", withLabels("zone", "z1")), makeNode("b", "1", "1Gi", withLabels("zone", "z1")), makeNode("c", "1", "1Gi", withLabels("zone", "z2"))},
			existing: []*corev1.Pod{makePod("web-1", nil, onNode("a"), podLabels("app", "web"))},
			pod:      makePod("p", nil, podLabels("app", "web"), podAffinity(true, "zone", "app", "web")),
			want:     map[string]string{"a": ReasonAntiAffinity, "b": ReasonAntiAffinity, "c": ""},
		},
		{
			name:     "InterPodAffinity existing pods' anti-affinity by zone",
			nodes:    []*corev1.Node{makeNode("a", "1", "1Gi", withLabels("zone", "z1")), makeNode("b", "1", "1Gi", withLabels("zone", "z1")), makeNode("c", "1", "1Gi", withLabels("zone", "z2"))},
			existing: []*corev1.Pod{makePod("loner", nil, onNode("a"), podAffinity(true, "zone", "app", "web"))},
			pod:      makePod("p", nil, podLabels("app", "web")),
			want:     map[string]string{"a": ReasonExistingAntiAffinity, "b": ReasonExistingAntiAffinity, "c": ""},
		},
		{
			name:     "InterPodAffinity existing pods' anti-affinity",
			nodes:    []*corev1.Node{small, big},
			existing: []*corev1.Pod{makePod("loner", nil, onNode("big"), podAffinity(true, corev1.LabelHostname, "app", "web"))},
			pod:      makePod("p", nil, podLabels("app", "web")),
			want:     map[string]string{"small": "", "big": ReasonExistingAntiAffinity},
		},
		{
			name: "PodTopologySpread maxSkew",
			nodes: []*corev1.Node{
				makeNode("a", "1", "1Gi", withLabels("zone", "z1")), makeNode("b", "1", "1Gi", withLabels("zone", "z2")), makeNode("c", "1", "1Gi"),
			},
			existing: []*corev1.Pod{
				makePod("w1", nil, onNode("a"), podLabels("app", "web")),
				makePod("w2", nil, onNode("a"), podLabels("app", "web")),
				makePod("w3", nil, onNode("b"), podLabels("app", "web")),
			},
			pod:  makePod("p", nil, podLabels("app", "web"), spread("zone", 1, corev1.DoNotSchedule, nil)),
			want: map[string]string{"a": ReasonSpread, "b": "", "c": ReasonSpreadMissingLabel},
		},
		{
			name: "PodTopologySpread minDomains counts missing domains as empty",
			nodes: []*corev1.Node{
				makeNode("a", "1", "1Gi", withLabels("zone", "z1")), makeNode("b", "1", "1Gi", withLabels("zone", "z2")),
			},
			existing: []*corev1.Pod{makePod("w1", nil, onNode("a"), podLabels("app", "web")), makePod("w2", nil, onNode("b"), podLabels("app", "web"))},
			pod:      makePod("p", nil, podLabels("app", "web"), spread("zone", 1, corev1.DoNotSchedule, ptr.To[int32](3))),
			want:     map[string]string{"a": ReasonSpread, "b": ReasonSpread},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := filter(t, &Plugins{}, tc.pod, cluster(tc.nodes, tc.existing...))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reasons per node (-want +got):\n%s", diff)
			}
		})
	}
}

func hostPort(port int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: port, HostPort: port})
	}
}

func podAffinity(anti bool, topologyKey, key, value string) podOpt {
	return func(p *corev1.Pod) {
		term := []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{key: value}},
			TopologyKey:   topologyKey,
		}}
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		if anti {
			p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: term}
		} else {
			p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: term}
		}
	}
}

func spread(key string, maxSkew int32, action corev1.UnsatisfiableConstraintAction, minDomains *int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
			MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: action, MinDomains: minDomains,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": p.Labels["app"]}},
		})
	}
}

// fakeVolumes serves claims and volumes from maps.
type fakeVolumes struct {
	claims  map[string]*corev1.PersistentVolumeClaim
	volumes map[string]*corev1.PersistentVolume
}

func (f fakeVolumes) Claim(_, name string) (*corev1.PersistentVolumeClaim, error) {
	if c, ok := f.claims[name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "persistentvolumeclaims"}, name)
}

func (f fakeVolumes) Volume(name string) (*corev1.PersistentVolume, error) {
	if v, ok := f.volumes[name]; ok {
		return v, nil
	}
	return nil, errors.New("no such volume")
}

func TestVolumeBinding(t *testing.T) {
	local := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-local"},
		Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"a"},
			}}}},
		}}},
	}
	volumes := fakeVolumes{
		claims: map[string]*corev1.PersistentVolumeClaim{
			"bound":   {ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-local"}},
			"unbound": {ObjectMeta: metav1.ObjectMeta{Name: "unbound"}},
		},
		volumes: map[string]*corev1.PersistentVolume{"pv-local": local},
	}
	withClaim := func(name string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name},
			}})
		}
	}
	nodes := []*corev1.Node{makeNode("a", "1", "1Gi"), makeNode("b", "1", "1Gi")}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want map[string]string
	}{
		{"bound claim follows the volume's node affinity", makePod("p", nil, withClaim("bound")), map[string]string{"a": "", "b": ReasonVolumeAffinity}},
		{"unbound claim is left to the binder", makePod("p", nil, withClaim("unbound")), map[string]string{"a": "", "b": ""}},
		{"missing claim", makePod("p", nil, withClaim("gone")), map[string]string{"prefilter": `persistentvolumeclaim "gone" not found`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := filter(t, &Plugins{Volumes: volumes}, tc.pod, cluster(nodes))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reasons per node (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFilterCodes checks which failures preemption may resolve.
func TestFilterCodes(t *testing.T) {
	snap := cluster([]*corev1.Node{makeNode("small", "1", "1Gi"), makeNode("db", "8", "8Gi", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule))})
	state, st := (&Plugins{}).PreFilter(t.Context(), framework.NewPodInfo(makePod("p", req("cpu", "2"))), snap)
	if st != nil {
		t.Fatal(st.Message())
	}
	if got := state.Filter(snap.Get("small")); got.CodeOf() != framework.Unschedulable || got.Plugin != framework.NodeResourcesFit {
		t.Errorf("small: got %+v, want Unschedulable by NodeResourcesFit", got)
	}
	if got := state.Filter(snap.Get("db")); got.CodeOf() != framework.UnschedulableAndUnresolvable || got.Plugin != framework.TaintToleration {
		t.Errorf("db: got %+v, want UnschedulableAndUnresolvable by TaintToleration", got)
	}
}
