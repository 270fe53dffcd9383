// Package servicelb gives LoadBalancer Services their addresses on clusters
// without a cloud, as k3s's service load balancer does: every Service of type
// LoadBalancer without spec.loadBalancerClass gets status.loadBalancer.ingress
// = the InternalIP addresses (of the Service's IP families) of the nodes that
// are Ready and schedulable, kept up to date as nodes come, go and change.
// Every node's proxy serves those addresses on the Service's ports, as it
// serves NodePorts, so unlike k3s no forwarding pod runs per node.
//
// It owns status.loadBalancer of those Services, and clears it on Services
// that are no longer of type LoadBalancer, where it means nothing. It must not
// touch Services with a loadBalancerClass (another implementation's), write
// any Service's spec or metadata, or write to nodes.
package servicelb

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// Config says which nodes' addresses LoadBalancers get. The zero Config
// takes every Ready, schedulable node.
type Config struct {
	// NodeSelector limits the nodes further, as k3s's
	// svccontroller.k3s.cattle.io/enablelb label does; nil selects all.
	NodeSelector labels.Selector
}

// Controller keeps LoadBalancer Services' ingress addresses. Its queue holds
// Service keys, namespace/name.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	services corelisters.ServiceLister
	nodes    corelisters.NodeLister
	selector labels.Selector
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger
	// unavailable remembers the Services told there are no nodes, so that
	// they are told once, not on every sync.
	unavailable *keySet
}

// New returns the controller; it registers Service and Node informers with
// f: start f after New. Events go to recorder (upstream's service controller
// records as "service-controller").
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, cfg Config) (*Controller, error) {
	services := f.Core().V1().Services()
	nodes := f.Core().V1().Nodes()
	c := &Controller{
		client:      client,
		recorder:    recorder,
		services:    services.Lister(),
		nodes:       nodes.Lister(),
		selector:    cfg.NodeSelector,
		log:         slog.Default().With("controller", "servicelb"),
		unavailable: newKeySet(),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "servicelb"}),
	}
	if c.selector == nil {
		c.selector = labels.Everything()
	}
	if _, err := services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.serviceChanged,
		UpdateFunc: func(old, cur any) {
			// A Service that stops being a LoadBalancer still has its
			// status to clear: the new object says so too.
			c.serviceChanged(cur)
		},
		DeleteFunc: c.serviceDeleted,
	}); err != nil {
		return nil, fmt.Errorf("service load balancer: watching services: %w", err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.nodeChanged(nil, obj) },
		UpdateFunc: c.nodeChanged,
		DeleteFunc: func(obj any) { c.nodeChanged(obj, nil) },
	}); err != nil {
		return nil, fmt.Errorf("service load balancer: watching nodes: %w", err)
	}
	c.synced = []cache.InformerSynced{services.Informer().HasSynced, nodes.Informer().HasSynced}
	return c, nil
}

// Run syncs Services with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "servicelb", c.queue, workers, c.sync, c.synced...)
}

// serviceChanged queues a Service that is a LoadBalancer or has ingress
// addresses to clear.
func (c *Controller) serviceChanged(obj any) {
	svc, ok := obj.(*corev1.Service)
	if !ok || (!wantsAddresses(svc) && len(svc.Status.LoadBalancer.Ingress) == 0) {
		return
	}
	c.queue.Add(svc.Namespace + "/" + svc.Name)
}

// serviceDeleted queues the key so that sync forgets what it remembers of it.
func (c *Controller) serviceDeleted(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("queueing service", "err", err)
		return
	}
	c.queue.Add(key)
}

// nodeChanged queues every LoadBalancer when the change moves the addresses
// they get; a heartbeat does not.
func (c *Controller) nodeChanged(old, cur any) {
	if slices.Equal(c.hostAddresses(asNode(old)), c.hostAddresses(asNode(cur))) {
		return
	}
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		c.log.Error("listing services", "err", err)
		return
	}
	for _, svc := range svcs {
		if wantsAddresses(svc) {
			c.queue.Add(svc.Namespace + "/" + svc.Name)
		}
	}
}

func asNode(obj any) *corev1.Node {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	node, _ := obj.(*corev1.Node)
	return node
}
