// Package garbagecollector is the controller that deletes objects whose owners
// are gone, as upstream's garbage collector does, over every resource the API
// server serves that can be listed, watched and deleted (CRDs included, found by
// re-running discovery periodically).
//
// The dependency graph is the metadata-only informer caches themselves, indexed
// by UID and by the UIDs of each object's owners (graph.go): an object is a
// dependent of every ownerReference it carries. The controller owns three
// things:
//   - background collection: an object whose owners are all gone (or all in
//     foreground deletion) is deleted, with its own finalizers deciding how;
//     references to gone owners are stripped from objects that keep a live one;
//   - foreground deletion: an owner carrying the foregroundDeletion finalizer has
//     its dependents deleted, and loses the finalizer once none with
//     blockOwnerDeletion remain;
//   - orphaning: an owner carrying the orphan finalizer has its reference
//     stripped from every dependent, then loses the finalizer.
//
// The API server adds those finalizers from a DELETE's propagationPolicy (the
// generic registry of k8s.io/apiserver does). Absence of an owner is only ever
// concluded from a live GET (404, or another UID under the name), never from a
// cache that may lag. A namespaced object can only be owned from its own
// namespace or by a cluster-scoped object; references that cross namespaces
// are reported (OwnerRefInvalidNamespace), and a cluster-scoped object naming a
// namespaced owner is left alone, as upstream does. The controller must not
// change anything but deletions, ownerReferences and the two finalizers it
// serves.
package garbagecollector

import (
	"context"
	"log/slog"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/lru"

	"berth.dev/berth/orchestrator/controller/loop"
)

// DefaultDiscoveryPeriod is how often the served resources are re-discovered, so
// that the resources of new CRDs are watched.
const DefaultDiscoveryPeriod = 30 * time.Second

// absentOwners is how many owners found gone are remembered, upstream's size.
const absentOwners = 500

// Option configures a Controller.
type Option func(*Controller)

// WithDiscoveryPeriod sets how often discovery runs again; non-positive keeps
// the default.
func WithDiscoveryPeriod(d time.Duration) Option {
	return func(c *Controller) {
		if d > 0 {
			c.discoveryPeriod = d
		}
	}
}

// WithRecorder records OwnerRefInvalidNamespace warnings on objects whose
// ownerReferences cross namespaces (upstream's component is
// garbage-collector-controller); without it they are only logged.
func WithRecorder(r record.EventRecorder) Option { return func(c *Controller) { c.recorder = r } }

// Controller is the garbage collector. Its queue holds object UIDs: an object is
// looked up in the graph by UID, so one key serves an object both as a dependent
// and as an owner.
type Controller struct {
	client          metadata.Interface
	discovery       discovery.DiscoveryInterface
	discoveryPeriod time.Duration
	graph           *graph
	absent          *lru.Cache // namespace/UID of owners found gone
	recorder        record.EventRecorder
	queue           workqueue.TypedRateLimitingInterface[string]
	log             *slog.Logger
}

// New returns the garbage collector. It reads and writes objects through client
// (metadata only, so it serves any resource) and finds the resources to watch
// through disc. It starts its own informers in Run.
func New(client metadata.Interface, disc discovery.DiscoveryInterface, opts ...Option) *Controller {
	c := &Controller{
		client:          client,
		discovery:       disc,
		discoveryPeriod: DefaultDiscoveryPeriod,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "garbagecollector"}),
		absent: lru.New(absentOwners),
		log:    slog.Default().With("controller", "garbagecollector"),
	}
	c.graph = newGraph(client, cache.ResourceEventHandlerFuncs{
		AddFunc:    c.added,
		UpdateFunc: c.updated,
		DeleteFunc: c.deleted,
	})
	for _, o := range opts {
		o(c)
	}
	return c
}

// Run discovers the resources, watches them, and collects garbage with the given
// number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.rediscover(ctx)
	go func() {
		t := time.NewTicker(c.discoveryPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.rediscover(ctx)
			}
		}
	}()
	loop.Run(ctx, "garbagecollector", c.queue, workers, c.sync, c.graph.synced()...)
}

// rediscover brings the watched resources in line with what the server serves.
func (c *Controller) rediscover(ctx context.Context) {
	lists, err := discovery.ServerPreferredResources(c.discovery)
	complete := err == nil
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		c.log.Warn("discovering resources", "err", err)
		return
	}
	if err != nil {
		// Some groups did not answer: watch what did, and keep watching the rest.
		c.log.Warn("discovering resources, some groups failed", "err", err)
	}
	c.graph.resync(ctx, lists, complete, c.log)
}

func (c *Controller) enqueue(uid types.UID) { c.queue.Add(string(uid)) }

// added wakes an object that may be garbage, or an owner whose deletion waits on
// the collector.
func (c *Controller) added(obj any) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		c.observe(m)
	}
}

func (c *Controller) updated(old, cur any) {
	o, ok1 := old.(*metav1.PartialObjectMetadata)
	m, ok2 := cur.(*metav1.PartialObjectMetadata)
	if !ok1 || !ok2 {
		return
	}
	c.observe(m)
	if !slices.EqualFunc(o.OwnerReferences, m.OwnerReferences, sameRef) {
		// A dependent that drops a reference, or stops blocking, may be the
		// last one a foreground deletion waits for.
		for _, ref := range o.OwnerReferences {
			c.wakeDeletingOwner(ref.UID)
		}
	}
}

// deleted wakes the dependents of the object (their owner may be gone now) and
// the owners waiting on it in foreground deletion.
func (c *Controller) deleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return
	}
	for _, d := range c.graph.dependents(m.UID) {
		c.enqueue(d.meta.UID)
	}
	for _, ref := range m.OwnerReferences {
		c.wakeDeletingOwner(ref.UID)
	}
}

func (c *Controller) observe(m *metav1.PartialObjectMetadata) {
	if m.DeletionTimestamp != nil && (hasFinalizer(m, metav1.FinalizerOrphanDependents) || hasFinalizer(m, metav1.FinalizerDeleteDependents)) {
		c.enqueue(m.UID)
		return
	}
	if c.graph.suspect(m) {
		c.enqueue(m.UID)
	}
}

func (c *Controller) wakeDeletingOwner(uid types.UID) {
	if o, ok := c.graph.object(uid); ok && o.meta.DeletionTimestamp != nil {
		c.enqueue(uid)
	}
}

// sameRef says whether two references name the same owner with the same
// blocking, the parts of a reference the collector acts on.
func sameRef(a, b metav1.OwnerReference) bool {
	return a.UID == b.UID && blocks(a) == blocks(b)
}

func blocks(ref metav1.OwnerReference) bool {
	return ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
}

func hasFinalizer(m metav1.Object, f string) bool { return slices.Contains(m.GetFinalizers(), f) }
