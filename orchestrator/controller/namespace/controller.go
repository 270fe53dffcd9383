// Package namespace owns the deletion of namespaces: once a namespace is
// Terminating, it deletes every namespaced object in it, reports what remains in
// the namespace's conditions, and removes the "kubernetes" finalizer when nothing is
// left, which lets the API server delete the namespace. It must not touch
// namespaces that are not being deleted.
package namespace

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// Controller deletes the content of terminating namespaces.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	synced     cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	content    *contentDeleter
}

// New returns a controller watching namespaces through informer. metadataClient
// deletes and lists objects of any resource, as discovered through client.
func New(client kubernetes.Interface, metadataClient metadata.Interface, informer coreinformers.NamespaceInformer) *Controller {
	c := &Controller{
		client:     client,
		namespaces: informer.Lister(),
		synced:     informer.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// Content goes away at its own pace (pods have grace periods): check
			// again soon, then less and less often.
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		content: &contentDeleter{discovery: client.Discovery(), metadata: metadataClient},
	}
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return c
}

// Run deletes the content of terminating namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "namespace", c.queue, workers, c.sync, c.synced)
}

// sync deletes what is left in a terminating namespace and, once nothing is,
// removes its finalizer. An error means "look again later".
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	result := c.content.deleteAll(ctx, name)
	if err := c.updateConditions(ctx, ns, result.conditions()); err != nil {
		return err
	}
	if !result.done() {
		return fmt.Errorf("namespace %s: %s", name, result)
	}
	return c.finalize(ctx, ns)
}

// finalize removes the "kubernetes" finalizer; the API server then deletes the
// namespace if nothing else holds it.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	ns = ns.DeepCopy()
	var kept []corev1.FinalizerName
	for _, f := range ns.Spec.Finalizers {
		if f != corev1.FinalizerKubernetes {
			kept = append(kept, f)
		}
	}
	ns.Spec.Finalizers = kept
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, conditions []corev1.NamespaceCondition) error {
	updated := ns.DeepCopy()
	changed := false
	for _, want := range conditions {
		changed = setCondition(&updated.Status, want) || changed
	}
	if !changed {
		return nil
	}
	_, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // the next sync sees the newer namespace
	}
	return err
}

// setCondition sets c in status, keeping its transition time if its status did not
// change; it reports whether anything changed.
func setCondition(status *corev1.NamespaceStatus, c corev1.NamespaceCondition) bool {
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return true
	}
	status.Conditions = append(status.Conditions, c)
	return true
}
