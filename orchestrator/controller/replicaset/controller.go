// Package replicaset is the controller that keeps the pods of every ReplicaSet,
// and of every ReplicationController, at the object's replicas, as upstream's
// ReplicaSet and replication controllers do: it creates pods from the template
// (generateName "<name>-", controlled by the object) in slowly growing batches,
// deletes the pods whose loss hurts least, adopts orphan pods its selector
// matches and releases those that no longer match, and writes the status
// (replicas, fully labeled, ready, available after minReadySeconds, the
// ReplicaFailure condition) with events for each pod created or deleted.
//
// A ReplicationController is a ReplicaSet with a map selector: it is converted at
// the edge (kind.go) and runs through the same code. The controller writes pods
// and the status of the objects it serves; it must not change their spec, nor
// touch pods another controller owns. Deployments build on it
// (orchestrator/controller/deployment) by scaling ReplicaSets.
package replicaset

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// Controller keeps the pods of ReplicaSets (or of ReplicationControllers).
type Controller struct {
	kind     kind
	client   kubernetes.Interface
	pods     corelisters.PodLister
	recorder record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string]
	control  *podcontrol.Control
	expect   *podcontrol.Expectations
	synced   []cache.InformerSynced
	now      func() time.Time
	log      *slog.Logger
}

// New returns the ReplicaSet controller. It registers the informers it needs
// with f: start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return newController(client, f, recorder, replicaSets(client, f))
}

// NewForReplicationControllers returns the same controller serving
// ReplicationControllers.
func NewForReplicationControllers(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return newController(client, f, recorder, replicationControllers(client, f))
}

func newController(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, k kind) *Controller {
	pods := f.Core().V1().Pods()
	c := &Controller{
		kind:     k,
		client:   client,
		pods:     pods.Lister(),
		recorder: recorder,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: k.name}),
		control: podcontrol.NewControl(client, recorder),
		expect:  podcontrol.NewExpectations(time.Now),
		synced:  []cache.InformerSynced{k.informer.HasSynced, pods.Informer().HasSynced},
		now:     time.Now,
		log:     slog.Default().With("controller", k.name),
	}
	if _, err := k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(_, cur any) {
			c.enqueue(cur)
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.expect.Forget(key)
				c.queue.Add(key)
			}
		},
	}); err != nil {
		c.log.Error("watching", "err", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		c.log.Error("watching pods", "err", err)
	}
	return c
}

// Run syncs with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, c.kind.name, c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// owner returns the object of ours that ref names in namespace, if it exists
// and is the very one (same UID).
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	get := func(name string) (*appsv1.ReplicaSet, error) { return c.kind.get(namespace, name) }
	rs, _ := podcontrol.ControllerOf(ref, c.kind.gvk, get)
	return rs
}

// matching returns our objects whose selector matches pod, for orphans.
func (c *Controller) matching(pod *corev1.Pod) []*appsv1.ReplicaSet {
	all, _ := c.kind.list(pod.Namespace)
	return podcontrol.Selecting(all, pod.Labels, func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector })
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// A restarted controller sees pods already being deleted as new.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if rs := c.owner(pod.Namespace, ref); rs != nil {
			key, _ := cache.MetaNamespaceKeyFunc(rs)
			c.expect.CreationObserved(key)
			c.queue.Add(key)
		}
		return
	}
	// An orphan: wake whoever may adopt it.
	for _, rs := range c.matching(pod) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return // a resync
	}
	labelsChanged := !reflect.DeepEqual(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// Graceful deletion: the pod no longer counts from now on, and the
		// controller sees its deletion when the timestamp appears.
		c.deletePod(curPod)
		if labelsChanged {
			c.deletePod(oldPod)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOf(oldPod), metav1.GetControllerOf(curPod)
	refChanged := !reflect.DeepEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if rs := c.owner(oldPod.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.owner(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		c.enqueue(rs)
		// The pod turns available minReadySeconds after it turned ready.
		if !podcontrol.IsPodReady(oldPod) && podcontrol.IsPodReady(curPod) && rs.Spec.MinReadySeconds > 0 {
			key, _ := cache.MetaNamespaceKeyFunc(rs)
			c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.matching(curPod) {
			c.enqueue(rs)
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
	rs := c.owner(pod.Namespace, metav1.GetControllerOf(pod))
	if rs == nil {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(rs)
	podKey, _ := cache.MetaNamespaceKeyFunc(pod)
	c.expect.DeletionObserved(key, podKey)
	c.queue.Add(key)
}
