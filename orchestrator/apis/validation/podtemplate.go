package validation

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validatePodTemplateSpec validates the template pods are made from, at p.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, p *field.Path, opts podSpecOptions) field.ErrorList {
	errs := validateLabels(t.Labels, p.Child("labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, p.Child("annotations"))...)
	errs = append(errs, validatePodAnnotations(t.Annotations, &t.Spec, p.Child("annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, p.Child("spec"), opts)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(p.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// validateControllerTemplate validates the template of a controller that keeps
// its pods running (a ReplicaSet, a Deployment, ...): the selector must pick its
// pods, which restart always and have no deadline. kind names the controller in
// messages.
func validateControllerTemplate(t *corev1.PodTemplateSpec, sel labels.Selector, p *field.Path, kind string, opts podSpecOptions) field.ErrorList {
	errs := selectorMatches(sel, t.Labels, p.Child("metadata", "labels"))
	errs = append(errs, validatePodTemplateSpec(t, p, opts)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(p.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}
