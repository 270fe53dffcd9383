package quota

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

// matchingScopes returns the selectors of scopes that obj falls in.
func matchingScopes(obj runtime.Object, scopes []corev1.ScopedResourceSelectorRequirement, matches generic.MatchesScopeFunc) ([]corev1.ScopedResourceSelectorRequirement, error) {
	matched := []corev1.ScopedResourceSelectorRequirement{}
	for _, scope := range scopes {
		ok, err := matches(scope, obj)
		if err != nil {
			return nil, fmt.Errorf("matching scope %s: %w", scope.ScopeName, err)
		}
		if ok {
			matched = append(matched, scope)
		}
	}
	return matched, nil
}

// uncoveredScopes returns the limited scopes that no matched quota scope names.
func uncoveredScopes(limited, matched []corev1.ScopedResourceSelectorRequirement) []corev1.ScopedResourceSelectorRequirement {
	uncovered := []corev1.ScopedResourceSelectorRequirement{}
	for _, l := range limited {
		covered := false
		for _, m := range matched {
			if m.ScopeName == l.ScopeName {
				covered = true
				break
			}
		}
		if !covered {
			uncovered = append(uncovered, l)
		}
	}
	return uncovered
}

// selectorMatches evaluates a scope selector (operator and values) against the
// values an object holds for that scope, as a label selector over one key: an
// object with no value only matches DoesNotExist and NotIn.
func selectorMatches(scope corev1.ScopedResourceSelectorRequirement, values ...string) (bool, error) {
	ops := map[corev1.ScopeSelectorOperator]selection.Operator{
		corev1.ScopeSelectorOpIn:           selection.In,
		corev1.ScopeSelectorOpNotIn:        selection.NotIn,
		corev1.ScopeSelectorOpExists:       selection.Exists,
		corev1.ScopeSelectorOpDoesNotExist: selection.DoesNotExist,
	}
	op, ok := ops[scope.Operator]
	if !ok {
		return false, fmt.Errorf("%q is not a valid scope selector operator", scope.Operator)
	}
	req, err := labels.NewRequirement(string(scope.ScopeName), op, scope.Values)
	if err != nil {
		return false, fmt.Errorf("parsing scope selector: %w", err)
	}
	selector := labels.NewSelector().Add(*req)
	if len(values) == 0 {
		return selector.Matches(labels.Set{}), nil
	}
	for _, v := range values {
		if selector.Matches(labels.Set{string(scope.ScopeName): v}) {
			return true, nil
		}
	}
	return false, nil
}
