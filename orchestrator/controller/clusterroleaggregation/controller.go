// Package clusterroleaggregation fills the rules of every ClusterRole that
// has an aggregationRule with the rules of the ClusterRoles its selectors
// match, as upstream's clusterrole-aggregation controller does: admin, edit
// and view get the rules of the roles labelled aggregate-to-admin, -edit and
// -view, so a role for a custom resource extends them by carrying a label.
// It must not touch a ClusterRole without an aggregationRule, nor anything of
// an aggregated one but its rules.
package clusterroleaggregation

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// Name is the controller's name, upstream's.
const Name = "clusterrole-aggregation-controller"

// Controller keeps aggregated ClusterRoles' rules the union of the rules of
// the roles they select.
type Controller struct {
	client kubernetes.Interface
	roles  rbaclisters.ClusterRoleLister
	synced cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New returns the controller; it registers its ClusterRole informer with f:
// start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory) *Controller {
	roles := f.Rbac().V1().ClusterRoles()
	c := &Controller{
		client: client,
		roles:  roles.Lister(),
		synced: roles.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name}),
	}
	// Which aggregated roles a change concerns would take the selectors of
	// all of them to work out, and there are few: any change that can alter
	// an aggregate queues every aggregated role, as upstream does. A role
	// aggregating others is queued when its own rules change too, since it
	// may itself be selected (edit is, by admin).
	roles.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.enqueueAggregated() },
		UpdateFunc: func(old, cur any) {
			if affectsAggregation(old, cur) {
				c.enqueueAggregated()
			}
		},
		DeleteFunc: func(any) { c.enqueueAggregated() },
	})
	return c
}

// affectsAggregation says whether a ClusterRole's update can change what
// some aggregated role should hold: only its labels, rules and
// aggregationRule count (a status-free object, so nothing else does).
func affectsAggregation(old, cur any) bool {
	o, ok1 := old.(*rbacv1.ClusterRole)
	n, ok2 := cur.(*rbacv1.ClusterRole)
	if !ok1 || !ok2 {
		return true
	}
	return !equality.Semantic.DeepEqual(o.Labels, n.Labels) ||
		!equality.Semantic.DeepEqual(o.Rules, n.Rules) ||
		!equality.Semantic.DeepEqual(o.AggregationRule, n.AggregationRule)
}

func (c *Controller) enqueueAggregated() {
	all, err := c.roles.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("listing ClusterRoles to aggregate: %w", err))
		return
	}
	for _, r := range all {
		if r.AggregationRule != nil {
			c.queue.Add(r.Name)
		}
	}
}

// Run aggregates until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, Name, c.queue, workers, c.sync, c.synced)
}

// sync makes the rules of the aggregated ClusterRole name the union of the
// rules of the roles its selectors match.
func (c *Controller) sync(ctx context.Context, name string) error {
	role, err := c.roles.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if role.AggregationRule == nil {
		return nil
	}
	want, err := c.aggregate(role)
	if err != nil {
		// Only a selector that does not parse fails here, and it will not
		// parse on a retry either: the role waits for a fix to its
		// aggregationRule, which queues it again.
		utilruntime.HandleError(fmt.Errorf("aggregating ClusterRole %s: %w", name, err))
		return nil
	}
	if equality.Semantic.DeepEqual(want, role.Rules) {
		return nil
	}
	updated := role.DeepCopy()
	updated.Rules = want
	if _, err := c.client.RbacV1().ClusterRoles().Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("writing the aggregated rules of ClusterRole %s: %w", name, err)
	}
	return nil
}

// aggregate returns the rules role should hold: for each selector in turn,
// the rules of the roles it matches in name order, each rule once, the first
// time it appears. The order is stable, so an unchanged set of roles never
// causes a write.
func (c *Controller) aggregate(role *rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	rules := []rbacv1.PolicyRule{}
	for i := range role.AggregationRule.ClusterRoleSelectors {
		selector, err := metav1.LabelSelectorAsSelector(&role.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return nil, fmt.Errorf("selector %d: %w", i, err)
		}
		matched, err := c.roles.List(selector)
		if err != nil {
			return nil, fmt.Errorf("listing the ClusterRoles of selector %d: %w", i, err)
		}
		slices.SortFunc(matched, func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
		for _, m := range matched {
			if m.Name == role.Name {
				continue
			}
			for j := range m.Rules {
				if !containsRule(rules, m.Rules[j]) {
					rules = append(rules, *m.Rules[j].DeepCopy())
				}
			}
		}
	}
	return rules, nil
}

func containsRule(rules []rbacv1.PolicyRule, rule rbacv1.PolicyRule) bool {
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(r, rule) })
}
