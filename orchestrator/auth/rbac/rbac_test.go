package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

// resource describes a resource request: verb on group/resource[/sub] named
// name in namespace.
func resource(u user.Info, verb, group, res, sub, namespace, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User: u, Verb: verb, APIGroup: group, APIVersion: "v1", Resource: res, Subresource: sub,
		Namespace: namespace, Name: name, ResourceRequest: true,
	}
}

func nonResource(u user.Info, verb, path string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: verb, Path: path}
}

func TestAuthorize(t *testing.T) {
	withNamespace := nonResource(bob, "get", "/metrics")
	withNamespace.Namespace = "dev"

	tests := []struct {
		name    string
		attrs   authorizer.AttributesRecord
		allowed bool
		// reason is checked when it is not empty or the request is not allowed.
		reason string
	}{
		{"Role through RoleBinding", resource(jane, "get", "", "secrets", "", "dev", "db"), true,
			`RBAC: allowed by RoleBinding "jane-secrets/dev" of Role "secret-reader" to User "jane"`},
		{"Role of another namespace", resource(jane, "get", "", "secrets", "", "other", "db"), false, ""},
		{"verb not in rule", resource(jane, "list", "", "secrets", "", "dev", ""), false, ""},
		{"ClusterRole through RoleBinding to a group", resource(jane, "list", "", "pods", "", "dev", ""), true,
			`RBAC: allowed by RoleBinding "devs-pods/dev" of ClusterRole "pod-reader" to Group "dev"`},
		{"RoleBinding to ClusterRole grants only in its namespace", resource(jane, "list", "", "pods", "", "other", ""), false, ""},
		{"RoleBinding grants nothing cluster-wide", resource(jane, "list", "", "pods", "", "", ""), false, ""},
		{"resource rule does not cover subresource", resource(jane, "get", "", "pods", "exec", "dev", "web"), false, ""},
		{"resource/subresource rule", resource(jane, "get", "", "pods", "log", "dev", "web"), true,
			`RBAC: allowed by RoleBinding "jane-logs/dev" of ClusterRole "log-reader" to User "jane"`},
		{"resource/subresource rule does not cover resource", resource(logger, "get", "", "pods", "", "dev", "web"), false, ""},
		{"resource/* matches no subresource", resource(pat, "get", "", "pods", "log", "dev", "web"), false, ""},
		{"resource/* does not match resource", resource(pat, "get", "", "pods", "", "dev", "web"), false, ""},
		{"*/subresource in any group", resource(ciRunner, "get", "apps", "deployments", "status", "dev", "web"), true, ""},
		{"*/subresource of core resource", resource(ciRunner, "get", "", "pods", "status", "dev", "web"), true, ""},
		{"*/subresource does not cover resource", resource(ciRunner, "get", "", "pods", "", "dev", "web"), false, ""},
		{"*/subresource does not cover other subresource", resource(ciRunner, "get", "", "pods", "log", "dev", "web"), false, ""},
		{"resourceNames: named", resource(jane, "get", "", "configmaps", "", "dev", "app-config"), true, ""},
		{"resourceNames: other verb in rule", resource(jane, "update", "", "configmaps", "", "dev", "app-config"), true, ""},
		{"resourceNames: other name", resource(jane, "get", "", "configmaps", "", "dev", "kube-root-ca.crt"), false, ""},
		{"resourceNames: list has no name", resource(jane, "list", "", "configmaps", "", "dev", ""), false, ""},
		{"resourceNames: request without name", resource(jane, "update", "", "configmaps", "", "dev", ""), false, ""},
		{"ServiceAccount subject defaults to binding namespace", resource(builder, "create", "apps", "deployments", "", "dev", ""), true,
			`RBAC: allowed by RoleBinding "builder/dev" of ClusterRole "deployer" to ServiceAccount "builder/dev"`},
		{"verb *", resource(builder, "deletecollection", "apps", "deployments", "", "dev", ""), true, ""},
		{"apiGroup must match", resource(builder, "create", "", "deployments", "", "dev", ""), false, ""},
		{"ServiceAccount binding elsewhere", resource(builder, "create", "apps", "deployments", "", "other", ""), false, ""},
		{"ServiceAccount of another namespace", resource(otherBuild, "create", "apps", "deployments", "", "dev", ""), false, ""},
		{"ServiceAccount through ClusterRoleBinding", resource(logger, "get", "", "pods", "log", "anywhere", "web"), true,
			`RBAC: allowed by ClusterRoleBinding "logger" of ClusterRole "log-reader" to ServiceAccount "logger/kube-system"`},
		{"ServiceAccount subject without namespace in ClusterRoleBinding", resource(&user.DefaultInfo{Name: "system:serviceaccount::nobody"}, "list", "", "pods", "", "dev", ""), false, ""},
		{"user name is not a ServiceAccount", resource(&user.DefaultInfo{Name: "logger"}, "get", "", "pods", "log", "dev", "web"), false, ""},
		{"apiGroup * namespaced", resource(widgeteer, "get", "example.com", "widgets", "", "dev", "w"), true, ""},
		{"apiGroup * cluster-wide", resource(widgeteer, "get", "other.example.com", "widgets", "", "", "w"), true, ""},
		{"ClusterRoleBinding grants in every namespace", resource(ops, "delete", "", "secrets", "", "any", "x"), true, ""},
		{"ClusterRoleBinding grants cluster-scoped", resource(ops, "delete", "", "nodes", "", "", "n1"), true,
			`RBAC: allowed by ClusterRoleBinding "ops-admin" of ClusterRole "cluster-admin" to User "ops"`},
		{"ClusterRoleBinding grants non-resource *", resource(ops, "get", "", "pods", "log", "x", "y"), true, ""},
		{"non-resource exact", nonResource(jane, "get", "/metrics"), true,
			`RBAC: allowed by ClusterRoleBinding "authenticated-metrics" of ClusterRole "metrics-reader" to Group "system:authenticated"`},
		{"non-resource prefix", nonResource(jane, "get", "/logs/kubelet.log"), true, ""},
		{"non-resource prefix needs the slash", nonResource(jane, "get", "/logsx"), false, ""},
		{"non-resource not listed", nonResource(jane, "get", "/healthz"), false, ""},
		{"non-resource verb", nonResource(jane, "post", "/metrics"), false, ""},
		{"non-resource *", nonResource(ops, "get", "/anything/at/all"), true, ""},
		{"non-resource never through RoleBinding", nonResource(bob, "get", "/metrics"), false, ""},
		{"non-resource never through RoleBinding, even with a namespace", withNamespace, false, ""},
		{"allowed despite missing roles", resource(carol, "list", "", "pods", "", "dev", ""), true, ""},
		{"missing roles named in reason", resource(carol, "get", "", "secrets", "", "dev", "db"), false,
			`RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, role.rbac.authorization.k8s.io "gone-role" not found]`},
		{"missing cluster role named in reason", resource(carol, "get", "", "secrets", "", "", "db"), false,
			`RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found`},
		{"no user", resource(nil, "get", "", "pods", "", "dev", ""), false, ""},
	}
	for _, mode := range modes {
		a := newTestAuthorizer(t, mode.indexed, fixture()...)
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				attrs := tt.attrs
				decision, reason, err := a.Authorize(context.Background(), attrs)
				if err != nil {
					t.Fatalf("Authorize: %v", err)
				}
				want := authorizer.DecisionNoOpinion
				if tt.allowed {
					want = authorizer.DecisionAllow
				}
				if decision != want {
					t.Errorf("decision = %v (%q), want %v", decision, reason, want)
				}
				if (tt.reason != "" || !tt.allowed) && reason != tt.reason {
					t.Errorf("reason = %q, want %q", reason, tt.reason)
				}
				if got := a.ConditionsAwareAuthorize(context.Background(), attrs); got.IsAllow() != tt.allowed {
					t.Errorf("ConditionsAwareAuthorize allowed = %v, want %v", got.IsAllow(), tt.allowed)
				}
			})
		}
	}
}

// TestForbiddenMessage checks that a refusal reads as upstream's once the
// generic server words it.
func TestForbiddenMessage(t *testing.T) {
	a := newTestAuthorizer(t, false, fixture()...)
	tests := []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  string
	}{
		{"resource", resource(jane, "list", "", "pods", "", "other", ""),
			`pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "other"`},
		{"non-resource", nonResource(jane, "get", "/healthz"),
			`forbidden: User "jane" cannot get path "/healthz"`},
		{"missing role", resource(carol, "get", "", "secrets", "", "", "db"),
			`secrets "db" is forbidden: User "carol" cannot get resource "secrets" in API group "" at the cluster scope: ` +
				`RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			decision, reason, err := a.Authorize(context.Background(), tt.attrs)
			if err != nil || decision != authorizer.DecisionNoOpinion {
				t.Fatalf("Authorize = %v, %q, %v; want NoOpinion", decision, reason, err)
			}
			if got := responsewriters.ForbiddenStatusError(tt.attrs, reason).Error(); got != tt.want {
				t.Errorf("message:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// ruleStrings renders rule infos for comparison, sorted.
func ruleStrings(resourceRules []authorizer.ResourceRuleInfo, nonResourceRules []authorizer.NonResourceRuleInfo) []string {
	var out []string
	for _, r := range resourceRules {
		out = append(out, fmt.Sprintf("verbs=%v groups=%q resources=%v names=%v", r.GetVerbs(), r.GetAPIGroups(), r.GetResources(), r.GetResourceNames()))
	}
	for _, r := range nonResourceRules {
		out = append(out, fmt.Sprintf("verbs=%v urls=%v", r.GetVerbs(), r.GetNonResourceURLs()))
	}
	slices.Sort(out)
	return out
}

func TestRulesFor(t *testing.T) {
	tests := []struct {
		name       string
		user       user.Info
		namespace  string
		want       []string
		incomplete bool
		errHas     []string
	}{
		{
			name: "namespace rules and cluster rules", user: jane, namespace: "dev",
			want: []string{
				`verbs=[get list watch] groups=[""] resources=[pods] names=[]`,
				`verbs=[get update] groups=[""] resources=[configmaps] names=[app-config]`,
				`verbs=[get] groups=[""] resources=[pods/log] names=[]`,
				`verbs=[get] groups=[""] resources=[secrets] names=[]`,
				`verbs=[get] urls=[/metrics /logs/*]`,
			},
		},
		{
			name: "cluster rules only", user: jane, namespace: "",
			want: []string{`verbs=[get] urls=[/metrics /logs/*]`},
		},
		{
			name: "no bindings in namespace", user: jane, namespace: "other",
			want: []string{`verbs=[get] urls=[/metrics /logs/*]`},
		},
		{
			name: "one rule with both halves is listed twice", user: ops, namespace: "",
			want: []string{
				`verbs=[*] groups=["*"] resources=[*] names=[]`,
				`verbs=[*] urls=[*]`,
			},
		},
		{
			name: "service account", user: builder, namespace: "dev",
			want: []string{`verbs=[*] groups=["apps"] resources=[deployments] names=[]`},
		},
		{
			name: "missing roles make the list incomplete", user: carol, namespace: "dev",
			want:       []string{`verbs=[get list watch] groups=[""] resources=[pods] names=[]`},
			incomplete: true,
			errHas:     []string{`clusterrole.rbac.authorization.k8s.io "gone" not found`, `role.rbac.authorization.k8s.io "gone-role" not found`},
		},
		{
			name: "a binding naming the user twice counts once", user: jane, namespace: "twice",
			want: []string{
				`verbs=[get list watch] groups=[""] resources=[pods] names=[]`,
				`verbs=[get] urls=[/metrics /logs/*]`,
			},
		},
		{name: "nothing bound", user: nobody, namespace: "dev"},
	}
	for _, mode := range modes {
		a := newTestAuthorizer(t, mode.indexed, fixture()...)
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				resourceRules, nonResourceRules, incomplete, err := a.RulesFor(context.Background(), tt.user, tt.namespace)
				if got := ruleStrings(resourceRules, nonResourceRules); !slices.Equal(got, tt.want) {
					t.Errorf("rules:\n got %q\nwant %q", got, tt.want)
				}
				if incomplete != tt.incomplete {
					t.Errorf("incomplete = %v, want %v", incomplete, tt.incomplete)
				}
				if (err != nil) != (len(tt.errHas) > 0) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("err = %v, want it to contain %q", err, s)
					}
				}
			})
		}
	}
}

func TestRoleRefRules(t *testing.T) {
	a := newTestAuthorizer(t, false, fixture()...)
	tests := []struct {
		name      string
		ref       rbacv1.RoleRef
		namespace string
		wantVerbs []string
		wantErr   string
	}{
		{"Role in binding namespace", toRole("secret-reader"), "other", strs("get", "list"), ""},
		{"ClusterRole", toClusterRole("pod-reader"), "dev", strs("get", "list", "watch"), ""},
		{"Role missing in namespace", toRole("secret-reader"), "prod", nil, `role.rbac.authorization.k8s.io "secret-reader" not found`},
		{"Role from a ClusterRoleBinding", toRole("secret-reader"), "", nil, `role.rbac.authorization.k8s.io "secret-reader" not found`},
		{"unknown kind", rbacv1.RoleRef{Kind: "Group", Name: "x"}, "dev", nil, `unsupported role reference kind: "Group"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := a.RoleRefRules(context.Background(), tt.ref, tt.namespace)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RoleRefRules: %v", err)
			}
			if len(rules) != 1 || !slices.Equal(rules[0].Verbs, tt.wantVerbs) {
				t.Errorf("rules = %+v, want one rule with verbs %v", rules, tt.wantVerbs)
			}
		})
	}
}

func TestNewRefusesMissingListers(t *testing.T) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	full := Config{
		Roles:               rbaclisters.NewRoleLister(indexer),
		RoleBindings:        rbaclisters.NewRoleBindingLister(indexer),
		ClusterRoles:        rbaclisters.NewClusterRoleLister(indexer),
		ClusterRoleBindings: rbaclisters.NewClusterRoleBindingLister(indexer),
	}
	tests := []struct {
		name  string
		strip func(*Config)
	}{
		{"roles", func(c *Config) { c.Roles = nil }},
		{"role bindings", func(c *Config) { c.RoleBindings = nil }},
		{"cluster roles", func(c *Config) { c.ClusterRoles = nil }},
		{"cluster role bindings", func(c *Config) { c.ClusterRoleBindings = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := full
			tt.strip(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("New accepted a config without a lister")
			}
		})
	}
	if _, err := New(full); err != nil {
		t.Errorf("New(full config): %v", err)
	}
}

func TestRulesAllow(t *testing.T) {
	rules := []rbacv1.PolicyRule{
		resourceRule(strs("list"), strs(""), strs("pods")),
		resourceRule(strs("get"), strs("apps"), strs("deployments", "*/scale")),
	}
	tests := []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  bool
	}{
		{"resource", resource(jane, "get", "apps", "deployments", "", "dev", "web"), true},
		{"*/subresource", resource(jane, "get", "apps", "statefulsets", "scale", "dev", "db"), true},
		{"other group", resource(jane, "get", "", "deployments", "", "dev", "web"), false},
		{"other verb", resource(jane, "delete", "apps", "deployments", "", "dev", "web"), false},
		{"non-resource request", nonResource(jane, "get", "/apis/apps"), false},
		{"the other rule", resource(jane, "list", "", "pods", "", "dev", ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RulesAllow(tt.attrs, rules); got != tt.want {
				t.Errorf("RulesAllow = %v, want %v", got, tt.want)
			}
		})
	}
}
