// Package deployment is the controller that rolls Deployments out, as upstream's
// deployment controller does: each pod template gets a ReplicaSet named
// "<deployment>-<pod-template-hash>" and numbered by the revision annotation; a
// rollout scales the new ReplicaSet up and the old ones down, within maxSurge and
// maxUnavailable (RollingUpdate) or old first, pods gone, then new (Recreate);
// scaling mid-rollout is shared proportionally; paused Deployments only scale;
// rollbacks are template changes (kubectl rollout undo) that make an old
// ReplicaSet new again; old ReplicaSets beyond revisionHistoryLimit are deleted.
// Status counts the pods of all ReplicaSets and carries the Progressing
// (progressDeadlineSeconds) and Available conditions, with ScalingReplicaSet
// events, so that kubectl rollout status|history|undo|pause|resume|restart,
// scale and describe work unchanged.
//
// It writes ReplicaSets (create, scale, annotate, adopt, delete) and the status
// and revision annotation of Deployments; it must not create or delete pods: the
// ReplicaSet controller (orchestrator/controller/replicaset) does. The arithmetic
// lives in the rollout subpackage.
package deployment

import (
	"context"
	"log/slog"
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

var (
	deploymentKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
	replicaSetKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
)

// Controller rolls Deployments out.
type Controller struct {
	client      kubernetes.Interface
	deployments appslisters.DeploymentLister
	replicaSets appslisters.ReplicaSetLister
	pods        corelisters.PodLister
	recorder    record.EventRecorder
	queue       workqueue.TypedRateLimitingInterface[string]
	synced      []cache.InformerSynced
	now         func() time.Time
	log         *slog.Logger
}

// New returns the Deployment controller. It registers the informers it needs
// with f: start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	deployments := f.Apps().V1().Deployments()
	replicaSets := f.Apps().V1().ReplicaSets()
	pods := f.Core().V1().Pods()
	c := &Controller{
		client:      client,
		deployments: deployments.Lister(),
		replicaSets: replicaSets.Lister(),
		pods:        pods.Lister(),
		recorder:    recorder,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment"}),
		synced: []cache.InformerSynced{deployments.Informer().HasSynced, replicaSets.Informer().HasSynced, pods.Informer().HasSynced},
		now:    time.Now,
		log:    slog.Default().With("controller", "deployment"),
	}
	handlers := []struct {
		informer cache.SharedIndexInformer
		funcs    cache.ResourceEventHandlerFuncs
	}{
		{deployments.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueue,
			UpdateFunc: func(_, cur any) { c.enqueue(cur) },
			DeleteFunc: c.enqueue,
		}},
		{replicaSets.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.addReplicaSet,
			UpdateFunc: c.updateReplicaSet,
			DeleteFunc: c.deleteReplicaSet,
		}},
		{pods.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod}},
	}
	for _, h := range handlers {
		if _, err := h.informer.AddEventHandler(h.funcs); err != nil {
			c.log.Error("watching", "err", err)
		}
	}
	return c
}

// Run rolls Deployments out with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "deployment", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// enqueueAfter looks at d again after delay, to see a deadline pass.
func (c *Controller) enqueueAfter(d *appsv1.Deployment, delay time.Duration) {
	if key, err := cache.MetaNamespaceKeyFunc(d); err == nil {
		c.queue.AddAfter(key, delay)
	}
}

// owner returns the Deployment ref names in namespace, if it is the very one.
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	d, _ := podcontrol.ControllerOf(ref, deploymentKind, c.deployments.Deployments(namespace).Get)
	return d
}

// matching returns the Deployments whose selector matches an orphan ReplicaSet.
func (c *Controller) matching(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	all, _ := c.deployments.Deployments(rs.Namespace).List(labels.Everything())
	return podcontrol.Selecting(all, rs.Labels, func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector })
}

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.owner(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.matching(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(old, cur any) {
	oldRS, curRS := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if oldRS.ResourceVersion == curRS.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOf(oldRS), metav1.GetControllerOf(curRS)
	refChanged := oldRef == nil != (curRef == nil) || oldRef != nil && oldRef.UID != curRef.UID
	if refChanged && oldRef != nil {
		if d := c.owner(oldRS.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.owner(curRS.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !labels.Equals(oldRS.Labels, curRS.Labels) {
		for _, d := range c.matching(curRS) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if d := c.owner(rs.Namespace, metav1.GetControllerOf(rs)); d != nil {
		c.enqueue(d)
	}
}

// deletePod wakes a Recreate Deployment when one of its old pods is gone: the
// new ReplicaSet waits for the last.
func (c *Controller) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != replicaSetKind.Kind {
		return
	}
	rs, err := c.replicaSets.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d := c.owner(rs.Namespace, metav1.GetControllerOf(rs)); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}
