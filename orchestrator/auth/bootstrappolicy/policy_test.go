package bootstrappolicy

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// effectiveRules returns the rules role name has once aggregation is done:
// its own, or the union of the roles its selectors match, recursively (edit
// gets view's through view's aggregate-to-edit label).
func effectiveRules(t *testing.T, roles []rbacv1.ClusterRole, name string) []rbacv1.PolicyRule {
	t.Helper()
	byName := map[string]rbacv1.ClusterRole{}
	for _, r := range roles {
		byName[r.Name] = r
	}
	var resolve func(name string, seen map[string]bool) []rbacv1.PolicyRule
	resolve = func(name string, seen map[string]bool) []rbacv1.PolicyRule {
		r, ok := byName[name]
		if !ok {
			t.Fatalf("no ClusterRole %q", name)
		}
		if r.AggregationRule == nil {
			return r.Rules
		}
		if seen[name] {
			t.Fatalf("aggregation cycle through %q", name)
		}
		seen[name] = true
		var rules []rbacv1.PolicyRule
		for _, sel := range r.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				t.Fatal(err)
			}
			for _, other := range roles {
				if other.Name != name && s.Matches(labels.Set(other.Labels)) {
					rules = append(rules, resolve(other.Name, seen)...)
				}
			}
		}
		delete(seen, name)
		return rules
	}
	return resolve(name, map[string]bool{})
}

func resourceRule(verb, group, resource string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{group}, Resources: []string{resource}}
}

// describe names a one-verb rule in a test's name: "get secrets",
// "create apps/deployments", "get /version".
func describe(r rbacv1.PolicyRule) string {
	target := strings.Join(r.NonResourceURLs, ",")
	if len(r.Resources) > 0 {
		target = r.Resources[0]
		if r.APIGroups[0] != "" {
			target = r.APIGroups[0] + "/" + target
		}
	}
	if len(r.ResourceNames) > 0 {
		target += " " + strings.Join(r.ResourceNames, ",")
	}
	return strings.Join(r.Verbs, ",") + " " + target
}

func urlRule(verb, url string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verb}, NonResourceURLs: []string{url}}
}

func TestRoleGrants(t *testing.T) {
	roles := ClusterRoles()
	for _, tc := range []struct {
		role  string
		rule  rbacv1.PolicyRule
		grant bool
	}{
		{ClusterAdmin, resourceRule("delete", "apps", "deployments"), true},
		{ClusterAdmin, urlRule("get", "/metrics"), true},
		{View, resourceRule("get", "", "secrets"), false},
		{View, resourceRule("list", "", "secrets"), false},
		{View, resourceRule("watch", "", "secrets"), false},
		{View, resourceRule("get", "", "pods"), true},
		{View, resourceRule("get", "", "pods/log"), true},
		{View, resourceRule("create", "", "pods/exec"), false},
		{View, resourceRule("list", "apps", "deployments"), true},
		{View, resourceRule("list", "metrics.k8s.io", "pods"), true},
		{View, resourceRule("create", "", "configmaps"), false},
		{Edit, resourceRule("get", "", "secrets"), true},
		{Edit, resourceRule("create", "", "secrets"), true},
		{Edit, resourceRule("create", "", "pods/exec"), true},
		{Edit, resourceRule("get", "", "pods/log"), true},
		{Edit, resourceRule("update", "apps", "deployments"), true},
		{Edit, resourceRule("create", "batch", "cronjobs"), true},
		{Edit, resourceRule("create", "networking.k8s.io", "ingresses"), true},
		{Edit, resourceRule("create", "rbac.authorization.k8s.io", "rolebindings"), false},
		{Edit, resourceRule("get", "rbac.authorization.k8s.io", "roles"), false},
		{Edit, resourceRule("create", "", "resourcequotas"), false},
		{Admin, resourceRule("create", "rbac.authorization.k8s.io", "rolebindings"), true},
		{Admin, resourceRule("delete", "rbac.authorization.k8s.io", "roles"), true},
		{Admin, resourceRule("create", "", "secrets"), true},
		{Admin, resourceRule("get", "", "pods"), true},
		{Admin, resourceRule("create", "", "namespaces"), false},
		{"system:basic-user", resourceRule("create", "authorization.k8s.io", "selfsubjectaccessreviews"), true},
		{"system:basic-user", resourceRule("create", "authorization.k8s.io", "selfsubjectrulesreviews"), true},
		{"system:basic-user", resourceRule("create", "authentication.k8s.io", "selfsubjectreviews"), true},
		{"system:public-info-viewer", urlRule("get", "/version/"), true},
		{"system:public-info-viewer", urlRule("get", "/readyz"), true},
		{"system:public-info-viewer", urlRule("get", "/api"), false},
		{"system:discovery", urlRule("get", "/apis/apps/v1"), true},
		{NodeBootstrapper, resourceRule("create", "certificates.k8s.io", "certificatesigningrequests"), true},
		{NodeClient, resourceRule("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient"), true},
		{SelfNodeClient, resourceRule("create", "certificates.k8s.io", "certificatesigningrequests/selfnodeclient"), true},
		{SelfNodeClient, resourceRule("create", "certificates.k8s.io", "certificatesigningrequests/nodeclient"), false},
		{BerthNode, resourceRule("watch", "discovery.k8s.io", "endpointslices"), true},
		{BerthNode, resourceRule("list", "networking.k8s.io", "ingressclasses"), true},
		{BerthNode, resourceRule("create", "events.k8s.io", "events"), true},
		{BerthNode, resourceRule("patch", "", "events"), true},
		{BerthNode, resourceRule("get", "", "secrets"), false},
		{BerthNode, resourceRule("list", "", "secrets"), false},
		{SystemNode, resourceRule("update", "", "nodes/status"), true},
	} {
		verb := "denies"
		if tc.grant {
			verb = "grants"
		}
		t.Run(tc.role+" "+verb+" "+describe(tc.rule), func(t *testing.T) {
			got, _ := validation.Covers(effectiveRules(t, roles, tc.role), []rbacv1.PolicyRule{tc.rule})
			if got != tc.grant {
				t.Fatalf("%s: covers %v = %v, want %v", tc.role, tc.rule, got, tc.grant)
			}
		})
	}
}

func TestAggregationLadder(t *testing.T) {
	roles := ClusterRoles()
	for _, tc := range []struct{ wider, narrower string }{
		{Admin, Edit},
		{Edit, View},
	} {
		t.Run(tc.wider+" covers "+tc.narrower, func(t *testing.T) {
			if ok, missing := validation.Covers(effectiveRules(t, roles, tc.wider), effectiveRules(t, roles, tc.narrower)); !ok {
				t.Fatalf("%s lacks %v", tc.wider, missing)
			}
		})
	}
}

func TestBindings(t *testing.T) {
	bindings := map[string]rbacv1.ClusterRoleBinding{}
	for _, b := range ClusterRoleBindings() {
		bindings[b.Name] = b
	}
	for _, tc := range []struct {
		binding, role string
		subjects      []rbacv1.Subject
	}{
		{"cluster-admin", ClusterAdmin, []rbacv1.Subject{group("system:masters")}},
		{"system:discovery", "system:discovery", []rbacv1.Subject{group("system:authenticated")}},
		{"system:basic-user", "system:basic-user", []rbacv1.Subject{group("system:authenticated")}},
		{"system:public-info-viewer", "system:public-info-viewer",
			[]rbacv1.Subject{group("system:authenticated"), group("system:unauthenticated")}},
		{"system:monitoring", "system:monitoring", []rbacv1.Subject{group("system:monitoring")}},
		{"system:node", SystemNode, nil},
		{"system:node-proxier", "system:node-proxier", []rbacv1.Subject{user("system:kube-proxy")}},
		{"system:kube-dns", "system:kube-dns", []rbacv1.Subject{serviceAccount("kube-system", "kube-dns")}},
		{"system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
			[]rbacv1.Subject{group("system:serviceaccounts")}},
		{"system:berth:node", BerthNode, []rbacv1.Subject{group("system:nodes")}},
		{"berth:kubelet-bootstrap", NodeBootstrapper, []rbacv1.Subject{group("system:bootstrappers")}},
		{"berth:node-autoapprove-bootstrap", NodeClient, []rbacv1.Subject{group("system:bootstrappers")}},
		{"berth:node-autoapprove-certificate-rotation", SelfNodeClient, []rbacv1.Subject{group("system:nodes")}},
	} {
		t.Run(tc.binding, func(t *testing.T) {
			b, ok := bindings[tc.binding]
			if !ok {
				t.Fatalf("no ClusterRoleBinding %q", tc.binding)
			}
			if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != tc.role || b.RoleRef.APIGroup != rbacv1.GroupName {
				t.Fatalf("roleRef %+v, want ClusterRole %s", b.RoleRef, tc.role)
			}
			if !slices.Equal(b.Subjects, tc.subjects) {
				t.Fatalf("subjects %+v, want %+v", b.Subjects, tc.subjects)
			}
		})
	}
}

// TestReferencesResolve checks every binding names a role that exists, in
// its namespace for RoleBindings, and that names are unique.
func TestReferencesResolve(t *testing.T) {
	clusterRoles := map[string]bool{}
	for _, r := range ClusterRoles() {
		if clusterRoles[r.Name] {
			t.Errorf("ClusterRole %q defined twice", r.Name)
		}
		clusterRoles[r.Name] = true
	}
	seen := map[string]bool{}
	for _, b := range ClusterRoleBindings() {
		if seen[b.Name] {
			t.Errorf("ClusterRoleBinding %q defined twice", b.Name)
		}
		seen[b.Name] = true
		if b.RoleRef.Kind != "ClusterRole" || !clusterRoles[b.RoleRef.Name] {
			t.Errorf("ClusterRoleBinding %q refers to missing %s %q", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
	roles := map[string]bool{}
	for _, r := range Roles() {
		if r.Namespace == "" {
			t.Errorf("Role %q has no namespace", r.Name)
		}
		roles[r.Namespace+"/"+r.Name] = true
	}
	for _, b := range RoleBindings() {
		ok := b.RoleRef.Kind == "Role" && roles[b.Namespace+"/"+b.RoleRef.Name] ||
			b.RoleRef.Kind == "ClusterRole" && clusterRoles[b.RoleRef.Name]
		if !ok {
			t.Errorf("RoleBinding %s/%s refers to missing %s %q", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
	}
}

func TestNamespacedPolicy(t *testing.T) {
	rules := map[string][]rbacv1.PolicyRule{}
	for _, r := range Roles() {
		rules[r.Namespace+"/"+r.Name] = r.Rules
	}
	named := func(verb, resource, name string) rbacv1.PolicyRule {
		r := resourceRule(verb, "", resource)
		r.ResourceNames = []string{name}
		return r
	}
	for _, tc := range []struct {
		role  string
		rule  rbacv1.PolicyRule
		grant bool
	}{
		{"kube-system/" + BerthNode, named("get", "configmaps", "berth-config"), true},
		{"kube-system/" + BerthNode, named("get", "configmaps", "extension-apiserver-authentication"), false},
		{"kube-system/" + BerthNode, named("update", "services", "kube-dns"), true},
		{"kube-system/" + BerthNode, named("update", "services", "kubernetes"), false},
		{"kube-system/" + BerthNode, resourceRule("create", "discovery.k8s.io", "endpointslices"), true},
		{"kube-system/" + BerthNode, resourceRule("get", "", "secrets"), false},
	} {
		t.Run(tc.role+" "+describe(tc.rule), func(t *testing.T) {
			got, _ := validation.Covers(rules[tc.role], []rbacv1.PolicyRule{tc.rule})
			if got != tc.grant {
				t.Fatalf("covers = %v, want %v", got, tc.grant)
			}
		})
	}
	bindings := map[string]rbacv1.RoleBinding{}
	for _, b := range RoleBindings() {
		bindings[b.Namespace+"/"+b.Name] = b
	}
	for key, b := range bindings {
		for _, s := range b.Subjects {
			if s.Name == "system:anonymous" || s.Name == "system:unauthenticated" {
				t.Errorf("rolebinding %s grants anonymous requests", key)
			}
		}
	}
	if got := bindings["kube-system/"+BerthNode].Subjects; !slices.Equal(got, []rbacv1.Subject{group("system:nodes")}) {
		t.Errorf("kube-system %s bound to %+v, want system:nodes", BerthNode, got)
	}
}

// TestWellFormed checks what the API server's validation and the reconciler
// rely on: every object is marked as a default, and every rule is either
// about resources or about URLs, with verbs.
func TestWellFormed(t *testing.T) {
	type object struct {
		kind  string
		meta  metav1.ObjectMeta
		rules []rbacv1.PolicyRule
	}
	var all []object
	for _, r := range ClusterRoles() {
		all = append(all, object{"ClusterRole", r.ObjectMeta, r.Rules})
	}
	for _, r := range Roles() {
		all = append(all, object{"Role", r.ObjectMeta, r.Rules})
	}
	for _, b := range ClusterRoleBindings() {
		all = append(all, object{"ClusterRoleBinding", b.ObjectMeta, nil})
	}
	for _, b := range RoleBindings() {
		all = append(all, object{"RoleBinding", b.ObjectMeta, nil})
	}
	for _, o := range all {
		if o.meta.Labels[LabelKey] != LabelValue || o.meta.Annotations[rbacv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("%s %s: labels %v annotations %v, want the bootstrapping label and autoupdate", o.kind, o.meta.Name, o.meta.Labels, o.meta.Annotations)
		}
		for _, r := range o.rules {
			resources := len(r.APIGroups) > 0 && len(r.Resources) > 0
			urls := len(r.NonResourceURLs) > 0
			if len(r.Verbs) == 0 || resources == urls || urls && o.kind == "Role" {
				t.Errorf("%s %s: malformed rule %v", o.kind, o.meta.Name, r)
			}
		}
	}
}

func TestFreshObjects(t *testing.T) {
	first := ClusterRoles()
	first[0].Rules[0].Verbs[0] = "tampered"
	first[0].Labels[LabelKey] = "tampered"
	second := ClusterRoles()
	if second[0].Rules[0].Verbs[0] == "tampered" || second[0].Labels[LabelKey] == "tampered" {
		t.Fatal("ClusterRoles shares state between calls")
	}
}
