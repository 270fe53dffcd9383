package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// PluginName is the name of the privilege-escalation admission plugin.
// Upstream makes these checks in the RBAC registry's storage, which has no
// plugin name; berth makes them in admission.
const PluginName = "RBACEscalationCheck"

// RuleSource is what the escalation check asks about RBAC; *Authorizer is one.
type RuleSource interface {
	// PolicyRules returns the rules u holds in namespace ("" for the
	// cluster-wide ones). With an error the rules are incomplete but valid.
	PolicyRules(ctx context.Context, u user.Info, namespace string) ([]rbacv1.PolicyRule, error)
	// RoleRefRules returns the rules a binding in namespace ("" for a
	// ClusterRoleBinding) grants through ref.
	RoleRefRules(ctx context.Context, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error)
}

// fullAuthority is everything: what setting an aggregationRule needs, since
// an aggregated ClusterRole can gather any rule.
var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{rbacv1.VerbAll}, APIGroups: []string{rbacv1.APIGroupAll}, Resources: []string{rbacv1.ResourceAll}},
	{Verbs: []string{rbacv1.VerbAll}, NonResourceURLs: []string{rbacv1.NonResourceAll}},
}

// EscalationCheck is the validating admission plugin that prevents privilege
// escalation through RBAC, as upstream's RBAC storage does:
//
//   - creating or updating a Role or ClusterRole needs every permission it
//     grants (in its namespace for a Role, cluster-wide for a ClusterRole) or
//     the "escalate" verb on it; a ClusterRole with an aggregationRule (now or
//     before the update) needs full authority besides;
//   - creating or updating a RoleBinding or ClusterRoleBinding needs every
//     permission of the role it refers to (in the binding's namespace) or the
//     "bind" verb on that role;
//   - members of system:masters are exempt, and so are updates that change
//     nothing but the fields garbage collection needs (owner references,
//     finalizers).
type EscalationCheck struct {
	*admission.Handler
	authz authorizer.UnconditionalAuthorizer
	rules RuleSource
}

var (
	_ admission.ValidationInterface     = (*EscalationCheck)(nil)
	_ admission.InitializationValidator = (*EscalationCheck)(nil)
)

// NewEscalationCheck returns the plugin. authz answers the "escalate" and
// "bind" checks and should be the server's whole authorizer (as upstream's),
// so that any authorizer may grant those verbs; rules is usually the RBAC
// *Authorizer.
func NewEscalationCheck(authz authorizer.UnconditionalAuthorizer, rules RuleSource) *EscalationCheck {
	return &EscalationCheck{
		Handler: admission.NewHandler(admission.Create, admission.Update),
		authz:   authz,
		rules:   rules,
	}
}

// ValidateInitialization refuses a plugin missing its authorizer or rules.
func (c *EscalationCheck) ValidateInitialization() error {
	switch {
	case c.authz == nil:
		return fmt.Errorf("%s: no authorizer", PluginName)
	case c.rules == nil:
		return fmt.Errorf("%s: no rule source", PluginName)
	}
	return nil
}

// Validate refuses a role or binding that would grant its author permissions
// the author does not hold.
func (c *EscalationCheck) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	gr := a.GetResource().GroupResource()
	if gr.Group != rbacv1.GroupName || a.GetSubresource() != "" {
		return nil
	}
	switch gr.Resource {
	case "roles", "clusterroles", "rolebindings", "clusterrolebindings":
	default:
		return nil
	}
	u := a.GetUserInfo()
	if isPrivileged(u) {
		return nil
	}
	obj, old := a.GetObject(), a.GetOldObject()
	if a.GetOperation() == admission.Update && onlyGCFieldsChanged(obj, old) {
		return nil
	}
	ns := a.GetNamespace()

	switch gr.Resource {
	case "roles":
		role, ok := obj.(*rbacv1.Role)
		if !ok {
			return badObject(obj, "Role")
		}
		if c.authorized(ctx, u, "escalate", gr, role.Name, ns) {
			return nil
		}
		return c.confirmNoEscalation(ctx, u, gr, role.Name, ns, role.Rules, false)
	case "clusterroles":
		role, ok := obj.(*rbacv1.ClusterRole)
		if !ok {
			return badObject(obj, "ClusterRole")
		}
		if c.authorized(ctx, u, "escalate", gr, role.Name, "") {
			return nil
		}
		oldRole, _ := old.(*rbacv1.ClusterRole)
		aggregates := hasAggregationRule(role) || hasAggregationRule(oldRole)
		return c.confirmNoEscalation(ctx, u, gr, role.Name, "", role.Rules, aggregates)
	case "rolebindings":
		binding, ok := obj.(*rbacv1.RoleBinding)
		if !ok {
			return badObject(obj, "RoleBinding")
		}
		if ns == "" {
			return apierrors.NewBadRequest("namespace is required")
		}
		return c.checkBinding(ctx, u, gr, binding.Name, binding.RoleRef, ns)
	default: // clusterrolebindings
		binding, ok := obj.(*rbacv1.ClusterRoleBinding)
		if !ok {
			return badObject(obj, "ClusterRoleBinding")
		}
		return c.checkBinding(ctx, u, gr, binding.Name, binding.RoleRef, "")
	}
}

// checkBinding allows a binding to ref in namespace when its author may "bind"
// the role or already holds all it grants there.
func (c *EscalationCheck) checkBinding(ctx context.Context, u user.Info, gr schema.GroupResource, name string, ref rbacv1.RoleRef, namespace string) error {
	var roles schema.GroupResource
	switch ref.Kind {
	case "Role":
		roles = schema.GroupResource{Group: ref.APIGroup, Resource: "roles"}
	case "ClusterRole":
		roles = schema.GroupResource{Group: ref.APIGroup, Resource: "clusterroles"}
	}
	// Checked in the binding's namespace, so that "bind" can be delegated for
	// one namespace, or cluster-wide for ClusterRoleBindings.
	if roles.Resource != "" && c.authorized(ctx, u, "bind", roles, ref.Name, namespace) {
		return nil
	}
	rules, err := c.rules.RoleRefRules(ctx, ref, namespace)
	if err != nil {
		// As upstream: a missing role is its NotFound, as it is.
		return err
	}
	return c.confirmNoEscalation(ctx, u, gr, name, namespace, rules, false)
}

// authorized asks the server's authorizer whether u may verb the role named
// name (a Role in namespace, or a ClusterRole when namespace is "").
func (c *EscalationCheck) authorized(ctx context.Context, u user.Info, verb string, roles schema.GroupResource, name, namespace string) bool {
	if u == nil {
		return false
	}
	decision, _, err := c.authz.Authorize(ctx, authorizer.AttributesRecord{
		User:            u,
		Verb:            verb,
		APIGroup:        roles.Group,
		APIVersion:      "*",
		Resource:        roles.Resource,
		Name:            name,
		Namespace:       namespace,
		ResourceRequest: true,
	})
	// An error only costs the shortcut: the request is still checked rule by
	// rule, so it is not reported here.
	return err == nil && decision == authorizer.DecisionAllow
}

// confirmNoEscalation returns a Forbidden error on gr/name unless u holds
// every rule in namespace (and, with needAll, every permission at all).
func (c *EscalationCheck) confirmNoEscalation(ctx context.Context, u user.Info, gr schema.GroupResource, name, namespace string, rules []rbacv1.PolicyRule, needAll bool) error {
	if u == nil {
		return apierrors.NewForbidden(gr, name, errors.New("no user on context"))
	}
	owned, resolveErr := c.rules.PolicyRules(ctx, u, namespace)
	if covered, missing := validation.Covers(owned, rules); !covered {
		msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s",
			u.GetName(), u.GetGroups(), strings.Join(describeRules(compactRules(missing)), "\n"))
		if resolveErr != nil {
			msg += fmt.Sprintf("; resolution errors: %v", []error{resolveErr})
		}
		return apierrors.NewForbidden(gr, name, errors.New(msg))
	}
	if needAll {
		if covered, _ := validation.Covers(owned, fullAuthority); !covered {
			return apierrors.NewForbidden(gr, name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
		}
	}
	return nil
}

// isPrivileged reports membership of system:masters, whose members the API
// server trusts with everything (its own loopback client among them).
func isPrivileged(u user.Info) bool {
	return u != nil && slices.Contains(u.GetGroups(), user.SystemPrivilegedGroup)
}

func hasAggregationRule(role *rbacv1.ClusterRole) bool {
	return role != nil && role.AggregationRule != nil && len(role.AggregationRule.ClusterRoleSelectors) > 0
}

// onlyGCFieldsChanged reports whether obj differs from old in nothing but
// what the garbage collector changes (owner references, finalizers) and the
// bookkeeping the server keeps, so that deleting an object whose author lost
// permissions is not blocked on its finalizers.
func onlyGCFieldsChanged(obj, old runtime.Object) bool {
	if obj == nil || old == nil {
		return false
	}
	oldMeta, err := meta.Accessor(old)
	if err != nil {
		return false
	}
	copied := obj.DeepCopyObject()
	copiedMeta, err := meta.Accessor(copied)
	if err != nil {
		return false
	}
	copiedMeta.SetOwnerReferences(oldMeta.GetOwnerReferences())
	copiedMeta.SetFinalizers(oldMeta.GetFinalizers())
	copiedMeta.SetSelfLink(oldMeta.GetSelfLink())
	copiedMeta.SetManagedFields(oldMeta.GetManagedFields())
	copiedMeta.SetResourceVersion(oldMeta.GetResourceVersion())
	return equality.Semantic.DeepEqual(copied, old)
}

func badObject(obj runtime.Object, kind string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("resource was marked with kind %s but was unable to be converted (got %T)", kind, obj))
}
