package validation

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource names without a domain that are allowed where, as upstream lists them.
var (
	containerResources = set("cpu", "memory", "ephemeral-storage")
	quotaResources     = set("cpu", "memory", "ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
		"limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"pods", "services", "replicationcontrollers", "resourcequotas", "secrets",
		"persistentvolumeclaims", "configmaps", "services.nodeports", "services.loadbalancers")
	standardResources = union(quotaResources, set("storage"))
	integerResources  = set("pods", "services", "replicationcontrollers", "resourcequotas", "secrets",
		"configmaps", "persistentvolumeclaims", "services.nodeports", "services.loadbalancers")
)

func set(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

func union(a, b map[string]bool) map[string]bool {
	s := maps.Clone(a)
	maps.Copy(s, b)
	return s
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isNativeResource reports a resource of Kubernetes itself: no domain, or a
// kubernetes.io one.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedResource reports a resource a device plugin or the cluster operator
// advertises, such as example.com/gpu.
func isExtendedResource(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(utilvalidation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// overcommitAllowed reports whether requests may be lower than limits.
func overcommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePages(name)
}

func isIntegerResource(name corev1.ResourceName) bool {
	return integerResources[string(name)] || isExtendedResource(name)
}

// validateResourceName checks a resource name is qualified, and standard when it
// has no domain.
func validateResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	if errs := messages(p, name, utilvalidation.IsQualifiedName(string(name))); len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") && !standardResources[string(name)] && !isHugePages(name) &&
		!strings.HasPrefix(string(name), corev1.ResourceRequestsHugePagesPrefix) {
		return field.ErrorList{field.Invalid(p, name, "must be a standard resource type or fully qualified")}
	}
	return nil
}

func validateContainerResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	errs := validateResourceName(name, p)
	switch {
	case !strings.Contains(string(name), "/"):
		if !containerResources[string(name)] && !isHugePages(name) {
			errs = append(errs, field.Invalid(p, name, "must be a standard resource for containers"))
		}
	case !isNativeResource(name) && !isExtendedResource(name):
		errs = append(errs, field.Invalid(p, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

// validateQuantity checks a quantity is not negative, and whole for resources
// counted in units.
func validateQuantity(name corev1.ResourceName, q resource.Quantity, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Sign() < 0 {
		errs = append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
	}
	if isIntegerResource(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(p, q, "must be an integer"))
	}
	return errs
}

// validateResourceRequirements checks the requests and limits of a container:
// names, quantities, and requests within limits. claims are the names of the
// pod's resource claims.
func validateResourceRequirements(r *corev1.ResourceRequirements, claims map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := p.Child("limits"), p.Child("requests")
	cpuOrMemory, hugePages := false, false
	for _, name := range sortedKeys(r.Limits) {
		q := r.Limits[name]
		errs = append(errs, validateContainerResourceName(name, limPath.Key(string(name)))...)
		errs = append(errs, validateQuantity(name, q, limPath.Key(string(name)))...)
		cpuOrMemory = cpuOrMemory || name == corev1.ResourceCPU || name == corev1.ResourceMemory
		hugePages = hugePages || isHugePages(name)
	}
	for _, name := range sortedKeys(r.Requests) {
		q := r.Requests[name]
		errs = append(errs, validateContainerResourceName(name, reqPath.Key(string(name)))...)
		errs = append(errs, validateQuantity(name, q, reqPath.Key(string(name)))...)
		limit, limited := r.Limits[name]
		switch {
		case limited && !overcommitAllowed(name) && q.Cmp(limit) != 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case limited && q.Cmp(limit) > 0:
			errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case !limited && !overcommitAllowed(name):
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		cpuOrMemory = cpuOrMemory || name == corev1.ResourceCPU || name == corev1.ResourceMemory
		hugePages = hugePages || isHugePages(name)
	}
	if hugePages && !cpuOrMemory {
		errs = append(errs, field.Forbidden(p, "HugePages require cpu or memory"))
	}
	seen := map[string]bool{}
	for i, c := range r.Claims {
		cp := p.Child("claims").Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(cp, ""))
		case seen[c.Name+"/"+c.Request]:
			errs = append(errs, field.Duplicate(cp, c.Name))
		case !claims[c.Name]:
			e := field.NotFound(cp, c.Name)
			e.Detail = "must be one of the names in pod.spec.resourceClaims"
			errs = append(errs, e)
		}
		seen[c.Name+"/"+c.Request] = true
	}
	return errs
}

// validateResourceList checks the names and quantities of a list of resources,
// such as a node's capacity or a pod's overhead.
func validateResourceList(list corev1.ResourceList, nameFn func(corev1.ResourceName, *field.Path) field.ErrorList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, name := range sortedKeys(list) {
		if nameFn != nil {
			errs = append(errs, nameFn(name, p.Key(string(name)))...)
		}
		errs = append(errs, validateQuantity(name, list[name], p.Key(string(name)))...)
	}
	return errs
}

// sortedKeys returns the keys of a map in order, so that errors come out in a
// stable order.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
