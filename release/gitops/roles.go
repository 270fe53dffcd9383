package gitops

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterRoles gives the namespace roles rights on GitOps objects, as
// upstream's aggregated roles give them on workloads: admin and edit manage
// Releases and GitSources, and their status, which `berth sync` reports in;
// view reads them (they hold what a Git repository holds, not the rendered
// values).
func ClusterRoles() []rbacv1.ClusterRole {
	resources := []string{ReleasesResource().Resource, GitSourcesResource().Resource,
		ReleasesResource().Resource + "/status", GitSourcesResource().Resource + "/status"}
	role := func(name string, verbs []string, aggregateTo ...string) rbacv1.ClusterRole {
		labels := map[string]string{}
		for _, to := range aggregateTo {
			labels["rbac.authorization.k8s.io/aggregate-to-"+to] = "true"
		}
		return rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{Group}, Resources: resources, Verbs: verbs}},
		}
	}
	return []rbacv1.ClusterRole{
		role("berth:gitops:edit", []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}, "admin", "edit"),
		role("berth:gitops:view", []string{"get", "list", "watch"}, "view"),
	}
}
