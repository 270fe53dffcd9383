// Package serviceaccount owns the "default" ServiceAccount of every namespace: it
// creates it when a namespace is created and again if it is deleted, as upstream's
// service account controller does. It must not touch other ServiceAccounts.
package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// DefaultName is the ServiceAccount every namespace has.
const DefaultName = "default"

// Controller keeps a default ServiceAccount in every active namespace.
type Controller struct {
	client          kubernetes.Interface
	namespaces      corelisters.NamespaceLister
	serviceAccounts corelisters.ServiceAccountLister
	synced          []cache.InformerSynced
	queue           workqueue.TypedRateLimitingInterface[string]
}

// New returns a controller reacting to namespaces and service accounts.
func New(client kubernetes.Interface, namespaces coreinformers.NamespaceInformer, serviceAccounts coreinformers.ServiceAccountInformer) *Controller {
	c := &Controller{
		client:          client,
		namespaces:      namespaces.Lister(),
		serviceAccounts: serviceAccounts.Lister(),
		synced:          []cache.InformerSynced{namespaces.Informer().HasSynced, serviceAccounts.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
	}
	namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueueNamespace(obj) },
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	serviceAccounts.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
				c.queue.Add(sa.Namespace)
			}
		},
	})
	return c
}

func (c *Controller) enqueueNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

// Run keeps default ServiceAccounts until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "serviceaccount", c.queue, workers, c.sync, c.synced...)
}

// sync creates the default ServiceAccount of an active namespace that lacks one.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.namespaces.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive {
		return nil
	}
	if _, err := c.serviceAccounts.ServiceAccounts(namespace).Get(DefaultName); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName}}
	_, err = c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err) {
		// Forbidden: the namespace began terminating since we looked.
		return nil
	}
	return err
}
