// Package rootcacert publishes the cluster's CA certificate into every namespace
// as the ConfigMap kube-root-ca.crt (key ca.crt), as upstream's
// root-ca-cert-publisher does: pods verify the API server with it (the projected
// kube-api-access volume mounts it). It recreates the ConfigMap when it is deleted
// and puts it back when it is changed. It must not touch any other ConfigMap.
package rootcacert

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

const (
	// Name is the ConfigMap every namespace gets.
	Name = "kube-root-ca.crt"
	// Key holds the PEM bundle.
	Key = "ca.crt"

	descriptionAnnotation = "kubernetes.io/description"
	description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Controller keeps kube-root-ca.crt in every active namespace.
type Controller struct {
	client     kubernetes.Interface
	caPEM      string
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
}

// New returns the publisher of caPEM; it registers its informers with f:
// start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, caPEM []byte) *Controller {
	namespaces, configMaps := f.Core().V1().Namespaces(), f.Core().V1().ConfigMaps()
	c := &Controller{
		client:     client,
		caPEM:      string(caPEM),
		namespaces: namespaces.Lister(),
		configMaps: configMaps.Lister(),
		synced:     []cache.InformerSynced{namespaces.Informer().HasSynced, configMaps.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "root-ca-cert-publisher"}),
	}
	namespaces.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	configMaps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { c.enqueueConfigMap(obj) },
		DeleteFunc: c.enqueueConfigMap,
	})
	return c
}

func (c *Controller) enqueueNamespace(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

func (c *Controller) enqueueConfigMap(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == Name {
		c.queue.Add(cm.Namespace)
	}
}

// Run publishes until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "root-ca-cert-publisher", c.queue, workers, c.sync, c.synced...)
}

// sync makes namespace's kube-root-ca.crt hold the CA, creating it if missing.
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
	cm, err := c.configMaps.ConfigMaps(namespace).Get(Name)
	switch {
	case apierrors.IsNotFound(err):
		want := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: Name, Annotations: map[string]string{descriptionAnnotation: description}},
			Data:       map[string]string{Key: c.caPEM},
		}
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err) {
			// Forbidden: the namespace began terminating since we looked.
			return nil
		}
		if err != nil {
			return fmt.Errorf("creating %s in namespace %s: %w", Name, namespace, err)
		}
		return nil
	case err != nil:
		return err
	}
	if len(cm.Data) == 1 && cm.Data[Key] == c.caPEM && len(cm.BinaryData) == 0 && cm.Annotations[descriptionAnnotation] == description {
		return nil
	}
	fixed := cm.DeepCopy()
	fixed.Data = map[string]string{Key: c.caPEM}
	fixed.BinaryData = nil
	if fixed.Annotations == nil {
		fixed.Annotations = map[string]string{}
	}
	fixed.Annotations[descriptionAnnotation] = description
	if _, err := c.client.CoreV1().ConfigMaps(namespace).Update(ctx, fixed, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("restoring %s in namespace %s: %w", Name, namespace, err)
	}
	return nil
}
