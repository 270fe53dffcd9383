// Package nodelifecycle is the controller that watches nodes' health, as the
// node-monitoring half of upstream's node lifecycle controller does. A node
// shows it is alive by renewing its Lease in kube-node-lease or by advancing
// its Ready condition's heartbeat; one that has done neither for the grace
// period (the startup grace period if it never posted Ready) gets its Ready,
// MemoryPressure, DiskPressure and PIDPressure conditions set to Unknown
// ("Kubelet stopped posting node status."). The controller keeps the node's
// taints in line with its conditions: node.kubernetes.io/unreachable
// (Ready Unknown) or not-ready (Ready False) with effect NoExecute, and the
// NoSchedule taints upstream puts on by condition (those two, memory-, disk-
// and pid-pressure, network-unavailable, and unschedulable for a cordoned
// node); a node that recovers loses them again.
//
// Times are measured on the controller's own clock from when it saw a sign of
// life, never from timestamps the node wrote, so clock skew cannot kill a
// node. The controller writes node status conditions and those taints only:
// evicting pods from NoExecute-tainted nodes is the taint eviction
// controller's job (orchestrator/controller/tainteviction).
package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"berth.dev/berth/orchestrator/controller/loop"
)

// Defaults, those of kube-controller-manager.
const (
	// DefaultGracePeriod is --node-monitor-grace-period.
	DefaultGracePeriod = 40 * time.Second
	// DefaultStartupGracePeriod is --node-startup-grace-period: the grace of
	// a node that never posted its Ready condition.
	DefaultStartupGracePeriod = 60 * time.Second
	// DefaultMonitorPeriod is --node-monitor-period.
	DefaultMonitorPeriod = 5 * time.Second
)

// Option configures a Controller.
type Option func(*Controller)

// WithGracePeriod sets how long a node may show no sign of life before it is
// marked Unknown.
func WithGracePeriod(d time.Duration) Option { return func(c *Controller) { c.gracePeriod = d } }

// WithStartupGracePeriod sets the grace of a node that never posted Ready.
func WithStartupGracePeriod(d time.Duration) Option {
	return func(c *Controller) { c.startupGracePeriod = d }
}

// WithMonitorPeriod sets how often every node is checked.
func WithMonitorPeriod(d time.Duration) Option { return func(c *Controller) { c.monitorPeriod = d } }

// WithClock sets the clock the controller measures silences on.
func WithClock(c clock.WithTicker) Option { return func(ctl *Controller) { ctl.clock = c } }

// Controller marks silent nodes Unknown and taints nodes by condition. Its
// queue holds node names.
type Controller struct {
	client             kubernetes.Interface
	nodes              corelisters.NodeLister
	leases             coordinationlisters.LeaseLister
	recorder           record.EventRecorder
	clock              clock.WithTicker
	gracePeriod        time.Duration
	startupGracePeriod time.Duration
	monitorPeriod      time.Duration
	queue              workqueue.TypedRateLimitingInterface[string]
	synced             []cache.InformerSynced
	log                *slog.Logger

	mu     sync.Mutex
	health map[string]*health // node name → what it last showed
}

// health is what the controller last saw of a node's signs of life.
type health struct {
	probe     time.Time         // when a sign of life last came, on the controller's clock
	heartbeat metav1.Time       // the Ready condition's lastHeartbeatTime then
	renewed   *metav1.MicroTime // the Lease's renewTime then
}

// New returns the node lifecycle controller. It registers the node and lease
// informers it needs with f: start f after New. Events go to recorder (upstream
// names it node-controller).
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) *Controller {
	nodes, leases := f.Core().V1().Nodes(), f.Coordination().V1().Leases()
	c := &Controller{
		client:             client,
		nodes:              nodes.Lister(),
		leases:             leases.Lister(),
		recorder:           recorder,
		clock:              clock.RealClock{},
		gracePeriod:        DefaultGracePeriod,
		startupGracePeriod: DefaultStartupGracePeriod,
		monitorPeriod:      DefaultMonitorPeriod,
		synced:             []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced},
		log:                slog.Default().With("controller", "nodelifecycle"),
		health:             map[string]*health{},
	}
	for _, o := range opts {
		o(c)
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodelifecycle", Clock: c.clock})
	// Node changes are looked at at once, so that a node that recovers (or is
	// cordoned) has its taints fixed without waiting for the next round;
	// Lease renewals only feed the next round.
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(_, cur any) {
			c.enqueue(cur)
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.mu.Lock()
				delete(c.health, key)
				c.mu.Unlock()
			}
		},
	}); err != nil {
		c.log.Error("watching nodes", "err", err)
	}
	return c
}

// Run checks every node each monitor period, with the given number of workers,
// until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	go c.monitor(ctx)
	loop.Run(ctx, "nodelifecycle", c.queue, workers, c.sync, c.synced...)
}

// monitor queues every node each monitor period: silence shows no event.
func (c *Controller) monitor(ctx context.Context) {
	t := c.clock.NewTicker(c.monitorPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		nodes, err := c.nodes.List(labels.Everything())
		if err != nil {
			c.log.Error("listing nodes", "err", err)
			continue
		}
		for _, n := range nodes {
			c.queue.Add(n.Name)
		}
	}
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// sync marks node name Unknown if it has been silent too long, then fixes its
// taints.
func (c *Controller) sync(ctx context.Context, name string) error {
	cached, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading node %s: %w", name, err)
	}
	node := cached.DeepCopy()
	lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading the lease of node %s: %w", name, err)
	}
	now := c.clock.Now()
	probe, grace := c.observe(node, lease, now)
	if now.After(probe.Add(grace)) {
		wasReady := conditionStatus(node, corev1.NodeReady) == corev1.ConditionTrue
		if markUnknown(node, now) {
			c.log.Info("node stopped posting status", "node", name, "silentFor", now.Sub(probe).Round(time.Second))
			updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
			if err != nil {
				return fmt.Errorf("marking node %s Unknown: %w", name, err)
			}
			node = updated
			if wasReady {
				c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", name)
			}
		}
	}
	return c.taint(ctx, node, now)
}

// observe records the signs of life node and lease show and returns when the
// last came and how long the node may stay silent after it. As upstream, a node
// first seen counts as alive now, unless it never posted Ready (then it has the
// startup grace from its creation).
func (c *Controller) observe(node *corev1.Node, lease *coordinationv1.Lease, now time.Time) (time.Time, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ready := condition(node, corev1.NodeReady)
	h, seen := c.health[node.Name]
	switch {
	case !seen:
		h = &health{probe: now}
		if ready == nil {
			h.probe = node.CreationTimestamp.Time
		} else {
			h.heartbeat = ready.LastHeartbeatTime
		}
		c.health[node.Name] = h
	case ready != nil && !ready.LastHeartbeatTime.Equal(&h.heartbeat):
		h.heartbeat = ready.LastHeartbeatTime
		h.probe = now
	}
	if lease != nil && lease.Spec.RenewTime != nil && (h.renewed == nil || h.renewed.Before(lease.Spec.RenewTime)) {
		h.renewed = lease.Spec.RenewTime.DeepCopy()
		h.probe = now
	}
	if ready == nil {
		return h.probe, c.startupGracePeriod
	}
	return h.probe, c.gracePeriod
}

// silenced are the conditions the kubelet reports that go Unknown with it.
var silenced = []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure}

// markUnknown sets node's kubelet conditions to Unknown, adding those the
// kubelet never posted, and says whether anything changed. Heartbeat times stay
// as the kubelet left them: they are its, and they tell when it went silent.
func markUnknown(node *corev1.Node, now time.Time) bool {
	changed := false
	for _, t := range silenced {
		cond := condition(node, t)
		switch {
		case cond == nil:
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.",
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: metav1.NewTime(now),
			})
			changed = true
		case cond.Status != corev1.ConditionUnknown:
			cond.Status = corev1.ConditionUnknown
			cond.Reason = "NodeStatusUnknown"
			cond.Message = "Kubelet stopped posting node status."
			cond.LastTransitionTime = metav1.NewTime(now)
			changed = true
		}
	}
	return changed
}

func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

func conditionStatus(node *corev1.Node, t corev1.NodeConditionType) corev1.ConditionStatus {
	if cond := condition(node, t); cond != nil {
		return cond.Status
	}
	return ""
}
