package persistentvolume

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// annBetaClass named a claim's or a volume's class before storageClassName
// existed; where present it still wins, as upstream.
const annBetaClass = "volume.beta.kubernetes.io/storage-class"

// claimClass is the class a claim asks for, "" for none.
func claimClass(claim *corev1.PersistentVolumeClaim) string {
	if c, ok := claim.Annotations[annBetaClass]; ok {
		return c
	}
	if claim.Spec.StorageClassName != nil {
		return *claim.Spec.StorageClassName
	}
	return ""
}

// volumeClass is the class a volume belongs to, "" for none.
func volumeClass(pv *corev1.PersistentVolume) string {
	if c, ok := pv.Annotations[annBetaClass]; ok {
		return c
	}
	return pv.Spec.StorageClassName
}

// boundTo reports whether the volume's claimRef names the claim: by namespace and
// name, and by UID unless the reference (a user's pre-binding) has none yet.
func boundTo(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) bool {
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Namespace != claim.Namespace || ref.Name != claim.Name {
		return false
	}
	return ref.UID == "" || ref.UID == claim.UID
}

// modeMismatch reports whether claim and volume differ in volumeMode (unset
// means Filesystem on both sides).
func modeMismatch(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) bool {
	mode := func(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
		if m == nil {
			return corev1.PersistentVolumeFilesystem
		}
		return *m
	}
	return mode(claim.Spec.VolumeMode) != mode(pv.Spec.VolumeMode)
}

// hasAccessModes reports whether the volume offers every access mode the claim
// asks for.
func hasAccessModes(claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) bool {
	for _, m := range claim.Spec.AccessModes {
		if !slices.Contains(pv.Spec.AccessModes, m) {
			return false
		}
	}
	return true
}

// attributesClass is the VolumeAttributesClass a claim or volume names, "" for none.
func attributesClass(name *string) string {
	if name == nil {
		return ""
	}
	return *name
}

// satisfies checks a volume a claim asked for by name (spec.volumeName): the
// claim's selector does not apply then, everything else does. The error is the
// reason, worded as upstream's VolumeMismatch event.
func satisfies(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	if pv.DeletionTimestamp != nil {
		return fmt.Errorf("the volume is marked for deletion %q", pv.Name)
	}
	want, have := claim.Spec.Resources.Requests[corev1.ResourceStorage], pv.Spec.Capacity[corev1.ResourceStorage]
	if have.Cmp(want) < 0 {
		return errors.New("requested PV is too small")
	}
	if volumeClass(pv) != claimClass(claim) {
		return errors.New("storageClassName does not match")
	}
	if attributesClass(pv.Spec.VolumeAttributesClassName) != attributesClass(claim.Spec.VolumeAttributesClassName) {
		return errors.New("volumeAttributesClassName does not match")
	}
	if modeMismatch(claim, pv) {
		return errors.New("incompatible volumeMode")
	}
	if !hasAccessModes(claim, pv) {
		return errors.New("incompatible accessMode")
	}
	return nil
}

// bestMatch picks the volume to bind an unbound claim without spec.volumeName to,
// or nil for none:
//
//   - a volume whose claimRef already names the claim (pre-bound by a user or a
//     provisioner) wins over any other, if it offers what the claim asks for;
//   - otherwise an Available, unclaimed volume of the claim's class (and
//     attributes class), volumeMode and label selector, offering the claim's
//     access modes and at least its requested capacity: the one with the fewest
//     access modes, then the smallest, then the first by name. For example a
//     claim for 5Gi ReadWriteOnce takes a 10Gi RWO volume over a 6Gi RWO+RWX one
//     (fewer modes first), and a 6Gi RWO one over both.
//
// delay says the claim's class waits for a consumer: without a node only
// pre-bound volumes are taken, with one only volumes whose node affinity admits
// it. node is nil unless delay.
func bestMatch(claim *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume, delay bool, node *corev1.Node) (*corev1.PersistentVolume, error) {
	var selector labels.Selector
	if claim.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(claim.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("parsing the label selector of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		selector = s
	}
	want := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	var candidates []*corev1.PersistentVolume
	for _, pv := range volumes {
		if pv.Spec.ClaimRef != nil && !boundTo(pv, claim) {
			continue
		}
		size := pv.Spec.Capacity[corev1.ResourceStorage]
		if size.Cmp(want) < 0 || modeMismatch(claim, pv) || pv.DeletionTimestamp != nil || !hasAccessModes(claim, pv) {
			continue
		}
		fits := node == nil || nodeAffinityAdmits(pv, node)
		if boundTo(pv, claim) {
			if !fits {
				// The volume meant for this claim is elsewhere: nothing else will do.
				return nil, nil
			}
			return pv, nil
		}
		if delay && node == nil {
			continue
		}
		if pv.Status.Phase != corev1.VolumeAvailable || !fits ||
			(selector != nil && !selector.Matches(labels.Set(pv.Labels))) ||
			volumeClass(pv) != claimClass(claim) ||
			attributesClass(pv.Spec.VolumeAttributesClassName) != attributesClass(claim.Spec.VolumeAttributesClassName) {
			continue
		}
		candidates = append(candidates, pv)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	sort.Slice(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if len(a.Spec.AccessModes) != len(b.Spec.AccessModes) {
			return len(a.Spec.AccessModes) < len(b.Spec.AccessModes)
		}
		sa, sb := a.Spec.Capacity[corev1.ResourceStorage], b.Spec.Capacity[corev1.ResourceStorage]
		if c := sa.Cmp(sb); c != 0 {
			return c < 0
		}
		return a.Name < b.Name
	})
	return candidates[0], nil
}

// nodeAffinityAdmits reports whether a volume may be used on node: it has no
// required node affinity, or one of its terms (ORed) holds for the node's labels
// and name. A malformed term holds for no node.
func nodeAffinityAdmits(pv *corev1.PersistentVolume, node *corev1.Node) bool {
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil {
		return true
	}
	ok, err := corev1helpers.MatchNodeSelectorTerms(node, na.Required)
	return err == nil && ok
}
