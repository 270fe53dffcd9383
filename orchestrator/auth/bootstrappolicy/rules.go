package bootstrappolicy

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// API groups the default policy names.
const (
	coreGroup           = ""
	appsGroup           = "apps"
	authenticationGroup = "authentication.k8s.io"
	authorizationGroup  = "authorization.k8s.io"
	autoscalingGroup    = "autoscaling"
	batchGroup          = "batch"
	certificatesGroup   = "certificates.k8s.io"
	coordinationGroup   = "coordination.k8s.io"
	discoveryGroup      = "discovery.k8s.io"
	eventsGroup         = "events.k8s.io"
	extensionsGroup     = "extensions"
	metricsGroup        = "metrics.k8s.io"
	networkingGroup     = "networking.k8s.io"
	nodeGroup           = "node.k8s.io"
	policyGroup         = "policy"
	rbacGroup           = "rbac.authorization.k8s.io"
	storageGroup        = "storage.k8s.io"
)

// The verb sets upstream's policy is written in. Functions, not variables, so
// that no caller can change them for everyone.
func read() []string  { return []string{"get", "list", "watch"} }
func write() []string { return []string{"create", "update", "patch", "delete", "deletecollection"} }
func readWrite() []string {
	return append(read(), write()...)
}

// ruleBuilder spells a PolicyRule as a sentence:
// allow(read()...).in(coreGroup).on("pods").rule().
type ruleBuilder rbacv1.PolicyRule

func allow(verbs ...string) ruleBuilder { return ruleBuilder{Verbs: verbs} }

func (b ruleBuilder) in(groups ...string) ruleBuilder    { b.APIGroups = groups; return b }
func (b ruleBuilder) on(resources ...string) ruleBuilder { b.Resources = resources; return b }
func (b ruleBuilder) named(names ...string) ruleBuilder  { b.ResourceNames = names; return b }
func (b ruleBuilder) urls(urls ...string) ruleBuilder    { b.NonResourceURLs = urls; return b }

// rule returns the PolicyRule with every list sorted and without duplicates,
// as upstream stores its defaults: the same rule always reads the same, so
// comparing stored and expected policy never trips over order.
func (b ruleBuilder) rule() rbacv1.PolicyRule {
	return rbacv1.PolicyRule{
		Verbs:           sortedSet(b.Verbs),
		APIGroups:       sortedSet(b.APIGroups),
		Resources:       sortedSet(b.Resources),
		ResourceNames:   sortedSet(b.ResourceNames),
		NonResourceURLs: sortedSet(b.NonResourceURLs),
	}
}

func sortedSet(in []string) []string {
	if in == nil {
		return nil
	}
	return slices.Compact(slices.Sorted(slices.Values(in)))
}

// defaultMetadata is what every default object carries: the bootstrapping
// label (how `kubectl get clusterroles -l kubernetes.io/bootstrapping` finds
// them) and the autoupdate annotation (which lets Reconcile top them up, and
// users opt out by setting it to "false"). labels are added to it.
func defaultMetadata(name, namespace string, labels map[string]string) metav1.ObjectMeta {
	l := map[string]string{LabelKey: LabelValue}
	for k, v := range labels {
		l[k] = v
	}
	return metav1.ObjectMeta{
		Name:        name,
		Namespace:   namespace,
		Labels:      l,
		Annotations: map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"},
	}
}

func clusterRole(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: defaultMetadata(name, "", nil), Rules: rules}
}

// aggregatedClusterRole is a role whose rules the aggregation controller fills
// from the roles labelled selectorLabel=true; labels are its own.
func aggregatedClusterRole(name, selectorLabel string, labels map[string]string) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{
		ObjectMeta: defaultMetadata(name, "", labels),
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{selectorLabel: "true"}},
		}},
	}
}

// aggregatedTo returns the labels that aggregate a role into the named
// user-facing roles (AggregateToAdmin, ...).
func aggregatedTo(labels ...string) map[string]string {
	m := make(map[string]string, len(labels))
	for _, l := range labels {
		m[l] = "true"
	}
	return m
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func user(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func serviceAccount(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// clusterRoleBinding binds the ClusterRole role under the name name.
func clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{
		ObjectMeta: defaultMetadata(name, "", nil),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

// roleBinding binds the Role role of namespace, under role's name.
func roleBinding(namespace, role string, subjects ...rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{
		ObjectMeta: defaultMetadata(role, namespace, nil),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects:   subjects,
	}
}
