package rbac

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// TestWithInformers wires the authorizer as the API server does, to an
// informer factory, and follows bindings created and deleted through the API.
func TestWithInformers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(
		clusterRole("cluster-admin", resourceRule(strs("*"), strs("*"), strs("*"))),
		role("dev", "secret-reader", resourceRule(strs("get"), strs(""), strs("secrets"))),
	)
	factory := informers.NewSharedInformerFactory(client, 0)
	rbac := factory.Rbac().V1()
	a, err := New(Config{
		Roles:                    rbac.Roles().Lister(),
		RoleBindings:             rbac.RoleBindings().Lister(),
		ClusterRoles:             rbac.ClusterRoles().Lister(),
		ClusterRoleBindings:      rbac.ClusterRoleBindings().Lister(),
		RoleBindingEvents:        rbac.RoleBindings().Informer(),
		ClusterRoleBindingEvents: rbac.ClusterRoleBindings().Informer(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	factory.Start(ctx.Done())
	defer func() {
		// Shutdown waits for the informers, which stop with ctx.
		cancel()
		factory.Shutdown()
	}()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}

	// eventually waits for the informer to deliver a change to the decision.
	eventually := func(t *testing.T, attrs authorizer.Attributes, allowed bool) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			d, _, err := a.Authorize(ctx, attrs)
			return (d == authorizer.DecisionAllow) == allowed, err
		})
		if err != nil {
			t.Fatalf("allowed never became %v: %v", allowed, err)
		}
	}
	rbacClient := client.RbacV1()
	steps := []struct {
		name    string
		change  func() error
		attrs   authorizer.Attributes
		allowed bool
	}{
		{"nothing bound", func() error { return nil }, resource(ops, "delete", "", "nodes", "", "", "n1"), false},
		{"ClusterRoleBinding created", func() error {
			_, err := rbacClient.ClusterRoleBindings().Create(ctx, clusterRoleBinding("ops", toClusterRole("cluster-admin"), userSubject("ops")), metav1.CreateOptions{})
			return err
		}, resource(ops, "delete", "", "nodes", "", "", "n1"), true},
		{"RoleBinding created", func() error {
			_, err := rbacClient.RoleBindings("dev").Create(ctx, roleBinding("dev", "jane", toRole("secret-reader"), groupSubject("dev")), metav1.CreateOptions{})
			return err
		}, resource(jane, "get", "", "secrets", "", "dev", "db"), true},
		{"ClusterRoleBinding deleted", func() error {
			return rbacClient.ClusterRoleBindings().Delete(ctx, "ops", metav1.DeleteOptions{})
		}, resource(ops, "delete", "", "nodes", "", "", "n1"), false},
		{"RoleBinding deleted", func() error {
			return rbacClient.RoleBindings("dev").Delete(ctx, "jane", metav1.DeleteOptions{})
		}, resource(jane, "get", "", "secrets", "", "dev", "db"), false},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if err := step.change(); err != nil {
				t.Fatal(err)
			}
			eventually(t, step.attrs, step.allowed)
			// The handlers get the informers' initial lists a little after
			// the informers themselves have synced.
			err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
				return a.clusterRoleBindingIndex.ready() && a.roleBindingIndex.ready(), nil
			})
			if err != nil {
				t.Error("the index is not in use after the informers synced")
			}
		})
	}
}
