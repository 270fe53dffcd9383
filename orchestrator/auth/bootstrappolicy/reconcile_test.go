package bootstrappolicy

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// writes returns the actions of client that changed something.
func writes(client *fake.Clientset) []clienttesting.Action {
	var out []clienttesting.Action
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a)
		}
	}
	return out
}

func reconciled(t *testing.T, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objs...)
	if err := Reconcile(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	return client
}

func TestReconcileCreatesEverything(t *testing.T) {
	ctx := context.Background()
	client := reconciled(t)
	for _, want := range ClusterRoles() {
		got, err := client.RbacV1().ClusterRoles().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ClusterRole %s: %v", want.Name, err)
		}
		if ok, missing := validation.Covers(got.Rules, want.Rules); !ok {
			t.Errorf("ClusterRole %s lacks %v", want.Name, missing)
		}
		if (got.AggregationRule == nil) != (want.AggregationRule == nil) {
			t.Errorf("ClusterRole %s: aggregationRule %v, want %v", want.Name, got.AggregationRule, want.AggregationRule)
		}
		if got.Annotations[rbacv1.AutoUpdateAnnotationKey] != "true" || got.Labels[LabelKey] != LabelValue {
			t.Errorf("ClusterRole %s: labels %v annotations %v", want.Name, got.Labels, got.Annotations)
		}
	}
	for _, want := range ClusterRoleBindings() {
		got, err := client.RbacV1().ClusterRoleBindings().Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ClusterRoleBinding %s: %v", want.Name, err)
		}
		if got.RoleRef != want.RoleRef || !slices.Equal(got.Subjects, want.Subjects) {
			t.Errorf("ClusterRoleBinding %s: %v %v, want %v %v", want.Name, got.RoleRef, got.Subjects, want.RoleRef, want.Subjects)
		}
	}
	for _, want := range Roles() {
		if _, err := client.RbacV1().Roles(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("Role %s/%s: %v", want.Namespace, want.Name, err)
		}
	}
	for _, want := range RoleBindings() {
		if _, err := client.RbacV1().RoleBindings(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("RoleBinding %s/%s: %v", want.Namespace, want.Name, err)
		}
	}
	// The namespaces of the Roles were missing, so Reconcile made them.
	for _, ns := range []string{"kube-system"} {
		if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
}

func TestReconcileTwiceWritesNothing(t *testing.T) {
	client := reconciled(t)
	client.ClearActions()
	if err := Reconcile(context.Background(), client); err != nil {
		t.Fatal(err)
	}
	if w := writes(client); len(w) > 0 {
		t.Fatalf("second run wrote %d times, first: %v", len(w), w[0])
	}
}

func TestReconcileMerges(t *testing.T) {
	ctx := context.Background()
	userRule := rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}
	userSubject := user("alice")
	defaultView := findClusterRole(t, "system:aggregate-to-view")
	defaultBasic := findClusterRole(t, "system:basic-user")

	for _, tc := range []struct {
		name string
		// existing is stored before Reconcile runs.
		existing runtime.Object
		// check inspects the cluster afterwards.
		check func(t *testing.T, client *fake.Clientset)
	}{
		{
			name: "a removed rule on an autoupdate role comes back, the user's rule stays",
			existing: func() runtime.Object {
				r := defaultView.DeepCopy()
				r.Rules = append(r.Rules[1:], userRule)
				r.Labels["team"] = "web"
				return r
			}(),
			check: func(t *testing.T, client *fake.Clientset) {
				got := getClusterRole(t, client, defaultView.Name)
				if ok, missing := validation.Covers(got.Rules, defaultView.Rules); !ok {
					t.Errorf("not restored: %v", missing)
				}
				if ok, _ := validation.Covers(got.Rules, []rbacv1.PolicyRule{userRule}); !ok {
					t.Error("the user's rule was removed")
				}
				if got.Labels["team"] != "web" || got.Labels[AggregateToView] != "true" {
					t.Errorf("labels %v", got.Labels)
				}
			},
		},
		{
			name: "a role annotated autoupdate=false is left alone",
			existing: func() runtime.Object {
				r := defaultBasic.DeepCopy()
				r.Annotations[rbacv1.AutoUpdateAnnotationKey] = "false"
				r.Rules = []rbacv1.PolicyRule{userRule}
				return r
			}(),
			check: func(t *testing.T, client *fake.Clientset) {
				got := getClusterRole(t, client, defaultBasic.Name)
				if len(got.Rules) != 1 || got.Rules[0].Resources[0] != "widgets" {
					t.Errorf("rules changed to %v", got.Rules)
				}
				if got.Annotations[rbacv1.AutoUpdateAnnotationKey] != "false" {
					t.Errorf("annotations changed to %v", got.Annotations)
				}
			},
		},
		{
			name: "a missing default subject comes back, the user's subject stays",
			existing: &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "system:public-info-viewer"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:public-info-viewer"},
				Subjects:   []rbacv1.Subject{userSubject, group("system:authenticated")},
			},
			check: func(t *testing.T, client *fake.Clientset) {
				got, err := client.RbacV1().ClusterRoleBindings().Get(ctx, "system:public-info-viewer", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				want := []rbacv1.Subject{userSubject, group("system:authenticated"), group("system:unauthenticated")}
				if !slices.Equal(got.Subjects, want) {
					t.Errorf("subjects %v, want %v", got.Subjects, want)
				}
				if got.Annotations[rbacv1.AutoUpdateAnnotationKey] != "true" || got.Labels[LabelKey] != LabelValue {
					t.Errorf("defaults' metadata not added: %v %v", got.Labels, got.Annotations)
				}
			},
		},
		{
			name: "a binding to another role is recreated",
			existing: &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin", UID: "old"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
				Subjects:   []rbacv1.Subject{group("system:masters")},
			},
			check: func(t *testing.T, client *fake.Clientset) {
				got, err := client.RbacV1().ClusterRoleBindings().Get(ctx, "cluster-admin", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got.RoleRef.Name != ClusterAdmin {
					t.Errorf("roleRef %v", got.RoleRef)
				}
			},
		},
		{
			name:     "a Role in an existing namespace is created beside it",
			existing: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: map[string]string{"kept": "yes"}}},
			check: func(t *testing.T, client *fake.Clientset) {
				ns, err := client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
				if err != nil || ns.Labels["kept"] != "yes" {
					t.Errorf("namespace replaced: %v %v", ns, err)
				}
				if _, err := client.RbacV1().Roles("kube-system").Get(ctx, BerthNode, metav1.GetOptions{}); err != nil {
					t.Error(err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, reconciled(t, tc.existing))
		})
	}
}

func TestReconcileExtraRoles(t *testing.T) {
	ctx := context.Background()
	extra := rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "berth:aggregate-to-view:releases", Labels: map[string]string{AggregateToView: "true"}},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"berth.dev"}, Resources: []string{"releases"}}},
	}
	client := fake.NewClientset()
	if err := Reconcile(ctx, client, extra); err != nil {
		t.Fatal(err)
	}
	got := getClusterRole(t, client, extra.Name)
	if got.Labels[AggregateToView] != "true" || got.Labels[LabelKey] != LabelValue || got.Annotations[rbacv1.AutoUpdateAnnotationKey] != "true" {
		t.Errorf("labels %v annotations %v", got.Labels, got.Annotations)
	}
	if ok, _ := validation.Covers(got.Rules, extra.Rules); !ok {
		t.Errorf("rules %v", got.Rules)
	}
	if extra.Annotations != nil || len(extra.Labels) != 1 {
		t.Error("Reconcile changed the caller's role")
	}
	// An extra role is reconciled as the defaults are.
	client.ClearActions()
	if err := Reconcile(ctx, client, extra); err != nil {
		t.Fatal(err)
	}
	if w := writes(client); len(w) > 0 {
		t.Fatalf("second run wrote: %v", w[0])
	}
}

func TestReconcileRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	stale := findClusterRole(t, "system:aggregate-to-edit")
	stale.Rules = stale.Rules[:1]
	client := fake.NewClientset(&stale)
	conflicts := 0
	client.PrependReactor("update", "clusterroles", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts == 0 {
			conflicts++
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterroles"}, stale.Name, nil)
		}
		return false, nil, nil
	})
	if err := Reconcile(ctx, client); err != nil {
		t.Fatal(err)
	}
	if conflicts != 1 {
		t.Fatalf("%d conflicts, want 1", conflicts)
	}
	got := getClusterRole(t, client, stale.Name)
	if ok, missing := validation.Covers(got.Rules, findClusterRole(t, stale.Name).Rules); !ok {
		t.Fatalf("not restored after the conflict: %v", missing)
	}
}

func TestReconcileReportsFailuresAndGoesOn(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "clusterroles", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.(clienttesting.CreateAction).GetObject().(*rbacv1.ClusterRole).Name == View {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterroles"}, View, nil)
		}
		return false, nil, nil
	})
	err := Reconcile(context.Background(), client)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("error %v, want the Forbidden of view", err)
	}
	if _, err := client.RbacV1().ClusterRoles().Get(context.Background(), Edit, metav1.GetOptions{}); err != nil {
		t.Fatalf("stopped at the first failure: %v", err)
	}
}

func findClusterRole(t *testing.T, name string) rbacv1.ClusterRole {
	t.Helper()
	for _, r := range ClusterRoles() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no default ClusterRole %q", name)
	return rbacv1.ClusterRole{}
}

func getClusterRole(t *testing.T, client *fake.Clientset, name string) *rbacv1.ClusterRole {
	t.Helper()
	r, err := client.RbacV1().ClusterRoles().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
