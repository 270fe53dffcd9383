package statefulset

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// The labels that give a pod its identity: a Service can select one member by
// name, and the pod can read its ordinal.
const (
	podNameLabel  = appsv1.StatefulSetPodNameLabel // statefulset.kubernetes.io/pod-name
	podIndexLabel = appsv1.PodIndexLabel           // apps.kubernetes.io/pod-index
)

var memberName = regexp.MustCompile(`^(.*)-([0-9]+)$`)

// ordinalOf returns the set a pod's name says it belongs to and its ordinal,
// ok false when the name has no ordinal.
func ordinalOf(pod *corev1.Pod) (parent string, ordinal int, ok bool) {
	m := memberName.FindStringSubmatch(pod.Name)
	if m == nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(m[2])
	if err != nil {
		return "", 0, false
	}
	return m[1], n, true
}

func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, _, ok := ordinalOf(pod)
	return ok && parent == set.Name
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// claimName is the claim of template for ordinal: it outlives the pod, and a
// pod of the same ordinal finds it again.
func claimName(set *appsv1.StatefulSet, template string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template, set.Name, ordinal)
}

// newPod is the member ordinal of set, from set's template, labeled with
// revision.
func newPod(set *appsv1.StatefulSet, ordinal int, revision string) *corev1.Pod {
	pod := podcontrol.PodFromTemplate(&set.Spec.Template, set.Namespace, metav1.NewControllerRef(set, controllerKind))
	pod.GenerateName = ""
	pod.Name = podName(set, ordinal)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = revision
	setIdentity(set, pod)
	setStorage(set, pod)
	return pod
}

// identityMatches reports whether a member carries the identity labels its
// name gives it. Its hostname cannot change once created, so is not checked.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	_, ordinal, ok := ordinalOf(pod)
	return ok && pod.Name == podName(set, ordinal) &&
		pod.Labels[podNameLabel] == pod.Name && pod.Labels[podIndexLabel] == strconv.Itoa(ordinal)
}

func setIdentity(set *appsv1.StatefulSet, pod *corev1.Pod) {
	setIdentityLabels(pod)
	// The pod's DNS name, <pod>.<service>.<namespace>.svc, stays the same
	// across restarts and nodes.
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
}

func setIdentityLabels(pod *corev1.Pod) {
	_, ordinal, _ := ordinalOf(pod)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[podNameLabel] = pod.Name
	pod.Labels[podIndexLabel] = strconv.Itoa(ordinal)
}

// claims returns the claims of the pod with ordinal, from the templates,
// labeled like the template and with the set's selector.
func claims(set *appsv1.StatefulSet, ordinal int) []*corev1.PersistentVolumeClaim {
	out := make([]*corev1.PersistentVolumeClaim, 0, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name:        claimName(set, t.Name, ordinal),
				Namespace:   set.Namespace,
				Labels:      maps.Clone(t.Labels),
				Annotations: maps.Clone(t.Annotations),
			},
			Spec: *t.Spec.DeepCopy(),
		}
		if claim.Labels == nil {
			claim.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			maps.Copy(claim.Labels, set.Spec.Selector.MatchLabels)
		}
		out = append(out, claim)
	}
	return out
}

// setStorage mounts each claim template from the pod's own claim, in place of
// any template volume of the same name.
func setStorage(set *appsv1.StatefulSet, pod *corev1.Pod) {
	_, ordinal, _ := ordinalOf(pod)
	templates := map[string]bool{}
	var volumes []corev1.Volume
	for _, t := range set.Spec.VolumeClaimTemplates {
		templates[t.Name] = true
		volumes = append(volumes, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(set, t.Name, ordinal)}}})
	}
	for _, v := range pod.Spec.Volumes {
		if !templates[v.Name] {
			volumes = append(volumes, v)
		}
	}
	pod.Spec.Volumes = volumes
}

// createClaims creates the pod's missing claims. With the retention policy
// Delete when the set is deleted, a claim is owned by the set, so that the
// garbage collector removes it with the set.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	_, ordinal, _ := ordinalOf(pod)
	for _, claim := range claims(set, ordinal) {
		if _, err := c.claims.PersistentVolumeClaims(claim.Namespace).Get(claim.Name); err == nil {
			continue
		}
		if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			claim.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind,
				Name: set.Name, UID: set.UID, BlockOwnerDeletion: new(true),
			}}
		}
		_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, claim, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue // the cache is behind
		}
		c.claimEvent("create", set, pod, claim, err)
		if err != nil {
			return fmt.Errorf("failed to create PVC %s: %w", claim.Name, err)
		}
	}
	return nil
}

// releaseClaimsOnScaleDown makes a condemned pod the owner of its claims when
// the retention policy says to delete them on scale-down: the garbage
// collector removes them once the pod is gone, and a later scale-up, which
// would find them gone, starts afresh.
func (c *Controller) releaseClaimsOnScaleDown(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	if p == nil || p.WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return nil
	}
	_, ordinal, _ := ordinalOf(pod)
	for _, want := range claims(set, ordinal) {
		claim, err := c.claims.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if err != nil {
			continue // none to release
		}
		if hasOwner(claim, pod.UID) {
			continue
		}
		update := claim.DeepCopy()
		update.OwnerReferences = append(update.OwnerReferences, metav1.OwnerReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID})
		_, err = c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, update, metav1.UpdateOptions{})
		c.claimEvent("update", set, pod, claim, err)
		if err != nil {
			return fmt.Errorf("handing PVC %s to pod %s for deletion: %w", claim.Name, pod.Name, err)
		}
	}
	return nil
}

func hasOwner(obj metav1.Object, uid types.UID) bool {
	for _, r := range obj.GetOwnerReferences() {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// podEvent and claimEvent record what the controller did to a pod or claim,
// in upstream's words.
func (c *Controller) podEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title(verb), "%s Pod %s in StatefulSet %s successful", verb, pod.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title(verb), "%s Pod %s in StatefulSet %s failed error: %s", verb, pod.Name, set.Name, err)
}

func (c *Controller) claimEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title(verb), "%s Claim %s Pod %s in StatefulSet %s success", verb, claim.Name, pod.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title(verb), "%s Claim %s for Pod %s in StatefulSet %s failed error: %s", verb, claim.Name, pod.Name, set.Name, err)
}

// title capitalises a verb: "create" → "Create".
func title(verb string) string {
	if verb == "" {
		return ""
	}
	return string(verb[0]-'a'+'A') + verb[1:]
}
