package validation

import (
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// nameFunc validates a name; prefix is true for a generateName prefix.
type nameFunc = apivalidation.ValidateNameFunc

// The name rules of the served kinds.
var (
	nameSubdomain    nameFunc = apivalidation.NameIsDNSSubdomain
	nameDNSLabel     nameFunc = apivalidation.NameIsDNSLabel
	nameDNS1035Label nameFunc = apivalidation.NameIsDNS1035Label
	namePathSegment  nameFunc = path.ValidatePathSegmentName
	nameAny          nameFunc = func(string, bool) []string { return nil }
)

var metadataPath = field.NewPath("metadata")

// validateMeta validates the metadata of a new object of a kind with the given
// scope and name rule.
func validateMeta(m metav1.Object, namespaced bool, name nameFunc) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaAccessor(m, namespaced, name, metadataPath)
	return append(errs, validateKubeFinalizers(m.GetFinalizers())...)
}

// validateMetaUpdate validates the metadata of obj replacing old.
func validateMetaUpdate(m, old metav1.Object) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaAccessorUpdate(m, old, metadataPath)
	return append(errs, validateKubeFinalizers(m.GetFinalizers())...)
}

// standardFinalizers are the finalizer names that need no domain.
var standardFinalizers = map[string]bool{
	"kubernetes":                     true,
	metav1.FinalizerOrphanDependents: true,
	metav1.FinalizerDeleteDependents: true,
}

func validateKubeFinalizers(finalizers []string) field.ErrorList {
	var errs field.ErrorList
	for i, f := range finalizers {
		errs = append(errs, validateKubeFinalizerName(f, metadataPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// validateKubeFinalizerName rejects a finalizer without a domain that is not one
// of the standard ones.
func validateKubeFinalizerName(name string, p *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(p, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// validateTemplateMeta validates the metadata of an embedded template: only
// labels and annotations count.
func validateTemplateMeta(m *metav1.ObjectMeta, p *field.Path) field.ErrorList {
	errs := validateLabels(m.Labels, p.Child("labels"))
	return append(errs, apivalidation.ValidateAnnotations(m.Annotations, p.Child("annotations"))...)
}
