// Package statefulset is the controller that runs the pods of every
// StatefulSet as upstream's does: each with a stable identity (name
// "<set>-<ordinal>", the pod-name and pod-index labels, hostname and the
// governing service as subdomain) and its own PersistentVolumeClaims from the
// volumeClaimTemplates ("<claim>-<set>-<ordinal>"), which outlive it unless the
// retention policy says otherwise. With OrderedReady it creates ordinal i only
// once 0..i-1 are running and ready and removes pods one at a time from the
// highest ordinal; with Parallel it does both at once. It replaces pods of an
// older template from the highest ordinal down to the partition, one at a time
// and waiting for each to be ready (RollingUpdate), or only when the user
// deletes them (OnDelete); keeps the template history as ControllerRevisions;
// and writes the status, with events upstream's wording.
//
// It writes pods, claims, ControllerRevisions and StatefulSet status; it must
// not change a StatefulSet's spec, delete claims itself (the garbage collector
// does, through the owner references the retention policy asks for), nor
// touch pods another controller owns.
package statefulset

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
const name = "statefulset"

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller runs the pods of StatefulSets.
type Controller struct {
	client    kubernetes.Interface
	sets      appslisters.StatefulSetLister
	pods      corelisters.PodLister
	claims    corelisters.PersistentVolumeClaimLister
	revisions appslisters.ControllerRevisionLister
	recorder  record.EventRecorder
	queue     workqueue.TypedRateLimitingInterface[string]
	synced    []cache.InformerSynced
	now       func() time.Time
	log       *slog.Logger
}

// New returns the StatefulSet controller. It registers the informers it needs
// with f: start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	sets := f.Apps().V1().StatefulSets()
	pods := f.Core().V1().Pods()
	claims := f.Core().V1().PersistentVolumeClaims()
	revisions := f.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:    client,
		sets:      sets.Lister(),
		pods:      pods.Lister(),
		claims:    claims.Lister(),
		revisions: revisions.Lister(),
		recorder:  recorder,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		synced: []cache.InformerSynced{sets.Informer().HasSynced, pods.Informer().HasSynced,
			claims.Informer().HasSynced, revisions.Informer().HasSynced},
		now: time.Now,
		log: slog.Default().With("controller", name),
	}
	if _, err := sets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.queue.Add(key)
			}
		},
	}); err != nil {
		c.log.Error("watching statefulsets", "err", err)
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
	loop.Run(ctx, name, c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// owner returns the StatefulSet ref names in namespace, if it exists and is
// the very one (same UID).
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	set, _ := podcontrol.ControllerOf(ref, controllerKind, c.sets.StatefulSets(namespace).Get)
	return set
}

// enqueueMatching wakes the StatefulSets that may adopt an orphan pod.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	all, _ := c.sets.StatefulSets(pod.Namespace).List(labels.Everything())
	for _, set := range podcontrol.Selecting(all, pod.Labels, func(s *appsv1.StatefulSet) *metav1.LabelSelector { return s.Spec.Selector }) {
		c.enqueue(set)
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if set := c.owner(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return // a resync
	}
	oldRef, curRef := metav1.GetControllerOf(oldPod), metav1.GetControllerOf(curPod)
	if !reflect.DeepEqual(oldRef, curRef) {
		if set := c.owner(oldPod.Namespace, oldRef); set != nil {
			c.enqueue(set)
		}
	}
	if curRef == nil {
		if !reflect.DeepEqual(oldPod.Labels, curPod.Labels) || oldRef != nil {
			c.enqueueMatching(curPod)
		}
		return
	}
	set := c.owner(curPod.Namespace, curRef)
	if set == nil {
		return
	}
	c.enqueue(set)
	// The pod turns available minReadySeconds after it turned ready.
	if !podcontrol.IsPodReady(oldPod) && podcontrol.IsPodReady(curPod) && set.Spec.MinReadySeconds > 0 {
		key, _ := cache.MetaNamespaceKeyFunc(set)
		c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
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
	if set := c.owner(pod.Namespace, metav1.GetControllerOf(pod)); set != nil {
		c.enqueue(set)
	}
}
