package rbac

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// benchNamespaces is how many namespaces the benchmark cluster has, each with
// a Role and three RoleBindings.
const benchNamespaces = 200

// benchCluster is a cluster of benchNamespaces namespaces plus about as many
// cluster-wide roles and bindings as a fresh upstream cluster has (~60).
func benchCluster() []runtime.Object {
	objs := []runtime.Object{
		clusterRole("view", resourceRule(strs("get", "list", "watch"), strs("", "apps", "batch"), strs("pods", "services", "configmaps", "deployments", "jobs"))),
		clusterRole("edit", resourceRule(strs("*"), strs("", "apps", "batch"), strs("pods", "services", "configmaps", "secrets", "deployments", "jobs"))),
		clusterRole("cluster-admin", resourceRule(strs("*"), strs("*"), strs("*")), urlRule(strs("*"), "*")),
		clusterRole("discovery", urlRule(strs("get"), "/api", "/api/*", "/apis", "/apis/*", "/version", "/healthz")),
		clusterRoleBinding("cluster-admin", toClusterRole("cluster-admin"), groupSubject(user.SystemPrivilegedGroup)),
		clusterRoleBinding("discovery", toClusterRole("discovery"), groupSubject(user.AllAuthenticated)),
	}
	for i := range 58 {
		name := fmt.Sprintf("system:controller:c%d", i)
		objs = append(objs,
			clusterRole(name, resourceRule(strs("get", "list", "watch", "update"), strs(""), strs(fmt.Sprintf("things%d", i)))),
			clusterRoleBinding(name, toClusterRole(name), saSubject("kube-system", fmt.Sprintf("c%d", i))))
	}
	for i := range benchNamespaces {
		ns := fmt.Sprintf("team-%d", i)
		objs = append(objs,
			role(ns, "secrets", resourceRule(strs("get"), strs(""), strs("secrets"))),
			roleBinding(ns, "owner", toClusterRole("edit"), userSubject(fmt.Sprintf("owner-%d", i))),
			roleBinding(ns, "viewers", toClusterRole("view"), groupSubject(fmt.Sprintf("team-%d-viewers", i))),
			roleBinding(ns, "deployer", toRole("secrets"), saSubject(ns, "deployer")))
	}
	return objs
}

// BenchmarkAuthorize measures one authorization decision in a cluster of 200
// namespaces: allowed by a RoleBinding in the request's namespace, by a
// ClusterRoleBinding, and refused after looking at everything that applies;
// finding bindings by listing them (as upstream) and through the index. The
// peer is the listing alone, which any authorizer reading listers pays.
func BenchmarkAuthorize(b *testing.B) {
	owner := &user.DefaultInfo{Name: "owner-117", Groups: strs("team-3-viewers", user.AllAuthenticated)}
	sa := &user.DefaultInfo{Name: "system:serviceaccount:kube-system:c41", Groups: strs("system:serviceaccounts", user.AllAuthenticated)}
	admin := &user.DefaultInfo{Name: "admin", Groups: strs(user.SystemPrivilegedGroup, user.AllAuthenticated)}
	cases := []struct {
		name    string
		attrs   authorizer.Attributes
		allowed bool
	}{
		{"rolebinding", resource(owner, "update", "apps", "deployments", "", "team-117", "web"), true},
		{"rolebinding-group", resource(owner, "list", "", "pods", "", "team-3", ""), true},
		{"clusterrolebinding", resource(sa, "watch", "", "things41", "", "", ""), true},
		{"clusterrolebinding-admin", resource(admin, "delete", "", "nodes", "", "", "n1"), true},
		{"nonresource", nonResource(owner, "get", "/apis/apps/v1"), true},
		{"denied", resource(owner, "delete", "", "nodes", "", "team-42", "n1"), false},
	}

	lister := newTestAuthorizer(b, false, benchCluster()...).Authorizer
	b.Run("peer-listing-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			crbs, _ := lister.clusterRoleBindings.List(lister.everything)
			rbs, _ := lister.roleBindings.RoleBindings("team-117").List(lister.everything)
			if len(crbs) == 0 || len(rbs) == 0 {
				b.Fatal("empty benchmark cluster")
			}
		}
	})
	for _, mode := range modes {
		a := newTestAuthorizer(b, mode.indexed, benchCluster()...)
		for _, c := range cases {
			b.Run(mode.name+"/"+c.name, func(b *testing.B) {
				ctx := context.Background()
				want := authorizer.DecisionNoOpinion
				if c.allowed {
					want = authorizer.DecisionAllow
				}
				b.ReportAllocs()
				for b.Loop() {
					if d, reason, _ := a.Authorize(ctx, c.attrs); d != want {
						b.Fatalf("decision = %v (%s), want %v", d, reason, want)
					}
				}
			})
		}
	}
}
