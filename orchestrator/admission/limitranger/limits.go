package limitranger

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"gopkg.in/inf.v0"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"berth.dev/berth/orchestrator/quota/podresources"
)

// annotation records on a pod which defaults the plugin filled in.
const annotation = "kubernetes.io/limit-ranger"

// applyDefaults fills in, for every container of the pod, the requests and limits
// it leaves out and lr's Container limits default, and notes what it set.
func applyDefaults(pod *corev1.Pod, lr *corev1.LimitRange) {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		maps.Copy(requests, item.DefaultRequest)
		maps.Copy(limits, item.Default)
	}
	var notes []string
	fill := func(c *corev1.Container, kind string) {
		if set := fillMissing(&c.Resources.Requests, requests); len(set) > 0 {
			notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(set, ", "), kind, c.Name))
		}
		if set := fillMissing(&c.Resources.Limits, limits); len(set) > 0 {
			notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(set, ", "), kind, c.Name))
		}
	}
	for i := range pod.Spec.Containers {
		fill(&pod.Spec.Containers[i], "container")
	}
	for i := range pod.Spec.InitContainers {
		fill(&pod.Spec.InitContainers[i], "init container")
	}
	if len(notes) == 0 {
		return
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
}

// fillMissing copies into *list the defaults it lacks and returns their names,
// sorted.
func fillMissing(list *corev1.ResourceList, defaults corev1.ResourceList) []string {
	var set []string
	for name, q := range defaults {
		if _, ok := (*list)[name]; ok {
			continue
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q.DeepCopy()
		set = append(set, string(name))
	}
	sort.Strings(set)
	return set
}

// validatePod checks every container against lr's Container limits and the pod
// as a whole against its Pod limits.
func validatePod(lr *corev1.LimitRange, pod *corev1.Pod) error {
	var errs []error
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
				for i := range cs {
					errs = append(errs, checkItem(item, cs[i].Resources.Requests, cs[i].Resources.Limits)...)
				}
			}
		case corev1.LimitTypePod:
			errs = append(errs, checkItem(item, podresources.Requests(pod), podresources.Limits(pod))...)
		}
	}
	return utilerrors.NewAggregate(errs)
}

// validatePVC checks a claim's storage request against lr's PersistentVolumeClaim
// limits; a claim has no limits of its own, so max applies to the request.
func validatePVC(lr *corev1.LimitRange, pvc *corev1.PersistentVolumeClaim) error {
	var errs []error
	requests := pvc.Spec.Resources.Requests
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypePersistentVolumeClaim {
			continue
		}
		for _, name := range sortedNames(item.Min) {
			errs = appendErr(errs, minConstraint(item.Type, name, item.Min[name], requests, nil))
		}
		for _, name := range sortedNames(item.Max) {
			errs = appendErr(errs, maxRequestConstraint(item.Type, name, item.Max[name], requests))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// checkItem applies one LimitRange item's min, max and ratio to requests and
// limits, in a stable order.
func checkItem(item corev1.LimitRangeItem, requests, limits corev1.ResourceList) []error {
	var errs []error
	for _, name := range sortedNames(item.Min) {
		errs = appendErr(errs, minConstraint(item.Type, name, item.Min[name], requests, limits))
	}
	for _, name := range sortedNames(item.Max) {
		errs = appendErr(errs, maxConstraint(item.Type, name, item.Max[name], requests, limits))
	}
	for _, name := range sortedNames(item.MaxLimitRequestRatio) {
		errs = appendErr(errs, ratioConstraint(item.Type, name, item.MaxLimitRequestRatio[name], requests, limits))
	}
	return errs
}

func minConstraint(typ corev1.LimitType, name corev1.ResourceName, min resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, typ, min.String())
	case req.Cmp(min) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, typ, min.String(), req.String())
	case hasLim && lim.Cmp(min) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, typ, min.String(), lim.String())
	}
	return nil
}

func maxConstraint(typ corev1.LimitType, name corev1.ResourceName, max resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, typ, max.String())
	case lim.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, typ, max.String(), lim.String())
	case hasReq && req.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, typ, max.String(), req.String())
	}
	return nil
}

// maxRequestConstraint is max for resources that have requests only.
func maxRequestConstraint(typ corev1.LimitType, name corev1.ResourceName, max resource.Quantity, requests corev1.ResourceList) error {
	req, hasReq := requests[name]
	switch {
	case !hasReq:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, typ, max.String())
	case req.Cmp(max) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, typ, max.String(), req.String())
	}
	return nil
}

// ratioConstraint refuses a limit more than ratio times the request: with a ratio
// of 2, a request of 100m allows a limit up to 200m, and a limit of 400m is refused
// as a ratio of 4.000000.
func ratioConstraint(typ corev1.LimitType, name corev1.ResourceName, ratio resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasReq || req.Sign() == 0:
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, typ, ratio.String())
	case !hasLim || lim.Sign() == 0:
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, typ, ratio.String())
	}
	allowed := new(inf.Dec).Mul(req.AsDec(), ratio.AsDec())
	if lim.AsDec().Cmp(allowed) <= 0 {
		return nil
	}
	observed := lim.AsApproximateFloat64() / req.AsApproximateFloat64()
	return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, typ, ratio.String(), observed)
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	return slices.Sorted(maps.Keys(l))
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		errs = append(errs, err)
	}
	return errs
}
