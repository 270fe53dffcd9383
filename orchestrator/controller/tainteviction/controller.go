// Package tainteviction is the controller that deletes pods from nodes whose
// NoExecute taints they do not tolerate, as upstream's taint eviction
// controller does: a pod that tolerates none of a taint goes at once; one that
// tolerates every taint, some only for tolerationSeconds, goes when the
// shortest of those runs out, counted from when the controller first saw the
// pod under the taints; one that tolerates them all without a limit (as
// DaemonSet pods do) stays. Before deleting a pod it records the event
// TaintManagerEviction and sets the pod's DisruptionTarget condition.
//
// It reads taints and writes pods only: putting taints on nodes is the node
// lifecycle controller's job (orchestrator/controller/nodelifecycle), and it
// must not touch nodes.
package tainteviction

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"berth.dev/berth/orchestrator/controller/loop"
)

// podsByNode indexes pods by spec.nodeName; the name is ours so that it cannot
// clash with another controller's index on the shared pod informer.
const podsByNode = "tainteviction/node"

// Option configures a Controller.
type Option func(*Controller)

// WithClock sets the clock tolerationSeconds are counted on.
func WithClock(c clock.WithTicker) Option { return func(ctl *Controller) { ctl.clock = c } }

// Controller evicts pods from NoExecute-tainted nodes. Its queue holds pod keys.
type Controller struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	podIndex cache.Indexer
	nodes    corelisters.NodeLister
	recorder record.EventRecorder
	clock    clock.WithTicker
	queue    workqueue.TypedRateLimitingInterface[string]
	synced   []cache.InformerSynced
	log      *slog.Logger

	mu sync.Mutex
	// since holds, for each pod that tolerates its node's taints for a while,
	// when the controller started counting.
	since map[string]time.Time
}

// New returns the taint eviction controller. It registers the pod and node
// informers it needs with f (and an index on pods by node): start f after New.
// Events go to recorder (upstream names it taint-eviction-controller).
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) *Controller {
	pods, nodes := f.Core().V1().Pods(), f.Core().V1().Nodes()
	c := &Controller{
		client:   client,
		pods:     pods.Lister(),
		podIndex: pods.Informer().GetIndexer(),
		nodes:    nodes.Lister(),
		recorder: recorder,
		clock:    clock.RealClock{},
		synced:   []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		log:      slog.Default().With("controller", "taint-eviction"),
		since:    map[string]time.Time{},
	}
	for _, o := range opts {
		o(c)
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "taint-eviction", Clock: c.clock})
	if err := pods.Informer().AddIndexers(cache.Indexers{podsByNode: indexPodsByNode}); err != nil {
		c.log.Error("indexing pods by node", "err", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		c.log.Error("watching pods", "err", err)
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.nodeChanged(nil, obj) },
		UpdateFunc: func(old, cur any) {
			c.nodeChanged(old, cur)
		},
	}); err != nil {
		c.log.Error("watching nodes", "err", err)
	}
	return c
}

// Run evicts with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "taint-eviction", c.queue, workers, c.sync, c.synced...)
}

func indexPodsByNode(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return nil, nil
	}
	return []string{pod.Spec.NodeName}, nil
}

func (c *Controller) addPod(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
		c.enqueue(pod)
	}
}

// updatePod looks again only when what decides the eviction changed: the node
// the pod is on, or what it tolerates.
func (c *Controller) updatePod(old, cur any) {
	o, ok1 := old.(*corev1.Pod)
	p, ok2 := cur.(*corev1.Pod)
	if !ok1 || !ok2 || p.Spec.NodeName == "" {
		return
	}
	if o.Spec.NodeName != p.Spec.NodeName || !equality.Semantic.DeepEqual(o.Spec.Tolerations, p.Spec.Tolerations) {
		c.enqueue(p)
	}
}

func (c *Controller) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.forget(key)
	}
}

// nodeChanged looks at every pod on a node whose NoExecute taints changed.
func (c *Controller) nodeChanged(old, cur any) {
	node, ok := cur.(*corev1.Node)
	if !ok {
		return
	}
	if o, ok := old.(*corev1.Node); ok && equality.Semantic.DeepEqual(noExecute(o.Spec.Taints), noExecute(node.Spec.Taints)) {
		return
	}
	pods, err := c.podIndex.ByIndex(podsByNode, node.Name)
	if err != nil {
		c.log.Error("listing pods by node", "node", node.Name, "err", err)
		return
	}
	for _, p := range pods {
		c.enqueue(p)
	}
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) forget(key string) {
	c.mu.Lock()
	delete(c.since, key)
	c.mu.Unlock()
}

// sync decides the fate of one pod: evict now, wait (and look again when its
// tolerations run out), or leave it.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pod %s: %w", key, err)
	}
	if pod.DeletionTimestamp != nil || pod.Spec.NodeName == "" {
		c.forget(key)
		return nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		// Pods of deleted nodes are the pod garbage collector's.
		c.forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading node %s: %w", pod.Spec.NodeName, err)
	}
	taints := noExecute(node.Spec.Taints)
	delay, tolerated := evictionDelay(taints, pod.Spec.Tolerations)
	if tolerated && delay < 0 { // no taints, or tolerated for ever
		c.cancel(key, pod)
		return nil
	}
	if tolerated {
		now := c.clock.Now()
		c.mu.Lock()
		start, counting := c.since[key]
		if !counting {
			start = now
			c.since[key] = now
		}
		c.mu.Unlock()
		if deadline := start.Add(delay); now.Before(deadline) {
			c.queue.AddAfter(key, deadline.Sub(now))
			return nil
		}
	}
	return c.evict(ctx, pod)
}

// cancel stops counting for a pod whose node lost its taints or that now
// tolerates them for ever.
func (c *Controller) cancel(key string, pod *corev1.Pod) {
	c.mu.Lock()
	_, counting := c.since[key]
	delete(c.since, key)
	c.mu.Unlock()
	if counting {
		c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s", key)
	}
}

// evict marks the pod as disrupted by the taint manager and deletes it.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	key := pod.Namespace + "/" + pod.Name
	c.log.Info("evicting pod from tainted node", "pod", key, "node", pod.Spec.NodeName)
	if err := c.markDisrupted(ctx, pod); err != nil {
		return err
	}
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting pod %s from tainted node %s: %w", key, pod.Spec.NodeName, err)
	}
	c.forget(key)
	return nil
}

// markDisrupted sets the DisruptionTarget condition, so that the pod's
// controllers (and a Job's pod failure policy) see why it goes.
func (c *Controller) markDisrupted(ctx context.Context, pod *corev1.Pod) error {
	if slices.ContainsFunc(pod.Status.Conditions, func(cond corev1.PodCondition) bool {
		return cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue && cond.Reason == "DeletionByTaintManager"
	}) {
		return nil
	}
	cond := corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		Status:             corev1.ConditionTrue,
		ObservedGeneration: pod.Generation,
		Reason:             "DeletionByTaintManager",
		Message:            "Taint manager: deleting due to NoExecute taint",
		LastTransitionTime: metav1.NewTime(c.clock.Now()),
	}
	// A strategic merge patch merges conditions by type; the UID keeps it
	// from landing on a pod recreated under the same name.
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   map[string]any{"conditions": []corev1.PodCondition{cond}},
	})
	if err != nil {
		return fmt.Errorf("encoding the DisruptionTarget condition: %w", err)
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("setting the DisruptionTarget condition of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

func noExecute(taints []corev1.Taint) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

// evictionDelay says how long a pod with tolerations may stay under taints:
// tolerated false if some taint has no toleration at all; otherwise the
// shortest tolerationSeconds of the tolerations used (the first that tolerates
// each taint, as upstream picks them), negative for ever.
func evictionDelay(taints []corev1.Taint, tolerations []corev1.Toleration) (delay time.Duration, tolerated bool) {
	delay = -1
	for i := range taints {
		j := slices.IndexFunc(tolerations, func(t corev1.Toleration) bool {
			// Comparison operators are on, as in the scheduler's TaintToleration.
			return t.ToleratesTaint(klog.Background(), &taints[i], true)
		})
		if j < 0 {
			return 0, false
		}
		if s := tolerations[j].TolerationSeconds; s != nil {
			if d := time.Duration(max(*s, 0)) * time.Second; delay < 0 || d < delay {
				delay = d
			}
		}
	}
	return delay, true
}
