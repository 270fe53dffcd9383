// Package daemonset is the controller that runs one pod of every DaemonSet on
// each node the DaemonSet's pods fit (its node selector, required node
// affinity, and the node's taints against the pod's tolerations, to which it
// adds the tolerations upstream gives every daemon), as upstream's DaemonSet
// controller does. It creates each pod pinned to its node by a required node
// affinity on the node's name, leaving the binding to the scheduler; deletes
// the pods of nodes that no longer fit; replaces pods of an older template by
// rolling update (maxUnavailable or maxSurge) or, with OnDelete, only when the
// user deletes them; keeps the template history as ControllerRevisions that
// kubectl rollout history and undo read; and writes the status, with events
// for every pod created or deleted.
//
// It writes pods, ControllerRevisions and DaemonSet status; it must not change
// a DaemonSet's spec, bind pods to nodes, nor touch pods another controller
// owns.
package daemonset

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// name is the control loop's, for queues and logs.
const name = "daemonset"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller keeps a pod of every DaemonSet on each node that fits it.
type Controller struct {
	client    kubernetes.Interface
	daemons   appslisters.DaemonSetLister
	pods      corelisters.PodLister
	nodes     corelisters.NodeLister
	revisions appslisters.ControllerRevisionLister
	recorder  record.EventRecorder
	control   *podcontrol.Control
	expect    *podcontrol.Expectations
	queue     workqueue.TypedRateLimitingInterface[string]
	synced    []cache.InformerSynced
	now       func() time.Time
	log       *slog.Logger
}

// New returns the DaemonSet controller. It registers the informers it needs
// with f: start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	daemons := f.Apps().V1().DaemonSets()
	pods := f.Core().V1().Pods()
	nodes := f.Core().V1().Nodes()
	revisions := f.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:    client,
		daemons:   daemons.Lister(),
		pods:      pods.Lister(),
		nodes:     nodes.Lister(),
		revisions: revisions.Lister(),
		recorder:  recorder,
		control:   podcontrol.NewControl(client, recorder),
		expect:    podcontrol.NewExpectations(time.Now),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		synced: []cache.InformerSynced{daemons.Informer().HasSynced, pods.Informer().HasSynced,
			nodes.Informer().HasSynced, revisions.Informer().HasSynced},
		now: time.Now,
		log: slog.Default().With("controller", name),
	}
	c.handle(daemons.Informer(), "daemonsets", cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.expect.Forget(key)
				c.queue.Add(key)
			}
		},
	})
	c.handle(pods.Informer(), "pods", cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	c.handle(nodes.Informer(), "nodes", cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: c.updateNode,
		// The desired count drops, and pods pinned to the node but never
		// bound to it are left to delete.
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	return c
}

func (c *Controller) handle(informer cache.SharedIndexInformer, what string, h cache.ResourceEventHandler) {
	if _, err := informer.AddEventHandler(h); err != nil {
		c.log.Error("watching "+what, "err", err)
	}
}

// Run syncs with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, name, c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAll() {
	all, err := c.daemons.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.enqueue(ds)
	}
}

// updateNode wakes every DaemonSet when a node changes in a way that can
// change which daemons belong on it; heartbeats change nothing of that.
func (c *Controller) updateNode(old, cur any) {
	o, n := old.(*corev1.Node), cur.(*corev1.Node)
	if reflect.DeepEqual(o.Labels, n.Labels) && reflect.DeepEqual(o.Spec.Taints, n.Spec.Taints) &&
		o.Spec.Unschedulable == n.Spec.Unschedulable {
		return
	}
	c.enqueueAll()
}

// owner returns the DaemonSet ref names in namespace, if it exists and is the
// very one (same UID).
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	ds, _ := podcontrol.ControllerOf(ref, controllerKind, c.daemons.DaemonSets(namespace).Get)
	return ds
}

// matching returns the DaemonSets whose selector matches an orphan pod.
func (c *Controller) matching(pod *corev1.Pod) []*appsv1.DaemonSet {
	all, _ := c.daemons.DaemonSets(pod.Namespace).List(labels.Everything())
	return podcontrol.Selecting(all, pod.Labels, func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector })
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// A restarted controller sees pods already being deleted as new.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if ds := c.owner(pod.Namespace, ref); ds != nil {
			key, _ := cache.MetaNamespaceKeyFunc(ds)
			c.expect.CreationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	for _, ds := range c.matching(pod) {
		c.enqueue(ds)
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return // a resync
	}
	if curPod.DeletionTimestamp != nil {
		c.deletePod(curPod)
		return
	}
	oldRef, curRef := metav1.GetControllerOf(oldPod), metav1.GetControllerOf(curPod)
	if !reflect.DeepEqual(oldRef, curRef) {
		if ds := c.owner(oldPod.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.owner(curPod.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		// The pod turns available minReadySeconds after it turned ready.
		if !podcontrol.IsPodReady(oldPod) && podcontrol.IsPodReady(curPod) && ds.Spec.MinReadySeconds > 0 {
			key, _ := cache.MetaNamespaceKeyFunc(ds)
			c.queue.AddAfter(key, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if !reflect.DeepEqual(oldPod.Labels, curPod.Labels) || !reflect.DeepEqual(oldRef, curRef) {
		for _, ds := range c.matching(curPod) {
			c.enqueue(ds)
		}
	}
}

func (c *Controller) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ds := c.owner(pod.Namespace, metav1.GetControllerOf(pod))
	if ds == nil {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(ds)
	podKey, _ := cache.MetaNamespaceKeyFunc(pod)
	c.expect.DeletionObserved(key, podKey)
	c.queue.Add(key)
}
