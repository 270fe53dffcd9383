package storage

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterRoles lets whoever holds a namespace's admin or edit role run the
// release commands there, as Helm works for them on Secrets: the release
// records and the Leases that lock a release while an action runs. The view
// role gets nothing: the records hold the releases' values, which may be
// secret.
func ClusterRoles() []rbacv1.ClusterRole {
	return []rbacv1.ClusterRole{{
		ObjectMeta: metav1.ObjectMeta{
			Name: "berth:releases:edit",
			Labels: map[string]string{
				"rbac.authorization.k8s.io/aggregate-to-admin": "true",
				"rbac.authorization.k8s.io/aggregate-to-edit":  "true",
			},
		},
		Rules: []rbacv1.PolicyRule{
			{
				APIGroups: []string{Group},
				Resources: []string{revisionsResource.Resource, chunksResource.Resource, indexesResource.Resource},
				Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"},
			},
			{
				APIGroups: []string{"coordination.k8s.io"},
				Resources: []string{"leases"},
				Verbs:     []string{"get", "create", "update", "delete"},
			},
		},
	}}
}
