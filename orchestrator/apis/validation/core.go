package validation

import (
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxDataSize is the most a ConfigMap or a Secret may hold: 1 MiB.
const maxDataSize = corev1.MaxSecretSize

const immutableWhenSetMsg = "field is immutable when `immutable` is set"

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	for _, key := range sortedKeys(cm.Data) {
		kp := field.NewPath("data").Key(key)
		errs = append(errs, messages(kp, key, utilvalidation.IsConfigMapKey(key))...)
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(kp, key, "duplicate of key present in binaryData"))
		}
		size += len(cm.Data[key])
	}
	for _, key := range sortedKeys(cm.BinaryData) {
		errs = append(errs, messages(field.NewPath("binaryData").Key(key), key, utilvalidation.IsConfigMapKey(key))...)
		size += len(cm.BinaryData[key])
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", maxDataSize))
	}
	return errs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	if old.Immutable == nil || !*old.Immutable {
		return nil
	}
	var errs field.ErrorList
	if cm.Immutable == nil || !*cm.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableWhenSetMsg))
	}
	if !reflect.DeepEqual(cm.Data, old.Data) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), immutableWhenSetMsg))
	}
	if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) {
		errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableWhenSetMsg))
	}
	return errs
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	dataPath := field.NewPath("data")
	var errs field.ErrorList
	size := 0
	for _, key := range sortedKeys(s.Data) {
		errs = append(errs, messages(dataPath.Key(key), key, utilvalidation.IsConfigMapKey(key))...)
		size += len(s.Data[key])
	}
	if size > maxDataSize {
		errs = append(errs, field.TooLong(dataPath, "", maxDataSize))
	}
	required := func(keys ...string) {
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				errs = append(errs, field.Required(dataPath.Key(k), ""))
			}
		}
	}
	wellFormedJSON := func(key string) {
		if b, ok := s.Data[key]; ok {
			if err := json.Unmarshal(b, &map[string]any{}); err != nil {
				errs = append(errs, field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error()))
			}
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		// The token controller fills in the uid annotation and the token.
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(metadataPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		required(corev1.DockerConfigKey)
		wellFormedJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		required(corev1.DockerConfigJsonKey)
		wellFormedJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		// Either may be empty, but one of them must be there.
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, password := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !password {
			required(corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		required(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return errs
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	errs := immutable(s.Type, old.Type, field.NewPath("type"))
	if old.Immutable != nil && *old.Immutable {
		if s.Immutable == nil || !*s.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableWhenSetMsg))
		}
		if !reflect.DeepEqual(s.Data, old.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableWhenSetMsg))
		}
	}
	return errs
}

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	var errs field.ErrorList
	p := specPath.Child("finalizers")
	for _, f := range ns.Spec.Finalizers {
		errs = append(errs, qualifiedName(string(f), p)...)
		errs = append(errs, validateKubeFinalizerName(string(f), p)...)
	}
	return errs
}

// validateNamespaceStatus ties the phase to deletion: a namespace terminates once
// it is being deleted, and only then.
func validateNamespaceStatus(ns, _ *corev1.Namespace) field.ErrorList {
	p := field.NewPath("status", "Phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != corev1.NamespaceActive {
			return field.ErrorList{field.Invalid(p, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty")}
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		return field.ErrorList{field.Invalid(p, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")}
	}
	return nil
}

func validateNode(node *corev1.Node) field.ErrorList {
	errs := validateTaints(node.Spec.Taints, metadataPath.Child("taints"))
	errs = append(errs, validateNodeResources(node)...)
	cidrsPath := specPath.Child("podCIDRs")
	cidrs := node.Spec.PodCIDRs
	if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
		cidrs, cidrsPath = []string{node.Spec.PodCIDR}, specPath.Child("podCIDR")
	}
	invalid := false
	for i, c := range cidrs {
		e := utilvalidation.IsValidCIDR(cidrsPath.Index(i), c)
		invalid = invalid || len(e) > 0
		errs = append(errs, e...)
	}
	if len(cidrs) > 1 && !invalid {
		seen := map[string]bool{}
		for i, c := range cidrs {
			if seen[c] {
				errs = append(errs, field.Duplicate(cidrsPath.Index(i), c))
			}
			seen[c] = true
		}
		if len(cidrs) > 2 || isIPv6CIDR(cidrs[0]) == isIPv6CIDR(cidrs[1]) {
			errs = append(errs, field.Invalid(cidrsPath, cidrs, "may specify no more than one CIDR for each IP family"))
		}
	}
	return errs
}

func isIPv6CIDR(c string) bool {
	ip, _, err := net.ParseCIDR(c)
	return err == nil && ip.To4() == nil
}

// validateNodeUpdate lets a node be given its pod CIDRs and provider ID once.
func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	if len(old.Spec.PodCIDRs) > 0 && !reflect.DeepEqual(node.Spec.PodCIDRs, old.Spec.PodCIDRs) ||
		old.Spec.PodCIDR != "" && node.Spec.PodCIDR != old.Spec.PodCIDR {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && node.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if node.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(specPath.Child("externalID"), "may not be updated"))
	}
	return append(errs, validateNodeStatus(node, old)...)
}

// validateNodeStatus checks what a kubelet reports of its node.
func validateNodeStatus(node, _ *corev1.Node) field.ErrorList {
	errs := validateNodeResources(node)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	return errs
}

func validateNodeResources(node *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name string
		list corev1.ResourceList
	}{{"capacity", node.Status.Capacity}, {"allocatable", node.Status.Allocatable}} {
		for _, name := range sortedKeys(list.list) {
			errs = append(errs, validateQuantity(name, list.list[name], field.NewPath("status", list.name, string(name)))...)
		}
	}
	return errs
}

// validateTaints checks taints; a node may carry one per key and effect.
func validateTaints(taints []corev1.Taint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, t := range taints {
		tp := p.Index(i)
		errs = append(errs, qualifiedName(t.Key, tp.Child("key"))...)
		if msgs := utilvalidation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(tp.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, oneOf(t.Effect, tp.Child("effect"), taintEffects...)...)
		key := string(t.Effect) + "/" + t.Key
		if seen[key] {
			e := field.Duplicate(tp, t)
			e.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, e)
		}
		seen[key] = true
	}
	return errs
}

// validateEvent is upstream's check of core/v1 events, which clients of many
// ages write: namespaces must agree and new-style events name their reporter.
func validateEvent(ev *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	mismatch := field.Invalid(nsPath, ev.InvolvedObject.Namespace, "does not match event.namespace")
	if ev.EventTime.IsZero() {
		switch ns := ev.InvolvedObject.Namespace; {
		case ns == "" && ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault:
			errs = append(errs, mismatch)
		case ns != "" && ev.Namespace != ns:
			errs = append(errs, mismatch)
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			errs = append(errs, mismatch)
		}
		if ev.ReportingController == "" {
			errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
		} else {
			errs = append(errs, qualifiedName(ev.ReportingController, field.NewPath("reportingController"))...)
		}
		for _, f := range []struct {
			name     string
			value    string
			required bool
			max      int
		}{{"reportingInstance", ev.ReportingInstance, true, 128}, {"action", ev.Action, true, 128}, {"reason", ev.Reason, true, 128}, {"message", ev.Message, false, 1024}} {
			if f.required && f.value == "" {
				errs = append(errs, field.Required(field.NewPath(f.name), ""))
			}
			if len(f.value) > f.max {
				errs = append(errs, field.Invalid(field.NewPath(f.name), "", fmt.Sprintf("can have at most %v characters", f.max)))
			}
		}
	}
	return append(errs, dnsSubdomain(ev.Namespace, field.NewPath("namespace"))...)
}

var limitTypes = set(string(corev1.LimitTypePod), string(corev1.LimitTypeContainer), string(corev1.LimitTypePersistentVolumeClaim))

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	types := map[corev1.LimitType]bool{}
	for i, l := range lr.Spec.Limits {
		lp := specPath.Child("limits").Index(i)
		errs = append(errs, validateLimitType(l.Type, lp.Child("type"))...)
		if types[l.Type] {
			errs = append(errs, field.Duplicate(lp.Child("type"), l.Type))
		}
		types[l.Type] = true
		nameFn := validateResourceName
		if l.Type == corev1.LimitTypePod || l.Type == corev1.LimitTypeContainer {
			nameFn = validateContainerResourceName
		}
		lists := []struct {
			name string
			list corev1.ResourceList
		}{{"max", l.Max}, {"min", l.Min}, {"default", l.Default}, {"defaultRequest", l.DefaultRequest}, {"maxLimitRequestRatio", l.MaxLimitRequestRatio}}
		keys := map[corev1.ResourceName]bool{}
		for _, list := range lists {
			if l.Type == corev1.LimitTypePod && (list.name == "default" || list.name == "defaultRequest") {
				if len(list.list) > 0 {
					errs = append(errs, field.Forbidden(lp.Child(list.name), "may not be specified when `type` is 'Pod'"))
				}
				continue
			}
			for _, name := range sortedKeys(list.list) {
				errs = append(errs, nameFn(name, lp.Child(list.name).Key(string(name)))...)
				keys[name] = true
			}
		}
		if l.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := l.Min[corev1.ResourceStorage]
			_, hasMax := l.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				errs = append(errs, field.Required(lp.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		for _, name := range sortedKeys(keys) {
			errs = append(errs, validateLimitOrder(l, name, l.Type != corev1.LimitTypePod, lp)...)
		}
	}
	return errs
}

func validateLimitType(t corev1.LimitType, p *field.Path) field.ErrorList {
	if errs := qualifiedName(string(t), p); len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(t), "/") && !limitTypes[string(t)] {
		return field.ErrorList{field.Invalid(p, t, "must be a standard limit type or fully qualified")}
	}
	return nil
}

// validateLimitOrder checks min <= defaultRequest <= default <= max for one
// resource, and the limit to request ratio.
func validateLimitOrder(l corev1.LimitRangeItem, name corev1.ResourceName, withDefaults bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	key := string(name)
	min, hasMin := l.Min[name]
	max, hasMax := l.Max[name]
	def, hasDef := l.Default[name]
	req, hasReq := l.DefaultRequest[name]
	if !withDefaults {
		hasDef, hasReq = false, false
	}
	ratio, hasRatio := l.MaxLimitRequestRatio[name]
	greater := func(a, b resource.Quantity) bool { return a.Cmp(b) > 0 }
	if hasMin && hasMax && greater(min, max) {
		errs = append(errs, field.Invalid(p.Child("min").Key(key), min, fmt.Sprintf("min value %s is greater than max value %s", min.String(), max.String())))
	}
	if hasReq && hasMin && greater(min, req) {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), req, fmt.Sprintf("min value %s is greater than default request value %s", min.String(), req.String())))
	}
	if hasReq && hasMax && greater(req, max) {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), req, fmt.Sprintf("default request value %s is greater than max value %s", req.String(), max.String())))
	}
	if hasReq && hasDef && greater(req, def) {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), req, fmt.Sprintf("default request value %s is greater than default limit value %s", req.String(), def.String())))
	}
	if hasDef && hasMin && greater(min, def) {
		errs = append(errs, field.Invalid(p.Child("default").Key(key), min, fmt.Sprintf("min value %s is greater than default value %s", min.String(), def.String())))
	}
	if hasDef && hasMax && greater(def, max) {
		errs = append(errs, field.Invalid(p.Child("default").Key(key), max, fmt.Sprintf("default value %s is greater than max value %s", def.String(), max.String())))
	}
	if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
		errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
	}
	if hasRatio && hasMin && hasMax && min.MilliValue() > 0 {
		limit := float64(max.MilliValue()) / float64(min.MilliValue())
		if r := float64(ratio.MilliValue()) / 1000; r > limit {
			errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio, fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
		}
	}
	if !overcommitAllowed(name) && hasDef && hasReq && def.Cmp(req) != 0 {
		errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), req, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", def.String(), req.String(), key)))
	}
	return errs
}

var quotaScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass,
	corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeVolumeAttributesClass}

func validateQuotaResourceName(name corev1.ResourceName, p *field.Path) field.ErrorList {
	errs := validateResourceName(name, p)
	if !strings.Contains(string(name), "/") && !quotaResources[string(name)] && !strings.HasPrefix(string(name), corev1.ResourceRequestsHugePagesPrefix) {
		errs = append(errs, field.Invalid(p, name, "must be a standard resource for quota"))
	}
	return errs
}

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	errs := validateResourceList(q.Spec.Hard, validateQuotaResourceName, specPath.Child("hard"))
	scopes := map[corev1.ResourceQuotaScope]bool{}
	for _, s := range q.Spec.Scopes {
		if !isQuotaScope(s) {
			errs = append(errs, field.Invalid(specPath.Child("scopes"), q.Spec.Scopes, "unsupported scope"))
		}
		scopes[s] = true
	}
	if sel := q.Spec.ScopeSelector; sel != nil {
		sp := specPath.Child("scopeSelector", "matchExpressions")
		for _, r := range sel.MatchExpressions {
			if !isQuotaScope(r.ScopeName) {
				errs = append(errs, field.Invalid(sp.Child("scopeName"), r.ScopeName, "unsupported scope"))
			}
			switch r.ScopeName {
			case corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeTerminating,
				corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
				if r.Operator != corev1.ScopeSelectorOpExists {
					errs = append(errs, field.Invalid(sp.Child("operator"), r.Operator, "must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
				}
			}
			switch r.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(r.Values) == 0 {
					errs = append(errs, field.Required(sp.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(r.Values) != 0 {
					errs = append(errs, field.Invalid(sp.Child("values"), r.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				errs = append(errs, field.Invalid(sp.Child("operator"), r.Operator, "not a valid selector operator"))
			}
			scopes[r.ScopeName] = true
		}
	}
	if scopes[corev1.ResourceQuotaScopeBestEffort] && scopes[corev1.ResourceQuotaScopeNotBestEffort] ||
		scopes[corev1.ResourceQuotaScopeTerminating] && scopes[corev1.ResourceQuotaScopeNotTerminating] {
		errs = append(errs, field.Invalid(specPath.Child("scopes"), q.Spec.Scopes, "conflicting scopes"))
	}
	return append(errs, validateResourceQuotaStatus(q, nil)...)
}

func isQuotaScope(s corev1.ResourceQuotaScope) bool {
	for _, q := range quotaScopes {
		if s == q {
			return true
		}
	}
	return false
}

func validateResourceQuotaUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	scopes := func(list []corev1.ResourceQuotaScope) map[corev1.ResourceQuotaScope]bool {
		s := map[corev1.ResourceQuotaScope]bool{}
		for _, x := range list {
			s[x] = true
		}
		return s
	}
	if !reflect.DeepEqual(scopes(q.Spec.Scopes), scopes(old.Spec.Scopes)) {
		return field.ErrorList{field.Invalid(specPath.Child("scopes"), q.Spec.Scopes, immutableMsg)}
	}
	return nil
}

func validateResourceQuotaStatus(q, _ *corev1.ResourceQuota) field.ErrorList {
	errs := validateResourceList(q.Status.Hard, validateQuotaResourceName, field.NewPath("status", "hard"))
	return append(errs, validateResourceList(q.Status.Used, validateQuotaResourceName, field.NewPath("status", "used"))...)
}

func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	spec := &rc.Spec
	errs := nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))
	sel := labels.SelectorFromSet(spec.Selector)
	if sel.Empty() {
		errs = append(errs, field.Required(specPath.Child("selector"), ""))
	}
	errs = append(errs, nonNegativePtr(spec.Replicas, specPath.Child("replicas"))...)
	if spec.Template == nil {
		return append(errs, field.Required(specPath.Child("template"), ""))
	}
	return append(errs, validateControllerTemplate(spec.Template, sel, specPath.Child("template"), "ReplicationController", podSpecOptions{})...)
}

func validateReplicationControllerStatus(rc, _ *corev1.ReplicationController) field.ErrorList {
	s := rc.Status
	return validateReplicaCounts(field.NewPath("status"), s.ObservedGeneration, []count{
		{"replicas", s.Replicas}, {"fullyLabeledReplicas", s.FullyLabeledReplicas},
		{"readyReplicas", s.ReadyReplicas}, {"availableReplicas", s.AvailableReplicas}})
}

// count is a named replica count of a controller's status.
type count struct {
	name  string
	value int32
}

// validateReplicaCounts checks the counts of a controller's status, the first of
// which is the total: none negative, none above the total, and no more
// available than ready replicas.
func validateReplicaCounts(p *field.Path, observedGeneration int64, counts []count) field.ErrorList {
	errs := nonNegative(observedGeneration, p.Child("observedGeneration"))
	byName := map[string]int32{}
	for _, c := range counts {
		errs = append(errs, nonNegative(int64(c.value), p.Child(c.name))...)
		byName[c.name] = c.value
	}
	total := counts[0]
	for _, c := range counts[1:] {
		if c.value > total.value && c.name != "unavailableReplicas" {
			errs = append(errs, field.Invalid(p.Child(c.name), c.value, "cannot be greater than status."+total.name))
		}
	}
	if ready, ok := byName["readyReplicas"]; ok && byName["availableReplicas"] > ready {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), byName["availableReplicas"], "cannot be greater than readyReplicas"))
	}
	return errs
}
