package validation

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var specPath = field.NewPath("spec")

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := validatePodAnnotations(pod.Annotations, &pod.Spec, metadataPath.Child("annotations"))
	errs = append(errs, validatePodSpec(&pod.Spec, specPath, podSpecOptions{isPod: true})...)
	if pod.Spec.ServiceAccountName == "" {
		for i, v := range pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for j, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					p := specPath.Child("volumes").Index(i).Child("projected", "sources").Index(j).Child("serviceAccountToken")
					errs = append(errs, field.Forbidden(p, "must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	// A pod, unlike a template, runs its images as written.
	for _, list := range []struct {
		name       string
		containers []corev1.Container
	}{{"containers", pod.Spec.Containers}, {"initContainers", pod.Spec.InitContainers}} {
		for i, c := range list.containers {
			if c.Image != strings.TrimSpace(c.Image) {
				errs = append(errs, field.Invalid(specPath.Child(list.name).Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
			}
		}
	}
	return errs
}

func validatePodCreate(pod *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return errs
}

// validatePodAnnotations checks the annotations that mean something to the pod.
func validatePodAnnotations(annotations map[string]string, spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v, ok := annotations[corev1.MirrorPodAnnotationKey]; ok && spec.NodeName == "" {
		errs = append(errs, field.Invalid(p.Key(corev1.MirrorPodAnnotationKey), v, "must set spec.nodeName if mirror pod annotation is set"))
	}
	if v, ok := annotations[corev1.PodDeletionCost]; ok {
		if _, err := strconv.ParseInt(v, 10, 32); err != nil || strings.TrimSpace(v) != v {
			errs = append(errs, field.Invalid(p.Key(corev1.PodDeletionCost), v, "must be a 32bit integer"))
		}
	}
	return errs
}

// updatablePodSpecFields are what a pod update may change, in upstream's words.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate allows an update to change images, shorten the deadline, add
// tolerations, remove scheduling gates and bind the pod to a node once; all other
// spec fields are fixed at creation.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validateMirrorAnnotationUpdate(pod.Annotations, old.Annotations, metadataPath.Child("annotations"))
	for _, list := range []struct {
		name     string
		new, old []corev1.Container
	}{{"containers", pod.Spec.Containers, old.Spec.Containers}, {"initContainers", pod.Spec.InitContainers, old.Spec.InitContainers}} {
		if len(list.new) != len(list.old) {
			return append(errs, field.Forbidden(specPath.Child(list.name), "pod updates may not add or remove containers"))
		}
	}

	deadline := specPath.Child("activeDeadlineSeconds")
	switch n, o := pod.Spec.ActiveDeadlineSeconds, old.Spec.ActiveDeadlineSeconds; {
	case n != nil && (*n < 0 || *n > math.MaxInt32):
		return append(errs, field.Invalid(deadline, *n, utilvalidation.InclusiveRangeError(0, math.MaxInt32)))
	case n != nil && o != nil && *o < *n:
		return append(errs, field.Invalid(deadline, *n, "must be less than or equal to previous value"))
	case n == nil && o != nil:
		errs = append(errs, field.Invalid(deadline, n, "must not update from a positive integer to nil value"))
	}
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateOnlyDeletedSchedulingGates(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)
	if equality.Semantic.DeepEqual(pod.Spec, old.Spec) {
		return errs
	}

	// Set what may change to its old value; anything else that differs is forbidden.
	munged := pod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = old.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = old.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	munged.Tolerations = old.Spec.Tolerations
	munged.SchedulingGates = old.Spec.SchedulingGates
	if old.Spec.NodeName == "" {
		munged.NodeName = "" // binding: a pod is given its node once
	}
	if g, o := munged.TerminationGracePeriodSeconds, old.Spec.TerminationGracePeriodSeconds; g != nil && *g == 1 && o != nil && *o < 0 {
		munged.TerminationGracePeriodSeconds = o
	}
	if len(old.Spec.SchedulingGates) > 0 {
		errs = append(errs, validateGatedPodUpdate(munged, &old.Spec)...)
	}
	if !equality.Semantic.DeepEqual(*munged, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), diff(old.Spec, *munged))))
	}
	return errs
}

// validateGatedPodUpdate allows a pod still waiting on scheduling gates to gain
// node selector entries and node affinity requirements; it sets munged back so
// that the final comparison ignores them.
func validateGatedPodUpdate(munged, old *corev1.PodSpec) field.ErrorList {
	var errs field.ErrorList
	for k, v := range old.NodeSelector {
		if nv, ok := munged.NodeSelector[k]; !ok || nv != v {
			errs = append(errs, field.Invalid(specPath.Child("nodeSelector"), munged.NodeSelector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
			break
		}
	}
	munged.NodeSelector = old.NodeSelector

	var oldNA, newNA *corev1.NodeAffinity
	if old.Affinity != nil {
		oldNA = old.Affinity.NodeAffinity
	}
	if munged.Affinity != nil {
		newNA = munged.Affinity.NodeAffinity
	}
	if equality.Semantic.DeepEqual(oldNA, newNA) {
		return errs
	}
	if oldNA != nil && oldNA.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		termsPath := specPath.Child("affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
		oldTerms := oldNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		var terms []corev1.NodeSelectorTerm
		if newNA != nil && newNA.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			terms = newNA.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		}
		if len(oldTerms) > 0 && len(oldTerms) != len(terms) {
			errs = append(errs, field.Invalid(termsPath, terms, "no additions/deletions to non-empty NodeSelectorTerms list are allowed"))
		} else {
			for i := range oldTerms {
				if !hasPrefix(terms[i].MatchExpressions, oldTerms[i].MatchExpressions) || !hasPrefix(terms[i].MatchFields, oldTerms[i].MatchFields) ||
					(len(oldTerms[i].MatchExpressions)+len(oldTerms[i].MatchFields) == 0 && len(terms[i].MatchExpressions)+len(terms[i].MatchFields) > 0) {
					errs = append(errs, field.Invalid(termsPath.Index(i), terms[i], "only additions are allowed (no mutations or deletions)"))
				}
			}
		}
	}
	switch {
	case munged.Affinity == nil:
		munged.Affinity = &corev1.Affinity{NodeAffinity: oldNA}
	case old.Affinity == nil && munged.Affinity.PodAffinity == nil && munged.Affinity.PodAntiAffinity == nil:
		munged.Affinity = nil
	default:
		munged.Affinity.NodeAffinity = oldNA
	}
	return errs
}

// hasPrefix reports whether list starts with prefix.
func hasPrefix[T any](list, prefix []T) bool {
	return len(list) >= len(prefix) && equality.Semantic.DeepEqual(list[:len(prefix)], prefix)
}

func validateMirrorAnnotationUpdate(annotations, old map[string]string, p *field.Path) field.ErrorList {
	key := corev1.MirrorPodAnnotationKey
	v, has := annotations[key]
	ov, had := old[key]
	switch {
	case had && (!has || v != ov):
		return field.ErrorList{field.Forbidden(p.Key(key), "may not remove or update mirror pod annotation")}
	case has && !had:
		return field.ErrorList{field.Forbidden(p.Key(key), "may not add mirror pod annotation")}
	}
	return nil
}

// validateOnlyAddedTolerations lets an update add tolerations and change the
// tolerationSeconds of existing ones.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, p *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			o.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(p, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func validateOnlyDeletedSchedulingGates(gates, old []corev1.PodSchedulingGate, p *field.Path) field.ErrorList {
	had := map[string]bool{}
	for _, g := range old {
		had[g.Name] = true
	}
	var errs field.ErrorList
	for i, g := range gates {
		if !had[g.Name] {
			errs = append(errs, field.Forbidden(p.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return errs
}

var podPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

// validatePodStatus checks what the kubelet and the scheduler report.
func validatePodStatus(pod, old *corev1.Pod) field.ErrorList {
	p := field.NewPath("status")
	errs := validateMirrorAnnotationUpdate(pod.Annotations, old.Annotations, metadataPath.Child("annotations"))
	if pod.Status.Phase != "" {
		errs = append(errs, supportedValue(pod.Status.Phase, p.Child("phase"), podPhases...)...)
	}
	system := map[corev1.PodConditionType]bool{corev1.PodScheduled: true, corev1.PodReady: true, corev1.PodInitialized: true}
	for i, c := range pod.Status.Conditions {
		if !system[c.Type] {
			errs = append(errs, qualifiedName(string(c.Type), p.Child("conditions").Index(i).Child("type"))...)
		}
	}
	if pod.Status.NominatedNodeName != "" && pod.Status.NominatedNodeName != old.Status.NominatedNodeName {
		errs = append(errs, validName(nameSubdomain, pod.Status.NominatedNodeName, p.Child("nominatedNodeName"))...)
	}
	if old.Status.QOSClass != "" {
		errs = append(errs, immutable(pod.Status.QOSClass, old.Status.QOSClass, p.Child("qosClass"))...)
	}
	errs = append(errs, validateStateTransitions(pod.Status.ContainerStatuses, old.Status.ContainerStatuses, p.Child("containerStatuses"), old.Spec.RestartPolicy, nil)...)
	errs = append(errs, validateStateTransitions(pod.Status.InitContainerStatuses, old.Status.InitContainerStatuses, p.Child("initContainerStatuses"), old.Spec.RestartPolicy, old.Spec.InitContainers)...)
	errs = append(errs, validateStateTransitions(pod.Status.EphemeralContainerStatuses, old.Status.EphemeralContainerStatuses, p.Child("ephemeralContainerStatuses"), corev1.RestartPolicyNever, nil)...)
	for i, ip := range pod.Status.PodIPs {
		errs = append(errs, validIP(ip.IP, p.Child("podIPs").Index(i))...)
	}
	if len(pod.Status.HostIPs) > 0 && pod.Status.HostIP != pod.Status.HostIPs[0].IP {
		errs = append(errs, field.Invalid(p.Child("hostIPs").Index(0).Child("ip"), pod.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
	}
	for i, ip := range pod.Status.HostIPs {
		errs = append(errs, validIP(ip.IP, p.Child("hostIPs").Index(i))...)
	}
	return errs
}

// validateStateTransitions forbids a terminated container from running again
// when the restart policy does not restart it. Restartable init containers
// (sidecars) may restart whatever the pod's policy.
func validateStateTransitions(statuses, old []corev1.ContainerStatus, p *field.Path, policy corev1.RestartPolicy, initContainers []corev1.Container) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	sidecar := map[string]bool{}
	for _, c := range initContainers {
		sidecar[c.Name] = c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
	}
	var errs field.ErrorList
	for i, o := range old {
		t := o.State.Terminated
		if t == nil || (t.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure) || sidecar[o.Name] {
			continue
		}
		for _, s := range statuses {
			if s.Name == o.Name && s.State.Terminated == nil {
				errs = append(errs, field.Forbidden(p.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func validatePodTemplate(t *corev1.PodTemplate) field.ErrorList {
	return validatePodTemplateSpec(&t.Template, field.NewPath("template"), podSpecOptions{})
}
