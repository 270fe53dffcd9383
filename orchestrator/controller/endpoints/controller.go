// Package endpoints publishes where each Service's pods are: the core/v1
// Endpoints object and the discovery.k8s.io/v1 EndpointSlices of every Service
// with a selector, as upstream's endpoints and endpointslice controllers do. Ready
// pods are addresses (slices: ready), pods that are not ready are
// notReadyAddresses (slices: ready=false, serving from readiness), terminating pods
// leave Endpoints and stay in slices with terminating=true; targetPort names are
// resolved per pod; publishNotReadyAddresses, hostname/subdomain, headless
// services and the last-change-trigger-time annotation behave as upstream.
//
// It reacts to pod and service events directly, batching pod events only briefly,
// because kube-proxy and zero-downtime rollouts wait on it. It must not touch
// Services without a selector, ExternalName Services or the EndpointSlices of
// other managers: their endpoints belong to whoever wrote them (the API server
// writes the "kubernetes" Service's).
package endpoints

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// ManagedBy is the endpointslice.kubernetes.io/managed-by label of the slices
// this controller writes; upstream's value, so that tools recognise them.
const ManagedBy = "endpointslice-controller.k8s.io"

const (
	// DefaultMaxEndpointsPerSlice is upstream's default.
	DefaultMaxEndpointsPerSlice = 100
	// DefaultBatchPeriod is how long pod events for one Service are gathered
	// before it is synced: long enough that a rollout's burst of pod changes
	// becomes a few writes, short enough not to hold traffic on dead pods.
	DefaultBatchPeriod = 50 * time.Millisecond
	// maxEndpointsCapacity is how many addresses an Endpoints object keeps;
	// beyond it the object is truncated and annotated, as upstream.
	maxEndpointsCapacity = 1000
)

// Option configures a Controller.
type Option func(*Controller)

// WithBatchPeriod sets how long pod events are gathered before a sync (0: none).
func WithBatchPeriod(d time.Duration) Option { return func(c *Controller) { c.batch = max(d, 0) } }

// WithMaxEndpointsPerSlice sets how many endpoints an EndpointSlice holds (1-1000).
func WithMaxEndpointsPerSlice(n int) Option {
	return func(c *Controller) { c.maxPerSlice = min(max(n, 1), 1000) }
}

// Controller keeps the Endpoints and EndpointSlices of Services.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	services    corelisters.ServiceLister
	pods        corelisters.PodLister
	nodes       corelisters.NodeLister
	endpoints   corelisters.EndpointsLister
	slices      discoverylisters.EndpointSliceLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	batch       time.Duration
	maxPerSlice int
	triggers    *triggerTimes
	// endpointWrites and sliceWrites remember this controller's own writes.
	endpointWrites, sliceWrites *writes
	log                         *slog.Logger
}

// New returns the controller; it registers its informers with f (services,
// pods, nodes, endpoints, endpointslices): start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) *Controller {
	services := f.Core().V1().Services()
	pods := f.Core().V1().Pods()
	nodes := f.Core().V1().Nodes()
	endpoints := f.Core().V1().Endpoints() //nolint:staticcheck // Endpoints are still served and read.
	slices := f.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:         client,
		recorder:       recorder,
		services:       services.Lister(),
		pods:           pods.Lister(),
		nodes:          nodes.Lister(),
		endpoints:      endpoints.Lister(),
		slices:         slices.Lister(),
		batch:          DefaultBatchPeriod,
		maxPerSlice:    DefaultMaxEndpointsPerSlice,
		triggers:       newTriggerTimes(),
		endpointWrites: newWrites(),
		sliceWrites:    newWrites(),
		log:            slog.Default().With("controller", "endpoints"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoints"}),
	}
	for _, o := range opts {
		o(c)
	}
	c.handle(services.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueService,
		UpdateFunc: func(_, cur any) { c.enqueueService(cur) },
		DeleteFunc: c.enqueueService,
	})
	c.handle(pods.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podChanged(nil, obj) },
		UpdateFunc: c.podChanged,
		DeleteFunc: func(obj any) { c.podChanged(nil, obj) },
	})
	c.handle(endpoints.Informer(), cache.ResourceEventHandlerFuncs{
		// Someone deleted an Endpoints object: write it again if it is ours.
		DeleteFunc: c.endpointsDeleted,
	})
	c.handle(slices.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: func(_, cur any) { c.sliceChanged(cur) },
		DeleteFunc: c.sliceDeleted,
	})
	c.synced = append(c.synced, nodes.Informer().HasSynced)
	return c
}

func (c *Controller) handle(informer cache.SharedIndexInformer, h cache.ResourceEventHandler) {
	if _, err := informer.AddEventHandler(h); err != nil {
		c.log.Error("adding event handler", "err", err)
	}
	c.synced = append(c.synced, informer.HasSynced)
}

// Run syncs Services with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			c.enqueueLeftovers()
		}
	}()
	loop.Run(ctx, "endpoints", c.queue, workers, c.sync, c.synced...)
}

// enqueueLeftovers queues the Services of every Endpoints object and managed
// slice once, so that those left behind by a Service deleted while the
// controller was down are removed.
func (c *Controller) enqueueLeftovers() {
	eps, _ := c.endpoints.List(labels.Everything())
	for _, ep := range eps {
		if _, leader := ep.Annotations["control-plane.alpha.kubernetes.io/leader"]; !leader {
			c.queue.Add(ep.Namespace + "/" + ep.Name)
		}
	}
	slices, _ := c.slices.List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelManagedBy: ManagedBy}))
	for _, s := range slices {
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			c.queue.Add(s.Namespace + "/" + name)
		}
	}
}

func (c *Controller) enqueueService(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("queueing service", "err", err)
		return
	}
	c.queue.Add(key)
}

// podChanged queues the Services that selected the pod before or select it now,
// if the change can move an endpoint.
func (c *Controller) podChanged(old, cur any) {
	oldPod, curPod := asPod(old), asPod(cur)
	if curPod == nil {
		return
	}
	if oldPod != nil && !endpointChanged(oldPod, curPod) {
		if equalLabels(oldPod.Labels, curPod.Labels) {
			return
		}
	}
	services, err := c.services.Services(curPod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range services {
		if svc.Spec.Selector == nil {
			continue
		}
		sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
		if sel.Matches(labels.Set(curPod.Labels)) || (oldPod != nil && sel.Matches(labels.Set(oldPod.Labels))) {
			c.queue.AddAfter(svc.Namespace+"/"+svc.Name, c.batch)
		}
	}
}

// sliceChanged queues a managed slice's Service unless the change is this
// controller's own write coming back.
func (c *Controller) sliceChanged(obj any) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	key := s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
	if !c.sliceWrites.echo(key, s.UID, s.ResourceVersion) {
		c.queue.Add(key)
	}
}

func (c *Controller) sliceDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	key := s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]
	if !c.sliceWrites.deletedEcho(key, s.UID) {
		c.queue.Add(key)
	}
}

func (c *Controller) endpointsDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	ep, ok := obj.(*corev1.Endpoints)
	if !ok {
		return
	}
	key := ep.Namespace + "/" + ep.Name
	c.endpointWrites.deletedEcho(key, ep.UID)
	c.queue.Add(key)
}

func asPod(obj any) *corev1.Pod {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

func equalLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
