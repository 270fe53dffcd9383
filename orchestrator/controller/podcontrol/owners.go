package podcontrol

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ControllerOf returns the object that ref, a controller reference, names, as
// get reads it from a cache, if ref is of kind and names that very object (the
// same UID, not one deleted and made again under its name).
func ControllerOf[T metav1.Object](ref *metav1.OwnerReference, kind schema.GroupVersionKind, get func(name string) (T, error)) (T, bool) {
	var none T
	if ref == nil || ref.Kind != kind.Kind {
		return none, false
	}
	if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Group != kind.Group {
		return none, false
	}
	obj, err := get(ref.Name)
	if err != nil || obj.GetUID() != ref.UID {
		return none, false
	}
	return obj, true
}

// Selecting returns those of objs whose selector matches set: the controllers
// that may adopt an orphan labelled set. An empty or invalid selector selects
// nothing, as upstream's controllers read it.
func Selecting[T any](objs []T, set map[string]string, selector func(T) *metav1.LabelSelector) []T {
	if len(set) == 0 {
		return nil
	}
	var out []T
	for _, o := range objs {
		s, err := metav1.LabelSelectorAsSelector(selector(o))
		if err == nil && !s.Empty() && s.Matches(labels.Set(set)) {
			out = append(out, o)
		}
	}
	return out
}
