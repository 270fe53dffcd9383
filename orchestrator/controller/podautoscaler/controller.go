// Package podautoscaler runs the HorizontalPodAutoscaler controller, as
// upstream's does for resource metrics: every sync period it reads the cpu or
// memory usage of the pods a target's scale selects, from the resource metrics
// API, and sets the target's replicas through its scale subresource to bring
// usage to the target (a utilization of requests or an average value), within
// min/max replicas and the rates and stabilization windows of spec.behavior,
// then reports what it saw in the autoscaler's status and events.
//
// It must not read metrics anywhere but through MetricsSource, nor change a
// target any other way than its scale subresource: it works for any kind that
// serves one (Deployment, ReplicaSet, StatefulSet, ReplicationController, custom
// resources). ContainerResource, Pods, Object and External metrics are not
// supported: such a metric sets ScalingActive False (InvalidMetricSourceType).
package podautoscaler

import (
	"context"
	"log/slog"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"berth.dev/berth/orchestrator/controller/loop"
)

// Upstream's defaults (kube-controller-manager --horizontal-pod-autoscaler-*).
const (
	// DefaultSyncPeriod is how often each autoscaler is reconciled.
	DefaultSyncPeriod = 15 * time.Second
	// DefaultDownscaleStabilization is how far back the highest recommendation
	// is kept when scaling down, unless behavior.scaleDown says otherwise.
	DefaultDownscaleStabilization = 5 * time.Minute
	// DefaultTolerance is how far usage may stray from the target, as a
	// fraction, before the replicas change.
	DefaultTolerance = 0.1
	// DefaultCPUInitializationPeriod is how long after a pod starts its cpu
	// figures may be skewed by start-up work, and so are only trusted once
	// the pod is ready and was ready when they were measured.
	DefaultCPUInitializationPeriod = 5 * time.Minute
	// DefaultInitialReadinessDelay is how long after a pod starts a pod that
	// is not ready is taken to be still starting rather than failing.
	DefaultInitialReadinessDelay = 30 * time.Second
)

// Option configures a Controller.
type Option func(*Controller)

// WithSyncPeriod sets how often each autoscaler is reconciled.
func WithSyncPeriod(d time.Duration) Option { return func(c *Controller) { c.syncPeriod = d } }

// WithDownscaleStabilization sets the scale-down stabilization window of
// autoscalers whose behavior does not set one.
func WithDownscaleStabilization(d time.Duration) Option {
	return func(c *Controller) { c.downscaleWindow = d }
}

// WithTolerance sets the fraction usage may stray from the target unnoticed.
func WithTolerance(f float64) Option { return func(c *Controller) { c.tolerance = f } }

// WithCPUInitializationPeriod sets how long after start a pod's cpu is distrusted.
func WithCPUInitializationPeriod(d time.Duration) Option {
	return func(c *Controller) { c.cpuInitializationPeriod = d }
}

// WithClock sets the clock of scale times and stabilization windows.
func WithClock(clk clock.PassiveClock) Option { return func(c *Controller) { c.clock = clk } }

// Controller reconciles HorizontalPodAutoscalers.
type Controller struct {
	client   kubernetes.Interface
	scales   scale.ScalesGetter
	mapper   meta.RESTMapper
	metrics  MetricsSource
	recorder record.EventRecorder
	clock    clock.PassiveClock

	syncPeriod              time.Duration
	downscaleWindow         time.Duration
	tolerance               float64
	cpuInitializationPeriod time.Duration
	initialReadinessDelay   time.Duration

	hpas   autoscalinglisters.HorizontalPodAutoscalerLister
	pods   corelisters.PodLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]

	// history is what each autoscaler (by key) recommended and scaled lately:
	// stabilization and scaling policies look back over it. It lives in memory,
	// as upstream's does: a restarted controller starts afresh.
	mu      sync.Mutex
	history map[string]*history
}

// New builds the controller. metrics supplies pod usage (APIMetrics reads the
// resource metrics API); scales and mapper reach the scale subresource of any
// kind (NewScaleClient builds both from a rest.Config).
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, metrics MetricsSource,
	scales scale.ScalesGetter, mapper meta.RESTMapper, opts ...Option) *Controller {
	hpas := f.Autoscaling().V2().HorizontalPodAutoscalers()
	pods := f.Core().V1().Pods()
	c := &Controller{
		client: client, scales: scales, mapper: mapper, metrics: metrics, recorder: recorder, clock: clock.RealClock{},
		syncPeriod: DefaultSyncPeriod, downscaleWindow: DefaultDownscaleStabilization, tolerance: DefaultTolerance,
		cpuInitializationPeriod: DefaultCPUInitializationPeriod, initialReadinessDelay: DefaultInitialReadinessDelay,
		hpas: hpas.Lister(), pods: pods.Lister(),
		synced:  []cache.InformerSynced{hpas.Informer().HasSynced, pods.Informer().HasSynced},
		history: map[string]*history{},
	}
	for _, o := range opts {
		o(c)
	}
	// A failed reconcile is retried a sync period later, not sooner: the
	// metrics or the target it lacked rarely come back within milliseconds,
	// and an autoscaler is reconciled that often anyway.
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](c.syncPeriod, c.syncPeriod),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "horizontalpodautoscaler"})
	hpas.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			// Only spec changes call for a reconcile now; status updates are
			// this controller's own, and the sync period covers the rest.
			o, okOld := old.(*autoscalingv2.HorizontalPodAutoscaler)
			n, okNew := cur.(*autoscalingv2.HorizontalPodAutoscaler)
			if okOld && okNew && o.Generation != n.Generation {
				c.enqueue(cur)
			}
		},
		DeleteFunc: c.enqueue,
	})
	return c
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
}

// Run reconciles autoscalers on workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "horizontal-pod-autoscaler", c.queue, workers, c.sync, c.synced...)
}

// sync reconciles one autoscaler, writes its status when it changed, and comes
// back to it a sync period later.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller made; retrying cannot help
	}
	shared, err := c.hpas.HorizontalPodAutoscalers(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	hpa := shared.DeepCopy()
	before := hpa.Status.DeepCopy()
	reconcileErr := c.reconcile(ctx, key, hpa)
	if err := c.updateStatusIfNeeded(ctx, before, hpa); err != nil {
		return err
	}
	if reconcileErr != nil {
		slog.Debug("reconciling autoscaler", "hpa", key, "err", reconcileErr)
		return reconcileErr
	}
	c.queue.AddAfter(key, c.syncPeriod)
	return nil
}
