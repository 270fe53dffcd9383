// Package disruption keeps the status of PodDisruptionBudgets, as upstream's
// disruption controller does: how many selected pods are healthy, how many must
// be, how many are expected (the scale of the pods' controllers when the budget
// is a percentage or maxUnavailable), and so how many disruptions are allowed
// now, with the DisruptionAllowed condition. It forgets evictions recorded in
// disruptedPods that did not lead to a deletion within the timeout, and resets
// DisruptionTarget pod conditions left behind by deletions that never happened.
//
// It must not evict or delete pods: the API server's pods/eviction subresource
// consumes disruptionsAllowed (and applies unhealthyPodEvictionPolicy, which does
// not change the status) so that `kubectl drain` honours budgets.
package disruption

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"berth.dev/berth/orchestrator/controller/loop"
)

const (
	// DefaultDeletionTimeout is how long an eviction stays in disruptedPods
	// waiting for the pod's deletion to be seen; upstream's value.
	DefaultDeletionTimeout = 2 * time.Minute
	// DefaultStaleDisruptionTimeout is how long a pod may carry a True
	// DisruptionTarget condition without being deleted before it is reset.
	DefaultStaleDisruptionTimeout = 2 * time.Minute
)

// Option configures a Controller.
type Option func(*Controller)

// WithClock sets the clock the controller reads and waits on.
func WithClock(c clock.WithTicker) Option { return func(ctl *Controller) { ctl.clock = c } }

// WithDeletionTimeout sets how long an eviction is held in disruptedPods.
func WithDeletionTimeout(d time.Duration) Option {
	return func(c *Controller) { c.deletionTimeout = d }
}

// WithStaleDisruptionTimeout sets how long a DisruptionTarget condition may
// stand on a pod that is not being deleted.
func WithStaleDisruptionTimeout(d time.Duration) Option {
	return func(c *Controller) { c.staleTimeout = d }
}

// Controller keeps PodDisruptionBudget status up to date.
type Controller struct {
	client          kubernetes.Interface
	recorder        record.EventRecorder
	clock           clock.WithTicker
	deletionTimeout time.Duration
	staleTimeout    time.Duration

	pdbs         policylisters.PodDisruptionBudgetLister
	pods         corelisters.PodLister
	rcs          corelisters.ReplicationControllerLister
	replicaSets  appslisters.ReplicaSetLister
	deployments  appslisters.DeploymentLister
	statefulSets appslisters.StatefulSetLister
	synced       []cache.InformerSynced

	// queue holds budget keys; stalePods holds keys of pods whose
	// DisruptionTarget condition may be stale.
	queue, stalePods workqueue.TypedRateLimitingInterface[string]
	// scale reads the scale subresource of controllers this package has no
	// lister for.
	scale func(ctx context.Context, namespace string, ref controllerRef) (scaleOf, error)
	log   *slog.Logger
}

// New returns the controller; it registers its informers with f (budgets,
// pods, replication controllers, replica sets, deployments, stateful sets):
// start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) *Controller {
	c := &Controller{
		client:          client,
		recorder:        recorder,
		clock:           clock.RealClock{},
		deletionTimeout: DefaultDeletionTimeout,
		staleTimeout:    DefaultStaleDisruptionTimeout,
		log:             slog.Default().With("controller", "disruption"),
	}
	for _, o := range opts {
		o(c)
	}
	newQueue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name, Clock: c.clock})
	}
	c.queue, c.stalePods = newQueue("disruption"), newQueue("disruption-stale-pods")
	c.scale = c.readScale

	pdbs := f.Policy().V1().PodDisruptionBudgets()
	pods := f.Core().V1().Pods()
	rcs := f.Core().V1().ReplicationControllers()
	rss := f.Apps().V1().ReplicaSets()
	ds := f.Apps().V1().Deployments()
	sss := f.Apps().V1().StatefulSets()
	c.pdbs, c.pods, c.rcs = pdbs.Lister(), pods.Lister(), rcs.Lister()
	c.replicaSets, c.deployments, c.statefulSets = rss.Lister(), ds.Lister(), sss.Lister()

	c.handle(pdbs.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	c.handle(pods.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, cur any) { c.podChanged(cur) },
		DeleteFunc: c.podChanged,
	})
	// A controller's scale is the denominator of percentages: recount the
	// budgets of its namespace when it changes.
	scaleChanged := func(old, cur any, replicas func(any) int32) {
		if replicas(old) != replicas(cur) {
			c.enqueueNamespace(cur)
		}
	}
	c.handle(rcs.Informer(), cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur any) {
		scaleChanged(old, cur, func(o any) int32 { return replicasOf(o.(*corev1.ReplicationController).Spec.Replicas) })
	}})
	c.handle(rss.Informer(), cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur any) {
		scaleChanged(old, cur, func(o any) int32 { return replicasOf(o.(*appsv1.ReplicaSet).Spec.Replicas) })
	}})
	c.handle(ds.Informer(), cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur any) {
		scaleChanged(old, cur, func(o any) int32 { return replicasOf(o.(*appsv1.Deployment).Spec.Replicas) })
	}})
	c.handle(sss.Informer(), cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur any) {
		scaleChanged(old, cur, func(o any) int32 { return replicasOf(o.(*appsv1.StatefulSet).Spec.Replicas) })
	}})
	return c
}

func (c *Controller) handle(informer cache.SharedIndexInformer, h cache.ResourceEventHandler) {
	if _, err := informer.AddEventHandler(h); err != nil {
		c.log.Error("adding event handler", "err", err)
	}
	c.synced = append(c.synced, informer.HasSynced)
}

// Run syncs budgets with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	go loop.Run(ctx, "disruption-stale-pods", c.stalePods, 1, c.syncStalePod, c.synced...)
	loop.Run(ctx, "disruption", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("queueing budget", "err", err)
		return
	}
	c.queue.Add(key)
}

// podChanged queues the budgets that select the pod, and the pod itself if it
// carries a DisruptionTarget condition that may go stale.
func (c *Controller) podChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	for _, pdb := range c.budgetsFor(pod) {
		c.enqueue(pdb)
	}
	if stale, after := c.staleDisruption(pod); stale {
		c.stalePods.AddAfter(pod.Namespace+"/"+pod.Name, after)
	}
}

// budgetsFor are the budgets of the pod's namespace whose selector matches it.
func (c *Controller) budgetsFor(pod *corev1.Pod) []*policyv1.PodDisruptionBudget {
	all, err := c.pdbs.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*policyv1.PodDisruptionBudget
	for _, pdb := range all {
		if sel, err := selectorOf(pdb); err == nil && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pdb)
		}
	}
	return out
}

func (c *Controller) enqueueNamespace(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	ns, _, _ := cache.SplitMetaNamespaceKey(key)
	all, err := c.pdbs.PodDisruptionBudgets(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range all {
		c.enqueue(pdb)
	}
}

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}
