package rbac

import (
	"context"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"
)

// TestIndexFollowsEvents checks the index against an informer whose store
// changes before the index hears of it: it must never grant what the store no
// longer does, and grants what the store adds once the event arrives.
func TestIndexFollowsEvents(t *testing.T) {
	opsAdmin := clusterRoleBinding("ops-admin", toClusterRole("cluster-admin"), userSubject("ops"))
	bobAdmin := clusterRoleBinding("bob-admin", toClusterRole("cluster-admin"), userSubject("bob"))
	janeSecrets := roleBinding("dev", "jane-secrets", toRole("secret-reader"), userSubject("jane"))
	withBob := janeSecrets.DeepCopy()
	withBob.Subjects = append(withBob.Subjects, userSubject("bob"))
	withoutJane := janeSecrets.DeepCopy()
	withoutJane.Subjects = []rbacv1.Subject{userSubject("someone-else")}

	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		attrs authorizer.AttributesRecord
		// store changes the informer's store; event then tells the index.
		store, event func(t *testing.T, c *cluster)
		// Whether the request is allowed before and after the event.
		before, after bool
	}{
		{
			name:   "deleted ClusterRoleBinding",
			attrs:  resource(ops, "delete", "", "nodes", "", "", "n1"),
			store:  func(t *testing.T, c *cluster) { must(t, c.clusterRoleBindings.Delete(opsAdmin)) },
			event:  func(t *testing.T, c *cluster) { c.clusterRoleBindingEvents.handler.OnDelete(opsAdmin) },
			before: false, after: false,
		},
		{
			name:  "deleted ClusterRoleBinding, seen as a tombstone",
			attrs: resource(ops, "delete", "", "nodes", "", "", "n1"),
			store: func(t *testing.T, c *cluster) { must(t, c.clusterRoleBindings.Delete(opsAdmin)) },
			event: func(t *testing.T, c *cluster) {
				c.clusterRoleBindingEvents.handler.OnDelete(cache.DeletedFinalStateUnknown{Key: "ops-admin", Obj: opsAdmin})
				if names := c.clusterRoleBindingIndex.names(indexKey{kind: 'U', name: "ops"}); len(names) != 0 {
					t.Errorf("index still names %v for ops", names)
				}
			},
			before: false, after: false,
		},
		{
			name:   "new ClusterRoleBinding",
			attrs:  resource(bob, "delete", "", "nodes", "", "", "n1"),
			store:  func(t *testing.T, c *cluster) { must(t, c.clusterRoleBindings.Add(bobAdmin)) },
			event:  func(t *testing.T, c *cluster) { c.clusterRoleBindingEvents.handler.OnAdd(bobAdmin, false) },
			before: false, after: true,
		},
		{
			name:  "new ClusterRoleBinding before the index has synced",
			attrs: resource(bob, "delete", "", "nodes", "", "", "n1"),
			store: func(t *testing.T, c *cluster) {
				c.clusterRoleBindingEvents.synced = false
				must(t, c.clusterRoleBindings.Add(bobAdmin))
			},
			event:  func(t *testing.T, c *cluster) {},
			before: true, after: true,
		},
		{
			name:   "subject removed from a RoleBinding",
			attrs:  resource(jane, "get", "", "secrets", "", "dev", "db"),
			store:  func(t *testing.T, c *cluster) { must(t, c.roleBindings.Update(withoutJane)) },
			event:  func(t *testing.T, c *cluster) { c.roleBindingEvents.handler.OnUpdate(janeSecrets, withoutJane) },
			before: false, after: false,
		},
		{
			name:   "subject added to a RoleBinding",
			attrs:  resource(bob, "get", "", "secrets", "", "dev", "db"),
			store:  func(t *testing.T, c *cluster) { must(t, c.roleBindings.Update(withBob)) },
			event:  func(t *testing.T, c *cluster) { c.roleBindingEvents.handler.OnUpdate(janeSecrets, withBob) },
			before: false, after: true,
		},
		{
			name:   "resync changes nothing",
			attrs:  resource(jane, "get", "", "secrets", "", "dev", "db"),
			store:  func(t *testing.T, c *cluster) {},
			event:  func(t *testing.T, c *cluster) { c.roleBindingEvents.handler.OnUpdate(janeSecrets, janeSecrets) },
			before: true, after: true,
		},
		{
			name:  "RoleBinding deleted",
			attrs: resource(jane, "get", "", "secrets", "", "dev", "db"),
			store: func(t *testing.T, c *cluster) { must(t, c.roleBindings.Delete(janeSecrets)) },
			event: func(t *testing.T, c *cluster) {
				c.roleBindingEvents.handler.OnDelete(janeSecrets)
				if names := c.roleBindingIndex.names(indexKey{kind: 'U', scope: "dev", name: "jane"}); len(names) == 0 {
					t.Error("index forgot jane's other bindings in dev")
				}
			},
			before: false, after: false,
		},
	}
	check := func(t *testing.T, c *cluster, attrs authorizer.AttributesRecord, when string, want bool) {
		t.Helper()
		decision, reason, err := c.Authorize(context.Background(), attrs)
		if err != nil {
			t.Fatalf("Authorize: %v", err)
		}
		if got := decision == authorizer.DecisionAllow; got != want {
			t.Errorf("%s the event: allowed = %v (%q), want %v", when, got, reason, want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestAuthorizer(t, true, fixture()...)
			tt.store(t, c)
			check(t, c, tt.attrs, "before", tt.before)
			tt.event(t, c)
			check(t, c, tt.attrs, "after", tt.after)
		})
	}
}

// TestIndexConcurrentEvents exercises readers against events, for the race
// detector: requests read the index while bindings come and go.
func TestIndexConcurrentEvents(t *testing.T) {
	c := newTestAuthorizer(t, true, fixture()...)
	attrs := resource(jane, "get", "", "secrets", "", "dev", "db")
	extra := roleBinding("dev", "jane-extra", toRole("secret-reader"), userSubject("jane"), groupSubject("dev"))

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			c.roleBindingEvents.handler.OnAdd(extra, false)
			c.roleBindingEvents.handler.OnDelete(extra)
		}
	}()
	for range 200 {
		if d, reason, err := c.Authorize(context.Background(), attrs); err != nil || d != authorizer.DecisionAllow {
			t.Fatalf("Authorize = %v, %q, %v; want Allow throughout", d, reason, err)
		}
	}
	<-done
	if names := c.roleBindingIndex.names(indexKey{kind: 'G', scope: "dev", name: "dev"}); slices.Contains(names, "jane-extra") {
		t.Errorf("index still names a deleted binding: %v", names)
	}
}
