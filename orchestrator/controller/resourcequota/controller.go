// Package resourcequota is the controller that keeps every ResourceQuota's status
// true: status.hard mirrors spec.hard and status.used is recounted from the objects
// of the quota's namespace with the quota evaluators. A quota is recounted when its
// spec changes, when an object it counts is deleted or changes what it uses (a pod
// finishing, a service changing type), and every few minutes to catch what events
// cannot tell (a pod's deletion grace period running out, a create that admission
// charged but that then failed).
//
// It only writes quota status, and only when it changed. It must not refuse or
// charge requests: admission does that (orchestrator/admission), charging quotas
// as objects are created, so that this controller's recounts only ever correct.
package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// fullResync is how long after a recount a quota is recounted again, whatever
// happened meanwhile.
const fullResync = 5 * time.Minute

// Controller keeps ResourceQuota status up to date.
type Controller struct {
	client    kubernetes.Interface
	informers informers.SharedInformerFactory
	quotas    corelisters.ResourceQuotaLister
	registry  quotav1.Registry
	ignored   map[schema.GroupResource]struct{}
	queue     workqueue.TypedRateLimitingInterface[string]
	synced    []cache.InformerSynced
	log       *slog.Logger

	mu sync.Mutex
	// counts are the resources counted for count/<resource>.<group> quotas that
	// have no evaluator of their own, watched once a quota names them; a nil
	// entry is a resource that cannot be counted.
	counts map[schema.GroupResource]*counter
}

// New returns the controller for the evaluators of cfg, watching through f. It
// registers the informers it needs with f: start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, cfg quotav1.Configuration) *Controller {
	quotaInformer := f.Core().V1().ResourceQuotas()
	c := &Controller{
		client:    client,
		informers: f,
		quotas:    quotaInformer.Lister(),
		registry:  generic.NewRegistry(cfg.Evaluators()),
		ignored:   cfg.IgnoredResources(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "resourcequota"}),
		log:    slog.Default().With("controller", "resourcequota"),
		counts: map[schema.GroupResource]*counter{},
	}
	_, err := quotaInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			if quotaNeedsSync(old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)) {
				c.enqueue(cur)
			}
		},
	})
	if err != nil {
		c.log.Error("watching resource quotas", "err", err)
	}
	c.synced = append(c.synced, quotaInformer.Informer().HasSynced)

	for _, e := range cfg.Evaluators() {
		if _, skip := c.ignored[e.GroupResource()]; skip {
			continue
		}
		informer, _, err := informerFor(f, e.GroupResource())
		if err != nil {
			c.log.Error("cannot recount quotas on changes", "resource", e.GroupResource(), "err", err)
			continue
		}
		if err := c.replenishOnChange(informer.Informer(), e); err != nil {
			c.log.Error("cannot recount quotas on changes", "resource", e.GroupResource(), "err", err)
			continue
		}
		c.synced = append(c.synced, informer.Informer().HasSynced)
	}
	return c
}

// quotaNeedsSync reports whether an update to a quota calls for a recount: its
// spec changed, or its status no longer mirrors its spec. Status writes, by this
// controller or by admission, do not: recounting on every charge would list the
// namespace for each object created.
func quotaNeedsSync(old, cur *corev1.ResourceQuota) bool {
	return !equality.Semantic.DeepEqual(old.Spec, cur.Spec) || !quotav1.Equals(cur.Spec.Hard, cur.Status.Hard)
}

// replenishOnChange recounts the quotas that count e's resource when one of its
// objects goes away or changes what it uses.
func (c *Controller) replenishOnChange(informer cache.SharedIndexInformer, e quotav1.Evaluator) error {
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			if usageChanged(e, old, cur) {
				c.replenish(e, cur)
			}
		},
		DeleteFunc: func(obj any) { c.replenish(e, obj) },
	})
	return err
}

// usageChanged reports whether an update changes what an object is charged.
func usageChanged(e quotav1.Evaluator, old, cur any) bool {
	oldObj, ok1 := old.(runtime.Object)
	curObj, ok2 := cur.(runtime.Object)
	if !ok1 || !ok2 {
		return true
	}
	oldUsage, err1 := e.Usage(oldObj)
	curUsage, err2 := e.Usage(curObj)
	return err1 != nil || err2 != nil || !quotav1.Equals(oldUsage, curUsage)
}

// replenish queues the quotas of obj's namespace that count e's resource.
func (c *Controller) replenish(e quotav1.Evaluator, obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("replenishing quota", "err", err)
		return
	}
	ns, _, _ := cache.SplitMetaNamespaceKey(key)
	if ns == "" {
		return
	}
	quotas, err := c.quotas.ResourceQuotas(ns).List(labels.Everything())
	if err != nil {
		c.log.Error("listing quotas to replenish", "namespace", ns, "err", err)
		return
	}
	for _, rq := range quotas {
		if len(e.MatchingResources(quotav1.ResourceNames(rq.Spec.Hard))) > 0 {
			c.enqueue(rq)
		}
	}
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("queueing quota", "err", err)
		return
	}
	c.queue.Add(key)
}

// Run syncs quotas with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "resourcequota", c.queue, workers, c.sync, c.synced...)
}

// versions are those the informer factory may know a resource at, newest stable
// first; the first it knows serves the resource's objects.
var versions = []string{"v1", "v2", "v1beta2", "v1beta1", "v1alpha1"}

// informerFor returns f's informer for a resource and the version it reads.
func informerFor(f informers.SharedInformerFactory, gr schema.GroupResource) (informers.GenericInformer, schema.GroupVersionResource, error) {
	for _, v := range versions {
		gvr := gr.WithVersion(v)
		if informer, err := f.ForResource(gvr); err == nil {
			return informer, gvr, nil
		}
	}
	return nil, schema.GroupVersionResource{}, fmt.Errorf("no informer for %s", gr)
}
