package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rbacKinds are the printed kinds of the rbac.authorization.k8s.io group. Roles and
// cluster roles, like upstream's, print the default table.
func rbacKinds() map[string]kind {
	return map[string]kind{
		"rolebindings":        cellsOf(bindingColumns("roleBinding"), roleBindingCells),
		"clusterrolebindings": cellsOf(bindingColumns("clusterRoleBinding"), clusterRoleBindingCells),
	}
}

// bindingColumns are the columns of a binding kind; what names it in descriptions.
func bindingColumns(what string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Role", "string", rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]),
		ageColumn(),
		wide(column("Users", "string", "Users in the "+what)),
		wide(column("Groups", "string", "Groups in the "+what)),
		wide(column("ServiceAccounts", "string", "ServiceAccounts in the "+what)),
	}
}

func roleBindingCells(b *rbacv1.RoleBinding, now time.Time) []any {
	return bindingCells(b.ObjectMeta, b.RoleRef, b.Subjects, now)
}

func clusterRoleBindingCells(b *rbacv1.ClusterRoleBinding, now time.Time) []any {
	return bindingCells(b.ObjectMeta, b.RoleRef, b.Subjects, now)
}

// bindingCells show the role as "Kind/name" and the subjects by kind, service accounts
// as "namespace/name"; subjects of other kinds are left out.
func bindingCells(m metav1.ObjectMeta, role rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []any{m.Name, role.Kind + "/" + role.Name, since(m.CreationTimestamp, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}
