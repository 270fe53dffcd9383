package rbac

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// request is the part of a request's attributes rules are matched against,
// read once so that matching many rules makes no interface calls.
type request struct {
	resourceRequest bool
	verb            string
	apiGroup        string
	resource        string
	subresource     string
	name            string
	path            string
}

func newRequest(attrs authorizer.Attributes) request {
	if !attrs.IsResourceRequest() {
		return request{verb: attrs.GetVerb(), path: attrs.GetPath()}
	}
	return request{
		resourceRequest: true,
		verb:            attrs.GetVerb(),
		apiGroup:        attrs.GetAPIGroup(),
		resource:        attrs.GetResource(),
		subresource:     attrs.GetSubresource(),
		name:            attrs.GetName(),
	}
}

// RulesAllow reports whether one of rules allows the request attrs
// describes, as upstream's RBAC authorizer decides it.
func RulesAllow(attrs authorizer.Attributes, rules []rbacv1.PolicyRule) bool {
	req := newRequest(attrs)
	return req.allowedByAny(rules)
}

func (r *request) allowedByAny(rules []rbacv1.PolicyRule) bool {
	for i := range rules {
		if r.allowedBy(&rules[i]) {
			return true
		}
	}
	return false
}

func (r *request) allowedBy(rule *rbacv1.PolicyRule) bool {
	if !matchesOrAll(rule.Verbs, r.verb, rbacv1.VerbAll) {
		return false
	}
	if !r.resourceRequest {
		return urlMatches(rule.NonResourceURLs, r.path)
	}
	return matchesOrAll(rule.APIGroups, r.apiGroup, rbacv1.APIGroupAll) &&
		r.resourceMatches(rule.Resources) &&
		nameMatches(rule.ResourceNames, r.name)
}

func matchesOrAll(set []string, want, all string) bool {
	for _, s := range set {
		if s == want || s == all {
			return true
		}
	}
	return false
}

// resourceMatches matches "*", "resource", "resource/subresource" and
// "*/subresource" as upstream does: a rule naming a resource does not cover its
// subresources, and "resource/*" only matches a subresource literally named
// "*". The rule is compared piecewise rather than against a joined
// "resource/subresource" string, which would cost an allocation per request.
func (r *request) resourceMatches(resources []string) bool {
	for _, rr := range resources {
		if rr == rbacv1.ResourceAll {
			return true
		}
		if r.subresource == "" {
			if rr == r.resource {
				return true
			}
			continue
		}
		head, tail, ok := strings.Cut(rr, "/")
		if ok && tail == r.subresource && (head == r.resource || head == rbacv1.ResourceAll) {
			return true
		}
	}
	return false
}

// nameMatches: a rule without names covers every name; one with names covers
// only those, so it never covers a request without a name (list, create).
func nameMatches(names []string, name string) bool {
	if len(names) == 0 {
		return true
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// urlMatches matches a non-resource path exactly, or by prefix against a rule
// URL ending in "*" ("*" alone matching every path).
func urlMatches(urls []string, path string) bool {
	for _, u := range urls {
		if u == rbacv1.NonResourceAll || u == path {
			return true
		}
		if strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimRight(u, "*")) {
			return true
		}
	}
	return false
}

// subject is the requesting user as binding subjects are matched against it.
type subject struct {
	name   string
	groups []string
}

func subjectOf(u user.Info) subject {
	return subject{name: u.GetName(), groups: u.GetGroups()}
}

// appliesTo returns the index of the first of a binding's subjects that names
// the user. namespace is the binding's ("" for a ClusterRoleBinding): it is
// the namespace of a ServiceAccount subject that states none, as upstream.
func (s *subject) appliesTo(subjects []rbacv1.Subject, namespace string) (int, bool) {
	for i := range subjects {
		if s.is(&subjects[i], namespace) {
			return i, true
		}
	}
	return 0, false
}

func (s *subject) is(sub *rbacv1.Subject, namespace string) bool {
	switch sub.Kind {
	case rbacv1.UserKind:
		return sub.Name == s.name
	case rbacv1.GroupKind:
		for _, g := range s.groups {
			if g == sub.Name {
				return true
			}
		}
		return false
	case rbacv1.ServiceAccountKind:
		ns := sub.Namespace
		if ns == "" {
			ns = namespace
		}
		// Compares "system:serviceaccount:NS:NAME" without building it.
		return ns != "" && serviceaccount.MatchesUsername(ns, sub.Name, s.name)
	default:
		return false
	}
}
