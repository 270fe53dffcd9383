package apis

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

func defaultRoleBinding(rb *rbacv1.RoleBinding) {
	defaultValue(&rb.RoleRef.APIGroup, rbacv1.GroupName)
	defaultSubjects(rb.Subjects)
}

func defaultClusterRoleBinding(crb *rbacv1.ClusterRoleBinding) {
	defaultValue(&crb.RoleRef.APIGroup, rbacv1.GroupName)
	defaultSubjects(crb.Subjects)
}

// defaultSubjects puts users and groups in the RBAC group; service accounts stay in
// the core group.
func defaultSubjects(subjects []rbacv1.Subject) {
	for i := range subjects {
		if s := &subjects[i]; s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind {
			defaultValue(&s.APIGroup, rbacv1.GroupName)
		}
	}
}
