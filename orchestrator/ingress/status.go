package ingress

import (
	"context"
	"fmt"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// enqueueStatus queues an Ingress for a status check.
func (c *Controller) enqueueStatus(obj any) {
	if c.status == nil {
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.status.Add(key)
	}
}

// enqueueAllStatus queues every Ingress, for when the classes changed.
func (c *Controller) enqueueAllStatus() {
	if c.status == nil {
		return
	}
	all, err := c.ingresses.List(labels.Everything())
	if err != nil {
		c.log.Error("listing Ingresses", "err", err)
		return
	}
	for _, ing := range all {
		c.enqueueStatus(ing)
	}
}

// syncStatus writes StatusAddresses into the status of Ingress key if it
// is ours and its status says otherwise. Ingresses of other classes are
// left alone, also those that were ours once: their new controller writes.
func (c *Controller) syncStatus(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key of ours: retrying cannot help
	}
	ing, err := c.ingresses.Ingresses(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading Ingress %s from the cache: %w", key, err)
	}
	if !c.classSet().owns(ing) {
		return nil
	}
	want := make([]networkingv1.IngressLoadBalancerIngress, 0, len(c.statusAddrs))
	for _, a := range c.statusAddrs {
		want = append(want, networkingv1.IngressLoadBalancerIngress{IP: a})
	}
	if apiequality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	ing = ing.DeepCopy()
	ing.Status.LoadBalancer.Ingress = want
	if _, err := c.client.NetworkingV1().Ingresses(ns).UpdateStatus(ctx, ing, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("writing the load balancer status of Ingress %s: %w", key, err)
	}
	c.log.Debug("wrote Ingress status", "ingress", key, "addresses", c.statusAddrs)
	return nil
}
