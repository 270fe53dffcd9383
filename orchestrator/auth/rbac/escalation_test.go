package rbac

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
)

// admit describes op on obj (old for updates) by u, as the API server hands
// it to admission.
func admit(u user.Info, op admission.Operation, resource string, obj, old runtime.Object) admission.Attributes {
	accessor, _ := obj.(metav1.Object)
	var gvr = rbacv1.SchemeGroupVersion.WithResource(resource)
	var kind = rbacv1.SchemeGroupVersion.WithKind("")
	if resource == "pods" {
		gvr = corev1.SchemeGroupVersion.WithResource(resource)
	}
	var opts runtime.Object = &metav1.CreateOptions{}
	if op == admission.Update {
		opts = &metav1.UpdateOptions{}
	}
	return admission.NewAttributesRecord(obj, old, kind, accessor.GetNamespace(), accessor.GetName(), gvr, "", op, opts, false, u)
}

func aggregated(r *rbacv1.ClusterRole) *rbacv1.ClusterRole {
	r = r.DeepCopy()
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"aggregate-to": r.Name}}}}
	return r
}

func withFinalizer(obj runtime.Object) runtime.Object {
	obj = obj.DeepCopyObject()
	m := obj.(metav1.Object)
	m.SetFinalizers(append(m.GetFinalizers(), "example.com/cleanup"))
	return obj
}

func withLabel(obj runtime.Object) runtime.Object {
	obj = obj.DeepCopyObject()
	obj.(metav1.Object).SetLabels(map[string]string{"team": "a"})
	return obj
}

func TestEscalationCheck(t *testing.T) {
	a := newTestAuthorizer(t, true, fixture()...)
	check := NewEscalationCheck(a, a)
	if err := check.ValidateInitialization(); err != nil {
		t.Fatalf("ValidateInitialization: %v", err)
	}

	getSecrets := resourceRule(strs("get"), strs(""), strs("secrets"))
	readPods := resourceRule(strs("get", "list"), strs(""), strs("pods"))
	everything := resourceRule(strs("*"), strs("*"), strs("*"))
	escalating := role("dev", "r", resourceRule(strs("list", "delete"), strs(""), strs("secrets")))

	const (
		ok        = ""
		notFound  = "NotFound"
		forbidden = "Forbidden"
	)
	tests := []struct {
		name  string
		attrs admission.Attributes
		want  string // ok, notFound, or forbidden
		// message, when set, is the whole error message.
		message string
	}{
		// Roles: the author must hold the rules in the role's namespace.
		{name: "role with rules held", attrs: admit(jane, admission.Create, "roles", role("dev", "r", getSecrets), nil), want: ok},
		{name: "role with rules held through several bindings", attrs: admit(jane, admission.Create, "roles", role("dev", "r", getSecrets, readPods), nil), want: ok},
		{
			name: "role with rules not held", attrs: admit(jane, admission.Create, "roles", escalating, nil), want: forbidden,
			message: `roles.rbac.authorization.k8s.io "r" is forbidden: user "jane" (groups=["dev" "system:authenticated"]) ` +
				"is attempting to grant RBAC permissions not currently held:\n" +
				`{APIGroups:[""], Resources:["secrets"], Verbs:["list" "delete"]}`,
		},
		{
			name: "missing rules are listed sorted", attrs: admit(bob, admission.Create, "roles", role("dev", "r", readPods, getSecrets), nil), want: forbidden,
			message: `roles.rbac.authorization.k8s.io "r" is forbidden: user "bob" (groups=[]) ` +
				"is attempting to grant RBAC permissions not currently held:\n" +
				`{APIGroups:[""], Resources:["pods"], Verbs:["get" "list"]}` + "\n" +
				`{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`,
		},
		{name: "role in a namespace where the rules are not held", attrs: admit(jane, admission.Create, "roles", role("other", "r", getSecrets), nil), want: forbidden},
		{name: "role with escalate verb", attrs: admit(escalator, admission.Create, "roles", role("dev", "r", everything), nil), want: ok},
		{name: "escalate verb only in its namespace", attrs: admit(escalator, admission.Create, "roles", role("other", "r", everything), nil), want: forbidden},
		{name: "system:masters is exempt", attrs: admit(master, admission.Create, "roles", role("dev", "r", everything), nil), want: ok},
		{name: "role update is checked", attrs: admit(jane, admission.Update, "roles", withLabel(escalating), escalating), want: forbidden},
		{name: "role update of finalizers only", attrs: admit(jane, admission.Update, "roles", withFinalizer(escalating), escalating), want: ok},
		{
			name: "resolution errors are reported", attrs: admit(carol, admission.Create, "roles", role("dev", "r", getSecrets), nil), want: forbidden,
			message: `roles.rbac.authorization.k8s.io "r" is forbidden: user "carol" (groups=[]) ` +
				"is attempting to grant RBAC permissions not currently held:\n" +
				`{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}; resolution errors: ` +
				`[[clusterrole.rbac.authorization.k8s.io "gone" not found, role.rbac.authorization.k8s.io "gone-role" not found]]`,
		},

		// ClusterRoles: the author must hold the rules cluster-wide.
		{name: "cluster role with rules held cluster-wide", attrs: admit(jane, admission.Create, "clusterroles", clusterRole("m", urlRule(strs("get"), "/metrics")), nil), want: ok},
		{name: "cluster role with rules held only in a namespace", attrs: admit(jane, admission.Create, "clusterroles", clusterRole("p", readPods), nil), want: forbidden},
		{name: "cluster role escalate needs it cluster-wide", attrs: admit(escalator, admission.Create, "clusterroles", clusterRole("p", readPods), nil), want: forbidden},
		{name: "aggregation rule with full authority", attrs: admit(ops, admission.Create, "clusterroles", aggregated(clusterRole("agg")), nil), want: ok},
		{
			name: "aggregation rule without full authority", attrs: admit(widgeteer, admission.Create, "clusterroles",
				aggregated(clusterRole("agg", resourceRule(strs("get"), strs("*"), strs("widgets")))), nil),
			want:    forbidden,
			message: `clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule`,
		},
		{
			name: "removing an aggregation rule needs full authority", attrs: admit(widgeteer, admission.Update, "clusterroles",
				clusterRole("agg"), aggregated(clusterRole("agg"))),
			want: forbidden,
		},
		{name: "aggregated cluster role by system:masters", attrs: admit(master, admission.Create, "clusterroles", aggregated(clusterRole("agg")), nil), want: ok},

		// RoleBindings: the author must hold the role's rules in the binding's namespace, or may bind it.
		{name: "binding a held cluster role", attrs: admit(jane, admission.Create, "rolebindings", roleBinding("dev", "b", toClusterRole("pod-reader"), userSubject("x")), nil), want: ok},
		{name: "binding a held role", attrs: admit(jane, admission.Create, "rolebindings", roleBinding("dev", "b", toRole("secret-reader"), userSubject("x")), nil), want: ok},
		{
			name: "binding a role not held", attrs: admit(jane, admission.Create, "rolebindings", roleBinding("dev", "b", toClusterRole("cluster-admin"), userSubject("jane")), nil), want: forbidden,
			message: `rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "jane" (groups=["dev" "system:authenticated"]) ` +
				"is attempting to grant RBAC permissions not currently held:\n" +
				`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}` + "\n" + `{NonResourceURLs:["*"], Verbs:["*"]}`,
		},
		{name: "binding a cluster role held only in another namespace", attrs: admit(jane, admission.Create, "rolebindings", roleBinding("other", "b", toClusterRole("pod-reader"), userSubject("x")), nil), want: forbidden},
		{name: "bind verb on the role", attrs: admit(binder, admission.Create, "rolebindings", roleBinding("dev", "b", toClusterRole("cluster-admin"), userSubject("ben")), nil), want: ok},
		{name: "bind verb only in its namespace", attrs: admit(binder, admission.Create, "rolebindings", roleBinding("other", "b", toClusterRole("cluster-admin"), userSubject("ben")), nil), want: forbidden},
		{name: "bind verb only for the named role", attrs: admit(binder, admission.Create, "rolebindings", roleBinding("dev", "b", toClusterRole("pod-reader"), userSubject("ben")), nil), want: forbidden},
		{name: "cluster-wide bind verb in any namespace", attrs: admit(crbinder, admission.Create, "rolebindings", roleBinding("other", "b", toClusterRole("cluster-admin"), userSubject("cree")), nil), want: ok},
		{name: "binding a missing role", attrs: admit(jane, admission.Create, "rolebindings", roleBinding("dev", "b", toRole("gone"), userSubject("x")), nil), want: notFound},
		{name: "bind verb allows a missing role", attrs: admit(crbinder, admission.Create, "rolebindings", roleBinding("dev", "b", toClusterRole("not-yet"), userSubject("x")), nil), want: ok},
		{name: "binding a missing cluster role", attrs: admit(jane, admission.Create, "rolebindings", roleBinding("dev", "b", toClusterRole("not-yet"), userSubject("x")), nil), want: notFound},
		{
			name: "binding update of finalizers only", want: ok,
			attrs: admit(jane, admission.Update, "rolebindings",
				withFinalizer(roleBinding("dev", "b", toClusterRole("cluster-admin"), userSubject("jane"))),
				roleBinding("dev", "b", toClusterRole("cluster-admin"), userSubject("jane"))),
		},
		{
			name: "binding update of subjects", want: forbidden,
			attrs: admit(jane, admission.Update, "rolebindings",
				roleBinding("dev", "b", toClusterRole("cluster-admin"), userSubject("jane")),
				roleBinding("dev", "b", toClusterRole("cluster-admin"), userSubject("ops"))),
		},

		// ClusterRoleBindings: the author must hold the role's rules cluster-wide, or may bind it cluster-wide.
		{name: "cluster binding of rules held cluster-wide", attrs: admit(jane, admission.Create, "clusterrolebindings", clusterRoleBinding("b", toClusterRole("metrics-reader"), userSubject("x")), nil), want: ok},
		{name: "cluster binding of rules held only in a namespace", attrs: admit(jane, admission.Create, "clusterrolebindings", clusterRoleBinding("b", toClusterRole("pod-reader"), userSubject("x")), nil), want: forbidden},
		{name: "cluster binding with cluster-wide bind verb", attrs: admit(crbinder, admission.Create, "clusterrolebindings", clusterRoleBinding("b", toClusterRole("cluster-admin"), userSubject("x")), nil), want: ok},
		{name: "cluster binding with namespaced bind verb", attrs: admit(binder, admission.Create, "clusterrolebindings", clusterRoleBinding("b", toClusterRole("cluster-admin"), userSubject("x")), nil), want: forbidden},
		{name: "cluster binding by system:masters", attrs: admit(master, admission.Create, "clusterrolebindings", clusterRoleBinding("b", toClusterRole("cluster-admin"), userSubject("x")), nil), want: ok},

		{name: "other resources are not checked", attrs: admit(bob, admission.Create, "pods", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "p"}}, nil), want: ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check.Validate(context.Background(), tt.attrs, nil)
			switch tt.want {
			case ok:
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
			case forbidden:
				if !apierrors.IsForbidden(err) {
					t.Fatalf("Validate = %v, want Forbidden", err)
				}
			case notFound:
				if !apierrors.IsNotFound(err) {
					t.Fatalf("Validate = %v, want NotFound", err)
				}
			}
			if tt.message != "" && err.Error() != tt.message {
				t.Errorf("message:\n got %s\nwant %s", err, tt.message)
			}
		})
	}
}

func TestEscalationCheckHandles(t *testing.T) {
	check := NewEscalationCheck(nil, nil)
	for _, tt := range []struct {
		op   admission.Operation
		want bool
	}{
		{admission.Create, true},
		{admission.Update, true},
		{admission.Delete, false},
		{admission.Connect, false},
	} {
		if got := check.Handles(tt.op); got != tt.want {
			t.Errorf("Handles(%s) = %v, want %v", tt.op, got, tt.want)
		}
	}
	if err := check.ValidateInitialization(); err == nil {
		t.Error("ValidateInitialization accepted a plugin without authorizer or rules")
	}
}

func TestCompactRules(t *testing.T) {
	tests := []struct {
		name  string
		rules []rbacv1.PolicyRule
		want  []string
	}{
		{
			name: "verbs of one resource merge",
			rules: []rbacv1.PolicyRule{
				resourceRule(strs("get"), strs(""), strs("secrets")),
				resourceRule(strs("list"), strs(""), strs("secrets")),
				resourceRule(strs("get"), strs("apps"), strs("deployments")),
			},
			want: []string{
				`{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}`,
				`{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`,
			},
		},
		{
			name: "resource names merge per name",
			rules: []rbacv1.PolicyRule{
				resourceRule(strs("get"), strs(""), strs("configmaps"), "a"),
				resourceRule(strs("update"), strs(""), strs("configmaps"), "a"),
				resourceRule(strs("get"), strs(""), strs("configmaps"), "b"),
			},
			want: []string{
				`{APIGroups:[""], Resources:["configmaps"], ResourceNames:["a"], Verbs:["get" "update"]}`,
				`{APIGroups:[""], Resources:["configmaps"], ResourceNames:["b"], Verbs:["get"]}`,
			},
		},
		{
			name: "non-resource rules stay apart",
			rules: []rbacv1.PolicyRule{
				urlRule(strs("get"), "/metrics"),
				urlRule(strs("get"), "/metrics"),
			},
			want: []string{`{NonResourceURLs:["/metrics"], Verbs:["get"]}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make([]rbacv1.PolicyRule, len(tt.rules))
			for i := range tt.rules {
				in[i] = *tt.rules[i].DeepCopy()
			}
			got := describeRules(compactRules(in))
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("rule %d = %s, want %s", i, got[i], tt.want[i])
				}
			}
			for i := range in {
				if len(in[i].Verbs) != len(tt.rules[i].Verbs) {
					t.Errorf("compactRules modified its input rule %d: %v", i, in[i].Verbs)
				}
			}
		})
	}
}
