// Package rbac is berth's rbac.authorization.k8s.io/v1 authorizer: it answers
// whether a user may make a request from the Roles, RoleBindings, ClusterRoles
// and ClusterRoleBindings in the API, lists the rules a user holds (for
// SelfSubjectRulesReview and `kubectl auth can-i --list`), and holds the
// admission plugin that stops users from granting, through roles and bindings,
// permissions they do not hold themselves.
//
// It reads RBAC objects through listers: it must not start informers, write to
// the API, or keep copies of RBAC objects that could go stale (its optional
// index of bindings by subject holds names, and each binding it names is read
// again from the lister). It never denies a request (it has no opinion when no
// rule allows it), so that other authorizers in a union can still allow it;
// the privileged system:masters group and the Node authorizer are other
// authorizers' business.
package rbac

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
)

// Config is where the authorizer reads RBAC objects from. The listers are
// required; the informers behind them are started by whoever owns them.
type Config struct {
	Roles               rbaclisters.RoleLister
	RoleBindings        rbaclisters.RoleBindingLister
	ClusterRoles        rbaclisters.ClusterRoleLister
	ClusterRoleBindings rbaclisters.ClusterRoleBindingLister

	// RoleBindingEvents and ClusterRoleBindingEvents, when set, are the
	// informers behind the RoleBindings and ClusterRoleBindings listers. The
	// authorizer then indexes bindings by subject from their events, and a
	// request reads only the bindings that name its user (or its groups)
	// instead of every ClusterRoleBinding and every RoleBinding of its
	// namespace. Without them, or until they have synced, it reads them all,
	// as upstream does.
	RoleBindingEvents        EventSource
	ClusterRoleBindingEvents EventSource
}

// Authorizer authorizes requests by RBAC. It is safe for concurrent use.
type Authorizer struct {
	roles               rbaclisters.RoleLister
	roleBindings        rbaclisters.RoleBindingLister
	clusterRoles        rbaclisters.ClusterRoleLister
	clusterRoleBindings rbaclisters.ClusterRoleBindingLister
	everything          labels.Selector

	// Optional; nil without events.
	roleBindingIndex        *bindingIndex
	clusterRoleBindingIndex *bindingIndex
}

var (
	_ authorizer.Authorizer   = (*Authorizer)(nil)
	_ authorizer.RuleResolver = (*Authorizer)(nil)
	_ RuleSource              = (*Authorizer)(nil)
)

// New returns an authorizer reading from the listers in cfg.
func New(cfg Config) (*Authorizer, error) {
	switch {
	case cfg.Roles == nil:
		return nil, errors.New("rbac authorizer: no Role lister")
	case cfg.RoleBindings == nil:
		return nil, errors.New("rbac authorizer: no RoleBinding lister")
	case cfg.ClusterRoles == nil:
		return nil, errors.New("rbac authorizer: no ClusterRole lister")
	case cfg.ClusterRoleBindings == nil:
		return nil, errors.New("rbac authorizer: no ClusterRoleBinding lister")
	}
	a := &Authorizer{
		roles:               cfg.Roles,
		roleBindings:        cfg.RoleBindings,
		clusterRoles:        cfg.ClusterRoles,
		clusterRoleBindings: cfg.ClusterRoleBindings,
		everything:          labels.Everything(),
	}
	var err error
	if cfg.RoleBindingEvents != nil {
		if a.roleBindingIndex, err = newBindingIndex(cfg.RoleBindingEvents); err != nil {
			return nil, fmt.Errorf("rbac authorizer: watching RoleBindings: %w", err)
		}
	}
	if cfg.ClusterRoleBindingEvents != nil {
		if a.clusterRoleBindingIndex, err = newBindingIndex(cfg.ClusterRoleBindingEvents); err != nil {
			return nil, fmt.Errorf("rbac authorizer: watching ClusterRoleBindings: %w", err)
		}
	}
	return a, nil
}

// Authorize allows the request when a rule bound to its user allows it, and
// otherwise has no opinion. A binding whose role cannot be read does not stop
// the search; when nothing allows the request, the reason names such roles as
// upstream does ("RBAC: role.rbac.authorization.k8s.io \"x\" not found"), and is
// empty otherwise, so the server's forbidden message is upstream's.
//
// It reads the ClusterRoleBindings and then the RoleBindings of the request's
// namespace that name the user, stopping at the first allowing rule; matching
// builds no strings, and the reason of an allowed request is the only string
// it builds.
func (a *Authorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "", nil
	}
	req := newRequest(attrs)
	subj := subjectOf(u)
	var (
		errs   []error
		reason string
	)
	visit := func(b binding, subject int) bool {
		rules, err := a.roleRefRules(b.ref, b.namespace)
		if err != nil {
			errs = append(errs, err)
			return true
		}
		if req.allowedByAny(rules) {
			reason = allowedReason(&b, &b.subjects[subject])
			return false
		}
		return true
	}
	if !a.walk(&subj, "", &errs, visit) {
		return authorizer.DecisionAllow, reason, nil
	}
	// RoleBindings grant only within their namespace, and never non-resource
	// URLs, which have no namespace.
	if ns := attrs.GetNamespace(); ns != "" && req.resourceRequest {
		if !a.walk(&subj, ns, &errs, visit) {
			return authorizer.DecisionAllow, reason, nil
		}
	}
	if len(errs) > 0 {
		return authorizer.DecisionNoOpinion, "RBAC: " + utilerrors.NewAggregate(errs).Error(), nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// walk calls visit with each binding in scope (a namespace's RoleBindings,
// or the ClusterRoleBindings when scope is "") that names the subject s,
// with the index of the first subject of the binding that does, until visit
// returns false; walk then returns false. Errors reading bindings are
// appended to errs.
func (a *Authorizer) walk(s *subject, scope string, errs *[]error, visit func(b binding, subject int) bool) bool {
	index := a.clusterRoleBindingIndex
	if scope != "" {
		index = a.roleBindingIndex
	}
	if index.ready() {
		return a.walkIndexed(index, s, scope, visit)
	}
	if scope == "" {
		crbs, err := a.clusterRoleBindings.List(a.everything)
		if err != nil {
			*errs = append(*errs, err)
		}
		for _, crb := range crbs {
			b := fromClusterRoleBinding(crb)
			if i, ok := s.appliesTo(b.subjects, ""); ok && !visit(b, i) {
				return false
			}
		}
		return true
	}
	rbs, err := a.roleBindings.RoleBindings(scope).List(a.everything)
	if err != nil {
		*errs = append(*errs, err)
	}
	for _, rb := range rbs {
		b := fromRoleBinding(rb)
		if i, ok := s.appliesTo(b.subjects, scope); ok && !visit(b, i) {
			return false
		}
	}
	return true
}

// walkIndexed is walk through the index: it looks up each key the subject
// answers to (its name, each group, its ServiceAccount), and visits each
// binding found there, read afresh from the lister, whose first subject naming
// the user is the one looked up, so that a binding naming the user twice is
// visited once.
func (a *Authorizer) walkIndexed(index *bindingIndex, s *subject, scope string, visit func(b binding, subject int) bool) bool {
	if !a.visitKey(index, s, indexKey{kind: 'U', scope: scope, name: s.name}, visit) {
		return false
	}
	for _, g := range s.groups {
		if !a.visitKey(index, s, indexKey{kind: 'G', scope: scope, name: g}, visit) {
			return false
		}
	}
	if ns, name, ok := serviceAccountOf(s.name); ok {
		return a.visitKey(index, s, indexKey{kind: 'S', scope: scope, namespace: ns, name: name}, visit)
	}
	return true
}

func (a *Authorizer) visitKey(index *bindingIndex, s *subject, key indexKey, visit func(b binding, subject int) bool) bool {
	names := index.names(key)
	if len(names) == 0 {
		return true
	}
	var bindings rbaclisters.RoleBindingNamespaceLister
	if key.scope != "" {
		bindings = a.roleBindings.RoleBindings(key.scope)
	}
	for _, name := range names {
		var b binding
		if key.scope == "" {
			crb, err := a.clusterRoleBindings.Get(name)
			if err != nil {
				continue // deleted since it was indexed
			}
			b = fromClusterRoleBinding(crb)
		} else {
			rb, err := bindings.Get(name)
			if err != nil {
				continue
			}
			b = fromRoleBinding(rb)
		}
		i, ok := s.appliesTo(b.subjects, key.scope)
		if !ok {
			continue // no longer names the user
		}
		if k, _ := subjectKey(&b.subjects[i], key.scope); k != key {
			continue // visited, or to be visited, under that subject's key
		}
		if !visit(b, i) {
			return false
		}
	}
	return true
}

// ConditionsAwareAuthorize is Authorize: RBAC has no conditional decisions.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions fails closed: RBAC never returns conditions to evaluate.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// RulesFor returns the resource and non-resource rules u holds in namespace
// (cluster-wide rules only when namespace is ""). When a binding refers to a
// role that cannot be read, the rules found are still returned, with
// incomplete set and an error naming the missing roles.
func (a *Authorizer) RulesFor(ctx context.Context, u user.Info, namespace string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	rules, err := a.PolicyRules(ctx, u, namespace)
	var (
		resourceRules    []authorizer.ResourceRuleInfo
		nonResourceRules []authorizer.NonResourceRuleInfo
	)
	for _, r := range rules {
		// A rule may carry both; upstream reports each half on its own list.
		if len(r.Resources) > 0 {
			resourceRules = append(resourceRules, &authorizer.DefaultResourceRuleInfo{
				Verbs:         r.Verbs,
				APIGroups:     r.APIGroups,
				Resources:     r.Resources,
				ResourceNames: r.ResourceNames,
			})
		}
		if len(r.NonResourceURLs) > 0 {
			nonResourceRules = append(nonResourceRules, &authorizer.DefaultNonResourceRuleInfo{
				Verbs:           r.Verbs,
				NonResourceURLs: r.NonResourceURLs,
			})
		}
	}
	return resourceRules, nonResourceRules, err != nil, err
}

// PolicyRules returns the policy rules u holds in namespace: those of the
// ClusterRoleBindings naming u and, when namespace is not "", those of the
// RoleBindings in it. The rules are the roles' own (callers must not modify
// them). The error, if any, aggregates the roles that could not be read; the
// rules returned are valid regardless, since rules only ever add permissions.
func (a *Authorizer) PolicyRules(_ context.Context, u user.Info, namespace string) ([]rbacv1.PolicyRule, error) {
	if u == nil {
		return nil, nil
	}
	subj := subjectOf(u)
	var (
		rules []rbacv1.PolicyRule
		errs  []error
	)
	collect := func(b binding, _ int) bool {
		r, err := a.roleRefRules(b.ref, b.namespace)
		if err != nil {
			errs = append(errs, err)
		} else {
			rules = append(rules, r...)
		}
		return true
	}
	a.walk(&subj, "", &errs, collect)
	if namespace != "" {
		a.walk(&subj, namespace, &errs, collect)
	}
	return rules, utilerrors.NewAggregate(errs)
}

// RoleRefRules returns the rules a binding in namespace ("" for a
// ClusterRoleBinding) grants through ref. A missing role is the lister's
// NotFound error, unwrapped so that it stays an API status (404) with
// upstream's message.
func (a *Authorizer) RoleRefRules(_ context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	return a.roleRefRules(ref, namespace)
}

func (a *Authorizer) roleRefRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		role, err := a.roles.Roles(namespace).Get(ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	case "ClusterRole":
		role, err := a.clusterRoles.Get(ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	default:
		return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
	}
}

// allowedReason says which binding allowed a request, in upstream's words:
// `RBAC: allowed by RoleBinding "name/ns" of Role "r" to User "jane"`. It is
// built with appends, not fmt, because every allowed request pays for it.
func allowedReason(b *binding, s *rbacv1.Subject) string {
	buf := make([]byte, 0, 128)
	buf = append(buf, "RBAC: allowed by "...)
	buf = append(buf, b.kind...)
	buf = append(buf, ' ')
	if b.namespace != "" {
		buf = strconv.AppendQuote(buf, b.name+"/"+b.namespace)
	} else {
		buf = strconv.AppendQuote(buf, b.name)
	}
	buf = append(buf, " of "...)
	buf = append(buf, b.ref.Kind...)
	buf = append(buf, ' ')
	buf = strconv.AppendQuote(buf, b.ref.Name)
	buf = append(buf, " to "...)
	buf = append(buf, s.Kind...)
	buf = append(buf, ' ')
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = b.namespace
		}
		buf = strconv.AppendQuote(buf, s.Name+"/"+ns)
	} else {
		buf = strconv.AppendQuote(buf, s.Name)
	}
	return string(buf)
}
