package clusterroleaggregation

import (
	"context"
	"sync"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

const (
	toAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	toEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	toView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

func rule(verb, resource string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{""}, Resources: []string{resource}}
}

// role is a ClusterRole with rules, carrying labels (each set to "true").
func role(name string, labels []string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	r := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if len(labels) > 0 {
		r.Labels = map[string]string{}
		for _, l := range labels {
			r.Labels[l] = "true"
		}
	}
	return r
}

// aggregated is a ClusterRole aggregating the roles labelled with any of
// selectors, carrying labels and the rules it holds so far.
func aggregated(name string, selectors, labels []string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	r := role(name, labels, rules...)
	r.AggregationRule = &rbacv1.AggregationRule{}
	for _, s := range selectors {
		r.AggregationRule.ClusterRoleSelectors = append(r.AggregationRule.ClusterRoleSelectors,
			metav1.LabelSelector{MatchLabels: map[string]string{s: "true"}})
	}
	return r
}

func TestSync(t *testing.T) {
	getPods, listPods, createPods := rule("get", "pods"), rule("list", "pods"), rule("create", "pods")
	getSecrets := rule("get", "secrets")
	for _, tc := range []struct {
		name  string
		roles []*rbacv1.ClusterRole
		sync  string
		want  []rbacv1.PolicyRule // rules of sync afterwards
		write bool
	}{
		{
			name: "union in name order, each rule once",
			roles: []*rbacv1.ClusterRole{
				aggregated("view", []string{toView}, nil),
				role("b", []string{toView}, listPods, getPods),
				role("a", []string{toView}, getPods),
			},
			sync: "view", want: []rbacv1.PolicyRule{getPods, listPods}, write: true,
		},
		{
			name: "unlabelled and otherwise labelled roles are left out",
			roles: []*rbacv1.ClusterRole{
				aggregated("view", []string{toView}, nil),
				role("a", []string{toView}, getPods),
				role("b", nil, getSecrets),
				role("c", []string{toEdit}, createPods),
			},
			sync: "view", want: []rbacv1.PolicyRule{getPods}, write: true,
		},
		{
			name: "an aggregated role's current rules are aggregated further",
			roles: []*rbacv1.ClusterRole{
				aggregated("edit", []string{toEdit}, nil),
				aggregated("view", []string{toView}, []string{toEdit}, getPods),
				role("system:aggregate-to-edit", []string{toEdit}, createPods),
			},
			sync: "edit", want: []rbacv1.PolicyRule{createPods, getPods}, write: true,
		},
		{
			name: "selectors in turn",
			roles: []*rbacv1.ClusterRole{
				aggregated("both", []string{toView, toEdit}, nil),
				role("a", []string{toEdit}, createPods),
				role("b", []string{toView}, getPods),
			},
			sync: "both", want: []rbacv1.PolicyRule{getPods, createPods}, write: true,
		},
		{
			name: "a role matching its own selector does not aggregate itself",
			roles: []*rbacv1.ClusterRole{
				aggregated("self", []string{toView}, []string{toView}, getSecrets),
				role("a", []string{toView}, getPods),
			},
			sync: "self", want: []rbacv1.PolicyRule{getPods}, write: true,
		},
		{
			name: "rules of a role no longer selected are dropped",
			roles: []*rbacv1.ClusterRole{
				aggregated("view", []string{toView}, nil, getPods, getSecrets),
				role("a", []string{toView}, getPods),
				role("b", nil, getSecrets),
			},
			sync: "view", want: []rbacv1.PolicyRule{getPods}, write: true,
		},
		{
			name: "nothing selected and nothing held writes nothing",
			roles: []*rbacv1.ClusterRole{
				aggregated("view", []string{toView}, nil),
			},
			sync: "view", want: nil,
		},
		{
			name: "rules already right write nothing",
			roles: []*rbacv1.ClusterRole{
				aggregated("view", []string{toView}, nil, getPods, listPods),
				role("a", []string{toView}, getPods, listPods),
			},
			sync: "view", want: []rbacv1.PolicyRule{getPods, listPods},
		},
		{
			name: "a role without an aggregationRule is not touched",
			roles: []*rbacv1.ClusterRole{
				role("plain", []string{toView}, getSecrets),
				role("a", []string{toView}, getPods),
			},
			sync: "plain", want: []rbacv1.PolicyRule{getSecrets},
		},
		{
			name:  "a deleted role is nothing to do",
			roles: []*rbacv1.ClusterRole{role("a", []string{toView}, getPods)},
			sync:  "gone",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var objs []runtime.Object
			for _, r := range tc.roles {
				objs = append(objs, r)
			}
			client := fake.NewClientset(objs...)
			f := informers.NewSharedInformerFactory(client, 0)
			c := New(client, f)
			for _, r := range tc.roles {
				if err := f.Rbac().V1().ClusterRoles().Informer().GetStore().Add(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.sync(ctx, tc.sync); err != nil {
				t.Fatal(err)
			}
			wrote := false
			for _, a := range client.Actions() {
				if a.GetVerb() == "update" {
					wrote = true
				}
			}
			if wrote != tc.write {
				t.Fatalf("wrote = %v, want %v (actions %v)", wrote, tc.write, client.Actions())
			}
			if tc.sync == "gone" {
				return
			}
			got, err := client.RbacV1().ClusterRoles().Get(ctx, tc.sync, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got.Rules, tc.want) {
				t.Fatalf("rules %v, want %v", got.Rules, tc.want)
			}
		})
	}
}

// TestFollowsChanges runs the controller over informers and changes roles
// under it: admin, edit and view follow.
func TestFollowsChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	getPods, createPods, createBindings := rule("get", "pods"), rule("create", "pods"), rule("create", "rolebindings")
	getWidgets := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}
	client := fake.NewClientset(
		aggregated("admin", []string{toAdmin}, nil),
		aggregated("edit", []string{toEdit}, []string{toAdmin}),
		aggregated("view", []string{toView}, []string{toEdit}),
		role("system:aggregate-to-admin", []string{toAdmin}, createBindings),
		role("system:aggregate-to-edit", []string{toEdit}, createPods),
		role("system:aggregate-to-view", []string{toView}, getPods),
		role("widgets", nil, getWidgets),
	)
	// The fake's watches replay nothing: wait until the informer watches
	// before changing anything, or the change is never seen.
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("clusterroles", func(a clienttesting.Action) (bool, watch.Interface, error) {
		w, err := client.Tracker().Watch(a.GetResource(), a.GetNamespace())
		once.Do(func() { close(watching) })
		return true, w, err
	})
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f)
	f.Start(ctx.Done())
	go c.Run(ctx, 1)
	<-watching

	// converge waits until every named role holds exactly rules, in any
	// order.
	converge := func(t *testing.T, want map[string][]rbacv1.PolicyRule) {
		t.Helper()
		var last map[string][]rbacv1.PolicyRule
		err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			last = map[string][]rbacv1.PolicyRule{}
			for name, rules := range want {
				r, err := client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				last[name] = r.Rules
				if !sameRules(r.Rules, rules) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Fatalf("%v: roles hold %v, want %v", err, last, want)
		}
	}
	converge(t, map[string][]rbacv1.PolicyRule{
		"view":  {getPods},
		"edit":  {getPods, createPods},
		"admin": {getPods, createPods, createBindings},
	})

	// A role newly labelled aggregate-to-view reaches view, edit and admin.
	widgets, err := client.RbacV1().ClusterRoles().Get(ctx, "widgets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	widgets.Labels = map[string]string{toView: "true"}
	if _, err := client.RbacV1().ClusterRoles().Update(ctx, widgets, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	converge(t, map[string][]rbacv1.PolicyRule{
		"view":  {getPods, getWidgets},
		"edit":  {getPods, getWidgets, createPods},
		"admin": {getPods, getWidgets, createPods, createBindings},
	})

	// Unlabelled again, it leaves them all.
	widgets, err = client.RbacV1().ClusterRoles().Get(ctx, "widgets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	widgets.Labels = nil
	if _, err := client.RbacV1().ClusterRoles().Update(ctx, widgets, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	converge(t, map[string][]rbacv1.PolicyRule{
		"view":  {getPods},
		"edit":  {getPods, createPods},
		"admin": {getPods, createPods, createBindings},
	})

	// A deleted source role leaves too.
	if err := client.RbacV1().ClusterRoles().Delete(ctx, "system:aggregate-to-edit", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	converge(t, map[string][]rbacv1.PolicyRule{
		"view":  {getPods},
		"edit":  {getPods},
		"admin": {getPods, createBindings},
	})
}

// sameRules says whether a and b hold the same rules, in any order.
func sameRules(a, b []rbacv1.PolicyRule) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !containsRule(b, r) {
			return false
		}
	}
	return true
}
