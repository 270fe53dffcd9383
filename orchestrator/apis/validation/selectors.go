package validation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	v1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func labelSelector(sel *metav1.LabelSelector, p *field.Path) field.ErrorList {
	return v1validation.ValidateLabelSelector(sel, v1validation.LabelSelectorValidationOptions{}, p)
}

// controllerSelector validates the selector of a controller of kind (deployment,
// statefulset, ...): required, well formed and not empty. It returns the parsed
// selector, nil when it cannot be parsed.
func controllerSelector(sel *metav1.LabelSelector, p *field.Path, kind string) (labels.Selector, field.ErrorList) {
	if sel == nil {
		return nil, field.ErrorList{field.Required(p, "")}
	}
	errs := labelSelector(sel, p)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(p, sel, "empty selector is invalid for "+kind))
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, append(errs, field.Invalid(p, sel, "invalid label selector"))
	}
	return s, errs
}

// selectorMatches checks that the pods a template makes are selected by the
// controller that owns them; p is the template's labels.
func selectorMatches(s labels.Selector, templateLabels map[string]string, p *field.Path) field.ErrorList {
	if s == nil || s.Empty() || s.Matches(labels.Set(templateLabels)) {
		return nil
	}
	return field.ErrorList{field.Invalid(p, templateLabels, "`selector` does not match template `labels`")}
}
