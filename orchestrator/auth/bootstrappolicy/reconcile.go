package bootstrappolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	rbacv1client "k8s.io/client-go/kubernetes/typed/rbac/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
)

// Reconcile writes the default policy into the cluster client reaches, with
// extra ClusterRoles beside it (roles for berth's own resources, say,
// aggregated into edit and view); extra roles get the default label and the
// autoupdate annotation unless they carry their own.
//
// It is upstream's reconcile: a missing object is created; an existing one
// whose autoupdate annotation is not "false" gets what it lacks of the
// default's labels, annotations, rules, aggregation selectors and subjects,
// and keeps whatever users added; a binding whose roleRef differs is
// recreated, since a roleRef cannot change. An object annotated autoupdate
// "false" is left as it is. A second run writes nothing. Conflicting writes
// are retried; every object is tried, and the errors of those that failed
// are returned together.
func Reconcile(ctx context.Context, client kubernetes.Interface, extra ...rbacv1.ClusterRole) error {
	rbac := client.RbacV1()
	var errs []error
	for _, role := range append(ClusterRoles(), withDefaults(extra)...) {
		errs = append(errs, reconcileRole(ctx, "ClusterRole", reconciliation.ClusterRoleRuleOwner{ClusterRole: &role},
			clusterRoleModifier{ctx: ctx, client: rbac.ClusterRoles()}))
	}
	for _, binding := range ClusterRoleBindings() {
		errs = append(errs, reconcileBinding(ctx, "ClusterRoleBinding", reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: &binding},
			clusterRoleBindingModifier{ctx: ctx, client: rbac.ClusterRoleBindings()}))
	}
	for _, role := range Roles() {
		errs = append(errs, reconcileRole(ctx, "Role", reconciliation.RoleRuleOwner{Role: &role},
			roleModifier{ctx: ctx, client: rbac, namespaces: client.CoreV1().Namespaces()}))
	}
	for _, binding := range RoleBindings() {
		errs = append(errs, reconcileBinding(ctx, "RoleBinding", reconciliation.RoleBindingAdapter{RoleBinding: &binding},
			roleBindingModifier{ctx: ctx, client: rbac, namespaces: client.CoreV1().Namespaces()}))
	}
	return errors.Join(errs...)
}

// withDefaults returns copies of roles carrying the default label and
// annotation where they have none of their own.
func withDefaults(roles []rbacv1.ClusterRole) []rbacv1.ClusterRole {
	out := make([]rbacv1.ClusterRole, len(roles))
	for i := range roles {
		r := roles[i].DeepCopy()
		if r.Labels == nil {
			r.Labels = map[string]string{}
		}
		if _, ok := r.Labels[LabelKey]; !ok {
			r.Labels[LabelKey] = LabelValue
		}
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		if _, ok := r.Annotations[rbacv1.AutoUpdateAnnotationKey]; !ok {
			r.Annotations[rbacv1.AutoUpdateAnnotationKey] = "true"
		}
		out[i] = *r
	}
	return out
}

// reconcileRole reconciles one role, starting over when a write loses a race.
func reconcileRole(ctx context.Context, kind string, want reconciliation.RuleOwner, client reconciliation.RuleOwnerModifier) error {
	var result *reconciliation.ReconcileClusterRoleResult
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Each attempt gets its own copy: a failed one may have handed the
		// object to the client.
		opts := reconciliation.ReconcileRoleOptions{Role: want.DeepCopyRuleOwner(), Client: client, Confirm: true}
		var err error
		result, err = opts.Run()
		return err
	})
	if err != nil {
		return fmt.Errorf("reconciling %s %s: %w", kind, objectName(want.GetNamespace(), want.GetName()), err)
	}
	logResult(ctx, kind, want.GetNamespace(), want.GetName(), result.Operation, result.Protected,
		len(result.MissingRules) > 0 || len(result.MissingAggregationRuleSelectors) > 0)
	return nil
}

// reconcileBinding reconciles one binding, starting over when a write loses a
// race.
func reconcileBinding(ctx context.Context, kind string, want reconciliation.RoleBinding, client reconciliation.RoleBindingModifier) error {
	var result *reconciliation.ReconcileClusterRoleBindingResult
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		opts := reconciliation.ReconcileRoleBindingOptions{RoleBinding: want.DeepCopyRoleBinding(), Client: client, Confirm: true}
		var err error
		result, err = opts.Run()
		return err
	})
	if err != nil {
		return fmt.Errorf("reconciling %s %s: %w", kind, objectName(want.GetNamespace(), want.GetName()), err)
	}
	logResult(ctx, kind, want.GetNamespace(), want.GetName(), result.Operation, result.Protected, len(result.MissingSubjects) > 0)
	return nil
}

func logResult(ctx context.Context, kind, namespace, name string, op reconciliation.ReconcileOperation, protected, missing bool) {
	switch {
	case protected && missing:
		// Upstream warns too: the user chose this, but should know what the
		// defaults would have added.
		slog.WarnContext(ctx, "left a default RBAC object annotated autoupdate=false without the defaults it lacks",
			"kind", kind, "name", objectName(namespace, name))
	case protected, op == reconciliation.ReconcileNone:
	default:
		slog.DebugContext(ctx, "reconciled default RBAC object", "kind", kind, "name", objectName(namespace, name), "operation", string(op))
	}
}

func objectName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// The modifiers below adapt client-go to the reconciliation package, whose
// interfaces take no context: each carries the context of the one Reconcile
// call that made it, and lives no longer than that call.

type clusterRoleModifier struct {
	ctx    context.Context
	client rbacv1client.ClusterRoleInterface
}

func (m clusterRoleModifier) Get(_, name string) (reconciliation.RuleOwner, error) {
	r, err := m.client.Get(m.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: r}, nil
}

func (m clusterRoleModifier) Create(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	r, err := m.client.Create(m.ctx, in.(reconciliation.ClusterRoleRuleOwner).ClusterRole, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: r}, nil
}

func (m clusterRoleModifier) Update(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	r, err := m.client.Update(m.ctx, in.(reconciliation.ClusterRoleRuleOwner).ClusterRole, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleRuleOwner{ClusterRole: r}, nil
}

type roleModifier struct {
	ctx        context.Context
	client     rbacv1client.RolesGetter
	namespaces corev1client.NamespaceInterface
}

func (m roleModifier) Get(namespace, name string) (reconciliation.RuleOwner, error) {
	r, err := m.client.Roles(namespace).Get(m.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.RoleRuleOwner{Role: r}, nil
}

func (m roleModifier) Create(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	if err := ensureNamespace(m.ctx, m.namespaces, in.GetNamespace()); err != nil {
		return nil, err
	}
	r, err := m.client.Roles(in.GetNamespace()).Create(m.ctx, in.(reconciliation.RoleRuleOwner).Role, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.RoleRuleOwner{Role: r}, nil
}

func (m roleModifier) Update(in reconciliation.RuleOwner) (reconciliation.RuleOwner, error) {
	r, err := m.client.Roles(in.GetNamespace()).Update(m.ctx, in.(reconciliation.RoleRuleOwner).Role, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.RoleRuleOwner{Role: r}, nil
}

type clusterRoleBindingModifier struct {
	ctx    context.Context
	client rbacv1client.ClusterRoleBindingInterface
}

func (m clusterRoleBindingModifier) Get(_, name string) (reconciliation.RoleBinding, error) {
	b, err := m.client.Get(m.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: b}, nil
}

func (m clusterRoleBindingModifier) Create(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	b, err := m.client.Create(m.ctx, in.(reconciliation.ClusterRoleBindingAdapter).ClusterRoleBinding, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: b}, nil
}

func (m clusterRoleBindingModifier) Update(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	b, err := m.client.Update(m.ctx, in.(reconciliation.ClusterRoleBindingAdapter).ClusterRoleBinding, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: b}, nil
}

// Delete removes the binding only if it is still the one read (uid), so a
// binding someone recreated meanwhile is not lost.
func (m clusterRoleBindingModifier) Delete(_, name string, uid types.UID) error {
	return m.client.Delete(m.ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
}

type roleBindingModifier struct {
	ctx        context.Context
	client     rbacv1client.RoleBindingsGetter
	namespaces corev1client.NamespaceInterface
}

func (m roleBindingModifier) Get(namespace, name string) (reconciliation.RoleBinding, error) {
	b, err := m.client.RoleBindings(namespace).Get(m.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.RoleBindingAdapter{RoleBinding: b}, nil
}

func (m roleBindingModifier) Create(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	if err := ensureNamespace(m.ctx, m.namespaces, in.GetNamespace()); err != nil {
		return nil, err
	}
	b, err := m.client.RoleBindings(in.GetNamespace()).Create(m.ctx, in.(reconciliation.RoleBindingAdapter).RoleBinding, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.RoleBindingAdapter{RoleBinding: b}, nil
}

func (m roleBindingModifier) Update(in reconciliation.RoleBinding) (reconciliation.RoleBinding, error) {
	b, err := m.client.RoleBindings(in.GetNamespace()).Update(m.ctx, in.(reconciliation.RoleBindingAdapter).RoleBinding, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return reconciliation.RoleBindingAdapter{RoleBinding: b}, nil
}

func (m roleBindingModifier) Delete(namespace, name string, uid types.UID) error {
	return m.client.RoleBindings(namespace).Delete(m.ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
}

// ensureNamespace creates namespace if it is missing, so that the policy does
// not depend on running after whatever else creates the system namespaces.
// Forbidden is not an error here: whether the Role can be created then is
// the create's to say.
func ensureNamespace(ctx context.Context, namespaces corev1client.NamespaceInterface, namespace string) error {
	_, err := namespaces.Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	_, err = namespaces.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	return nil
}
