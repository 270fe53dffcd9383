// Package defaultclass owns the one rule the admission plugins that default
// a class share (DefaultStorageClass, DefaultIngressClass): among the classes
// marked default, the newest wins, ties going to the first name, as upstream,
// so that a new default takes over from the old one while both are marked.
// It must not know which annotation marks a default or which field is set.
package defaultclass

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Newest returns the newest of the classes isDefault says are default, or
// the zero value (nil) when none is.
func Newest[T metav1.Object](classes []T, isDefault func(T) bool) T {
	var best T
	found := false
	for _, c := range classes {
		if !isDefault(c) {
			continue
		}
		if !found || newer(c, best) {
			best, found = c, true
		}
	}
	return best
}

func newer(a, b metav1.Object) bool {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		return tb.Before(&ta)
	}
	return a.GetName() < b.GetName()
}
