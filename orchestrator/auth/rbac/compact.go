package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// simpleResource keys rules that name one API group, one resource and at most
// one resource name: the shape validation.Covers breaks missing rules into.
type simpleResource struct {
	group, resource string
	hasName         bool
	name            string
}

// compactRules merges rules that differ only in their verbs, so that a
// refusal lists `Verbs:["get" "list"]` once rather than one line per verb.
// Other rules are kept as they are.
func compactRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, 0, len(rules))
	merged := make(map[simpleResource]int, len(rules))
	for _, r := range rules {
		key, ok := simpleKey(&r)
		if !ok {
			out = append(out, r)
			continue
		}
		if i, seen := merged[key]; seen {
			out[i].Verbs = append(out[i].Verbs, r.Verbs...)
			continue
		}
		merged[key] = len(out)
		c := *r.DeepCopy()
		out = append(out, c)
	}
	return out
}

func simpleKey(r *rbacv1.PolicyRule) (simpleResource, bool) {
	if len(r.NonResourceURLs) > 0 || len(r.APIGroups) != 1 || len(r.Resources) != 1 || len(r.ResourceNames) > 1 {
		return simpleResource{}, false
	}
	key := simpleResource{group: r.APIGroups[0], resource: r.Resources[0]}
	if len(r.ResourceNames) == 1 {
		key.hasName, key.name = true, r.ResourceNames[0]
	}
	return key, true
}

// describeRules returns each rule's compact form, sorted and without
// duplicates, as upstream lists them in a refusal.
func describeRules(rules []rbacv1.PolicyRule) []string {
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		out = append(out, compactString(r))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// compactString writes a rule as upstream's escalation messages do, naming
// only the fields it sets:
// {APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get"]}.
func compactString(r rbacv1.PolicyRule) string {
	var parts []string
	for _, f := range []struct {
		name   string
		values []string
	}{
		{"APIGroups", r.APIGroups},
		{"Resources", r.Resources},
		{"NonResourceURLs", r.NonResourceURLs},
		{"ResourceNames", r.ResourceNames},
		{"Verbs", r.Verbs},
	} {
		if len(f.values) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", f.name, f.values))
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
