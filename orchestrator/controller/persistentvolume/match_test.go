package persistentvolume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

type pvOption func(*corev1.PersistentVolume)

// newPV is an Available, unclaimed ReadWriteOnce volume of size with no class,
// retained when released, unless opts say otherwise.
func newPV(name, size string, opts ...pvOption) *corev1.PersistentVolume {
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, o := range opts {
		o(pv)
	}
	return pv
}

func pvClass(name string) pvOption {
	return func(pv *corev1.PersistentVolume) { pv.Spec.StorageClassName = name }
}

func pvModes(modes ...corev1.PersistentVolumeAccessMode) pvOption {
	return func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = modes }
}

func pvLabels(kv ...string) pvOption {
	return func(pv *corev1.PersistentVolume) {
		pv.Labels = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			pv.Labels[kv[i]] = kv[i+1]
		}
	}
}

func pvPhase(p corev1.PersistentVolumePhase) pvOption {
	return func(pv *corev1.PersistentVolume) { pv.Status.Phase = p }
}

func pvBlock(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock) }

func pvDeleting(pv *corev1.PersistentVolume) { pv.DeletionTimestamp = &metav1.Time{} }

// pvClaimRef reserves the volume for claim ns/name (uid "" for a reservation by
// name only).
func pvClaimRef(ns, name string, uid types.UID) pvOption {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: name, UID: uid}
	}
}

func pvOnNode(node string) pvOption {
	return func(pv *corev1.PersistentVolume) {
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
		}}}}
	}
}

func pvReclaim(p corev1.PersistentVolumeReclaimPolicy) pvOption {
	return func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = p }
}

func pvAnnotation(k, v string) pvOption {
	return func(pv *corev1.PersistentVolume) { metav1.SetMetaDataAnnotation(&pv.ObjectMeta, k, v) }
}

type claimOption func(*corev1.PersistentVolumeClaim)

// newClaim is a Pending ReadWriteOnce claim for size in namespace "work" that
// names no class, unless opts say otherwise.
func newClaim(name, size string, opts ...claimOption) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func claimClassName(name string) claimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr.To(name) }
}

func claimModes(modes ...corev1.PersistentVolumeAccessMode) claimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = modes }
}

func claimSelector(kv ...string) claimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			c.Spec.Selector.MatchLabels[kv[i]] = kv[i+1]
		}
	}
}

func claimBlock(c *corev1.PersistentVolumeClaim) {
	c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
}

func claimVolume(name string) claimOption {
	return func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = name }
}

func claimAnnotation(k, v string) claimOption {
	return func(c *corev1.PersistentVolumeClaim) { metav1.SetMetaDataAnnotation(&c.ObjectMeta, k, v) }
}

func TestBestMatch(t *testing.T) {
	rwo, rwx := corev1.ReadWriteOnce, corev1.ReadWriteMany
	nodeA := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelHostname: "node-a"}}}
	tests := []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		delay   bool
		node    *corev1.Node
		want    string // "" for no match
	}{
		{name: "the smallest volume that is large enough",
			claim:   newClaim("data", "2Gi"),
			volumes: []*corev1.PersistentVolume{newPV("tiny", "1Gi"), newPV("big", "10Gi"), newPV("mid", "5Gi")},
			want:    "mid"},
		{name: "an exact fit",
			claim:   newClaim("data", "5Gi"),
			volumes: []*corev1.PersistentVolume{newPV("big", "10Gi"), newPV("exact", "5Gi")},
			want:    "exact"},
		{name: "none large enough",
			claim:   newClaim("data", "20Gi"),
			volumes: []*corev1.PersistentVolume{newPV("big", "10Gi")}},
		{name: "equal volumes go by name",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("b", "5Gi"), newPV("a", "5Gi")},
			want:    "a"},
		{name: "the class must match",
			claim:   newClaim("data", "1Gi", claimClassName("fast")),
			volumes: []*corev1.PersistentVolume{newPV("plain", "1Gi"), newPV("slow", "1Gi", pvClass("slow")), newPV("fast", "9Gi", pvClass("fast"))},
			want:    "fast"},
		{name: "a claim without class takes only volumes without class",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("fast", "1Gi", pvClass("fast"))}},
		{name: "every access mode asked for must be offered",
			claim:   newClaim("data", "1Gi", claimModes(rwx)),
			volumes: []*corev1.PersistentVolume{newPV("rwo", "1Gi"), newPV("both", "9Gi", pvModes(rwo, rwx))},
			want:    "both"},
		{name: "fewer access modes before smaller size",
			claim:   newClaim("data", "5Gi"),
			volumes: []*corev1.PersistentVolume{newPV("both", "6Gi", pvModes(rwo, rwx)), newPV("rwo", "10Gi")},
			want:    "rwo"},
		{name: "the label selector must match",
			claim:   newClaim("data", "1Gi", claimSelector("tier", "gold")),
			volumes: []*corev1.PersistentVolume{newPV("bronze", "1Gi", pvLabels("tier", "bronze")), newPV("gold", "9Gi", pvLabels("tier", "gold"))},
			want:    "gold"},
		{name: "volumeMode must match",
			claim:   newClaim("data", "1Gi", claimBlock),
			volumes: []*corev1.PersistentVolume{newPV("fs", "1Gi"), newPV("block", "9Gi", pvBlock)},
			want:    "block"},
		{name: "only Available volumes",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("released", "1Gi", pvPhase(corev1.VolumeReleased)), newPV("failed", "1Gi", pvPhase(corev1.VolumeFailed))}},
		{name: "not volumes being deleted",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("going", "1Gi", pvDeleting)}},
		{name: "not volumes reserved for another claim",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("theirs", "1Gi", pvClaimRef("work", "other", ""))}},
		{name: "a volume reserved for the claim wins over a smaller one, class and selector aside",
			claim: newClaim("data", "1Gi", claimSelector("tier", "gold")),
			volumes: []*corev1.PersistentVolume{newPV("small", "1Gi", pvLabels("tier", "gold")),
				newPV("mine", "9Gi", pvClaimRef("work", "data", ""), pvClass("other"), pvPhase(corev1.VolumePending))},
			want: "mine"},
		{name: "a reservation for an older claim of the same name does not count",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("old", "1Gi", pvClaimRef("work", "data", "uid-gone"))}},
		{name: "a delayed claim without a node takes only a reserved volume",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("free", "1Gi"), newPV("mine", "5Gi", pvClaimRef("work", "data", "uid-data"))},
			delay:   true,
			want:    "mine"},
		{name: "a delayed claim without a node waits",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("free", "1Gi")},
			delay:   true},
		{name: "a delayed claim with a node takes a volume that node can reach",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("on-b", "1Gi", pvOnNode("node-b")), newPV("on-a", "5Gi", pvOnNode("node-a")), newPV("anywhere", "9Gi")},
			delay:   true, node: nodeA,
			want: "on-a"},
		{name: "a volume reserved for the claim on another node leaves it unmatched",
			claim:   newClaim("data", "1Gi"),
			volumes: []*corev1.PersistentVolume{newPV("mine", "1Gi", pvOnNode("node-b"), pvClaimRef("work", "data", "")), newPV("anywhere", "9Gi")},
			delay:   true, node: nodeA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pv, err := bestMatch(tt.claim, tt.volumes, tt.delay, tt.node)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if pv != nil {
				got = pv.Name
			}
			if got != tt.want {
				t.Errorf("matched %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodeAffinityAdmits(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{"zone": "z1", "disks": "4"}}}
	term := func(reqs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: reqs}
	}
	req := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
	}
	tests := []struct {
		name  string
		terms []corev1.NodeSelectorTerm
		want  bool
	}{
		{"in", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpIn, "z1", "z2"))}, true},
		{"not in", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpNotIn, "z1"))}, false},
		{"exists and greater than, ANDed", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpExists), req("disks", corev1.NodeSelectorOpGt, "3"))}, true},
		{"one requirement fails the term", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpExists), req("disks", corev1.NodeSelectorOpLt, "3"))}, false},
		{"terms are ORed", []corev1.NodeSelectorTerm{term(req("zone", corev1.NodeSelectorOpIn, "z9")), term(req("ssd", corev1.NodeSelectorOpDoesNotExist))}, true},
		{"an empty term matches nothing", []corev1.NodeSelectorTerm{{}}, false},
		{"by node name", []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpIn, "node-a")}}}, true},
		{"by another node's name", []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req("metadata.name", corev1.NodeSelectorOpIn, "node-b")}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pv := newPV("pv", "1Gi")
			pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: tt.terms}}
			if got := nodeAffinityAdmits(pv, node); got != tt.want {
				t.Errorf("admits = %v, want %v", got, tt.want)
			}
		})
	}
}
