// Package nodeipam is the node IPAM controller, as kube-controller-manager runs
// it with the range allocator (and k3s with --cluster-cidr): it gives every
// Node spec.podCIDR and spec.podCIDRs, one node CIDR from each cluster CIDR
// (one IPv4 and one IPv6 when dual-stack), and takes them back when the Node is
// deleted.
//
// It owns its in-memory record of which node CIDRs are taken, rebuilt at start
// from the CIDRs Nodes hold before anything is handed out, and writes nothing
// but spec.podCIDR and spec.podCIDRs of Nodes that have none. Pod CIDRs are
// immutable once set, so it must never change or clear them: CIDRs set by
// someone else are respected (marked taken when inside a cluster CIDR, reported
// with a CIDRNotAvailable event when outside). It must not touch node
// conditions: NetworkUnavailable belongs to the cloud route controller, not to
// the range allocator.
package nodeipam

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
	"berth.dev/berth/orchestrator/controller/nodeipam/cidrset"
)

// Controller hands out node CIDRs. Its queue holds node names.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	recorder record.EventRecorder
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger

	mu sync.Mutex
	// sets are the node CIDRs of each cluster CIDR, in the configured order.
	sets []*cidrset.Set
	// held is what each node holds in sets, by node name: the in-range CIDRs
	// it has, or those reserved for it while they are written.
	held map[string]holding
	// reported is the last event recorded for a node, so that a node waiting
	// for a CIDR or holding a foreign one is told once, not on every retry.
	reported map[string]string
	// waiting is the nodes that found a cluster CIDR full; they are queued
	// again at once when a node CIDR is freed, not after their back-off.
	waiting map[string]bool
}

// holding is the node CIDRs one Node holds.
type holding struct {
	uid   types.UID
	cidrs []netip.Prefix
}

// New returns the controller, or an error naming the flag to fix when cfg is
// invalid. It registers the node informer with f: start f after New. Events
// go to recorder (upstream's allocator names itself cidrAllocator).
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, cfg Config) (*Controller, error) {
	sets, err := cfg.sets()
	if err != nil {
		return nil, err // names the flag; the caller says which controller
	}
	nodes := f.Core().V1().Nodes()
	c := &Controller{
		client:   client,
		nodes:    nodes.Lister(),
		recorder: recorder,
		synced:   nodes.Informer().HasSynced,
		log:      slog.Default().With("controller", "nodeipam"),
		sets:     sets,
		held:     map[string]holding{},
		reported: map[string]string{},
		waiting:  map[string]bool{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"}),
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			// A node's CIDRs never change once set: heartbeats of a node that
			// has them need no work.
			o, ok1 := old.(*corev1.Node)
			n, ok2 := cur.(*corev1.Node)
			if ok1 && ok2 && o.UID == n.UID && len(nodeCIDRs(o)) > 0 && len(nodeCIDRs(n)) > 0 {
				return
			}
			c.enqueue(cur)
		},
		DeleteFunc: c.enqueue,
	}); err != nil {
		return nil, fmt.Errorf("node IPAM: watching nodes: %w", err)
	}
	return c, nil
}

// Run hands out node CIDRs with the given number of workers until ctx ends.
// Before the first is handed out it marks every CIDR a Node holds as taken, so
// a restart never hands out a held range. It returns nil when ctx ends, and an
// error when it cannot start: no workers, or ctx ended before the node cache
// filled.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		c.queue.ShutDown()
		return fmt.Errorf("node IPAM: %d workers: at least one is needed", workers)
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		c.queue.ShutDown()
		return fmt.Errorf("node IPAM: waiting for the node cache: %w", context.Cause(ctx))
	}
	if err := c.occupyExisting(); err != nil {
		c.queue.ShutDown()
		return err
	}
	c.log.Info("handing out node CIDRs", "clusterCIDRs", c.clusterCIDRs())
	loop.Run(ctx, "nodeipam", c.queue, workers, c.sync, c.synced)
	return nil
}

// occupyExisting marks the CIDRs of every Node in the cache as taken. Nodes
// with CIDRs outside the cluster CIDRs are reported by their own sync.
func (c *Controller) occupyExisting() error {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("node IPAM: listing nodes: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, node := range nodes {
		if cidrs := nodeCIDRs(node); len(cidrs) > 0 {
			c.adoptLocked(node, cidrs)
		}
	}
	return nil
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("queueing node", "err", err)
		return
	}
	c.queue.Add(key)
}

func (c *Controller) clusterCIDRs() []string {
	out := make([]string, len(c.sets))
	for i, s := range c.sets {
		out[i] = fmt.Sprintf("%v (/%d per node, %d of %d free)", s.Cluster(), s.NodeMaskSize(), s.Free(), s.Len())
	}
	return out
}
