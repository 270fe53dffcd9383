package quota

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

var (
	pvcsResource = schema.GroupResource{Resource: "persistentvolumeclaims"}
	pvcCountName = generic.ObjectCountQuotaResourceNameFor(pvcsResource)
)

// pvcResources are charged in total and, under
// <class>.storageclass.storage.k8s.io/<name>, per storage class.
var pvcResources = []corev1.ResourceName{
	corev1.ResourcePersistentVolumeClaims,
	corev1.ResourceRequestsStorage,
}

const storageClassInfix = ".storageclass.storage.k8s.io/"

// ByStorageClass returns the quota name charging resource to one storage class,
// such as gold.storageclass.storage.k8s.io/requests.storage.
func ByStorageClass(class string, name corev1.ResourceName) corev1.ResourceName {
	return corev1.ResourceName(class + storageClassInfix + string(name))
}

// pvcEvaluator measures persistent volume claims: their count and the storage
// they request, in total and per storage class.
type pvcEvaluator struct {
	list generic.ListFuncByNamespace
}

// NewPersistentVolumeClaimEvaluator returns the evaluator of persistent volume
// claims.
func NewPersistentVolumeClaimEvaluator(listers quotav1.ListerForResourceFunc) quotav1.Evaluator {
	gvr := corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	return &pvcEvaluator{list: generic.ListResourceUsingListerFunc(listers, gvr)}
}

func (e *pvcEvaluator) GroupResource() schema.GroupResource { return pvcsResource }

// Handles charges claims when they are created or resized, and when the storage
// actually allocated to them changes.
func (e *pvcEvaluator) Handles(a admission.Attributes) bool {
	op := a.GetOperation()
	switch a.GetSubresource() {
	case "":
		return op == admission.Create || op == admission.Update
	case "status":
		pvc, ok1 := a.GetObject().(*corev1.PersistentVolumeClaim)
		old, ok2 := a.GetOldObject().(*corev1.PersistentVolumeClaim)
		return op == admission.Update && ok1 && ok2 && allocatedStorageChanged(old, pvc)
	}
	return false
}

func (e *pvcEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (e *pvcEvaluator) Matches(q *corev1.ResourceQuota, obj runtime.Object) (bool, error) {
	return generic.Matches(q, obj, e.MatchingResources, pvcMatchesScope)
}

func (e *pvcEvaluator) MatchingResources(names []corev1.ResourceName) []corev1.ResourceName {
	var result []corev1.ResourceName
	for _, name := range names {
		if name == pvcCountName || quotav1.Contains(pvcResources, name) {
			result = append(result, name)
			continue
		}
		for _, r := range pvcResources {
			if strings.HasSuffix(string(name), storageClassInfix+string(r)) {
				result = append(result, name)
				break
			}
		}
	}
	return result
}

func (e *pvcEvaluator) MatchingScopes(obj runtime.Object, scopes []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return matchingScopes(obj, scopes, pvcMatchesScope)
}

func (e *pvcEvaluator) UncoveredQuotaScopes(limited, matched []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	return uncoveredScopes(limited, matched), nil
}

// Usage charges one claim and the storage it requests (or was given, if more),
// in total and to its storage class.
func (e *pvcEvaluator) Usage(obj runtime.Object) (corev1.ResourceList, error) {
	pvc, err := asPVC(obj)
	if err != nil {
		return nil, err
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	usage := corev1.ResourceList{
		corev1.ResourcePersistentVolumeClaims: one,
		pvcCountName:                          one,
	}
	class := storageClass(pvc)
	if class != "" {
		usage[ByStorageClass(class, corev1.ResourcePersistentVolumeClaims)] = one
	}
	if storage, ok := storageUsage(pvc); ok {
		usage[corev1.ResourceRequestsStorage] = storage
		if class != "" {
			usage[ByStorageClass(class, corev1.ResourceRequestsStorage)] = storage
		}
	}
	return usage, nil
}

func (e *pvcEvaluator) UsageStats(opts quotav1.UsageStatsOptions) (quotav1.UsageStats, error) {
	return generic.CalculateUsageStats(opts, e.list, pvcMatchesScope, e.Usage)
}

// storageUsage is the larger of the storage requested and the storage allocated
// (a shrinking request does not give back what the volume holds), rounded up to
// whole bytes.
func storageUsage(pvc *corev1.PersistentVolumeClaim) (resource.Quantity, bool) {
	requested, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return resource.Quantity{}, false
	}
	usage := requested.DeepCopy()
	if allocated, ok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; ok && allocated.Cmp(usage) > 0 {
		usage = allocated.DeepCopy()
	}
	usage.RoundUp(0)
	return usage, true
}

func allocatedStorageChanged(old, pvc *corev1.PersistentVolumeClaim) bool {
	a, okA := old.Status.AllocatedResources[corev1.ResourceStorage]
	b, okB := pvc.Status.AllocatedResources[corev1.ResourceStorage]
	return okA != okB || a.Cmp(b) != 0 || volumeAttributesClasses(old) != volumeAttributesClasses(pvc)
}

// storageClass returns a claim's class, from the beta annotation when present as
// upstream reads it.
func storageClass(pvc *corev1.PersistentVolumeClaim) string {
	if class, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return class
	}
	if pvc.Spec.StorageClassName != nil {
		return *pvc.Spec.StorageClassName
	}
	return ""
}

// volumeAttributesClasses returns the classes a claim asks for, has, or is moving
// to, in that order; unset ones are empty.
func volumeAttributesClasses(pvc *corev1.PersistentVolumeClaim) [3]string {
	var names [3]string
	if pvc.Spec.VolumeAttributesClassName != nil {
		names[0] = *pvc.Spec.VolumeAttributesClassName
	}
	if pvc.Status.CurrentVolumeAttributesClassName != nil {
		names[1] = *pvc.Status.CurrentVolumeAttributesClassName
	}
	if s := pvc.Status.ModifyVolumeStatus; s != nil {
		names[2] = s.TargetVolumeAttributesClassName
	}
	return names
}

func pvcMatchesScope(scope corev1.ScopedResourceSelectorRequirement, obj runtime.Object) (bool, error) {
	pvc, err := asPVC(obj)
	if err != nil {
		return false, err
	}
	if scope.ScopeName != corev1.ResourceQuotaScopeVolumeAttributesClass {
		return false, nil
	}
	var classes []string
	for _, name := range volumeAttributesClasses(pvc) {
		if name != "" {
			classes = append(classes, name)
		}
	}
	return selectorMatches(scope, classes...)
}

func asPVC(obj runtime.Object) (*corev1.PersistentVolumeClaim, error) {
	pvc, ok := obj.(*corev1.PersistentVolumeClaim)
	if !ok {
		return nil, fmt.Errorf("expected a *v1.PersistentVolumeClaim, got %T", obj)
	}
	return pvc, nil
}
