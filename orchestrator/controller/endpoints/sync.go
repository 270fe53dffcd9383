package endpoints

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// errStale asks for a retry: the informer cache has not yet seen this
// controller's last write, and acting on it would undo that write.
var errStale = errors.New("informer cache is behind this controller's last write")

// sync brings the Endpoints and EndpointSlices of one Service (key
// "namespace/name") in line with its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggers.forget(key)
		return errors.Join(c.deleteEndpoints(ctx, ns, name), c.deleteSlices(ctx, key, ns, name))
	}
	if err != nil {
		return err
	}
	if !managed(svc) {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	// Computed before any write so that its memory moves on even when nothing
	// needs writing.
	trigger := c.triggers.observe(key, svc, pods)
	return errors.Join(c.syncEndpoints(ctx, key, svc, pods, trigger), c.syncSlices(ctx, key, svc, pods, trigger))
}

// managed reports whether this controller writes the Service's endpoints.
func managed(svc *corev1.Service) bool {
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return false
	case svc.Spec.Selector == nil:
		// Selectorless Services get their endpoints from whoever writes them.
		return false
	case svc.Namespace == metav1.NamespaceDefault && svc.Name == "kubernetes":
		// The API server publishes its own addresses.
		return false
	}
	return true
}

// deleteEndpoints removes the Endpoints of a Service that is gone.
func (c *Controller) deleteEndpoints(ctx context.Context, ns, name string) error {
	current, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	err = c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{}) //nolint:staticcheck // still served
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting endpoints %s/%s: %w", ns, name, err)
	}
	c.endpointWrites.deleted(ns+"/"+name, current)
	return nil
}

// deleteSlices removes the managed slices of a Service that is gone; the
// garbage collector would too, through their owner references, but later.
func (c *Controller) deleteSlices(ctx context.Context, key, ns, name string) error {
	slices, err := c.slices.EndpointSlices(ns).List(sliceSelector(name))
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range slices {
		err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting EndpointSlice %s/%s: %w", ns, s.Name, err))
			continue
		}
		c.sliceWrites.deleted(key, s)
	}
	return errors.Join(errs...)
}

func sliceSelector(service string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: ManagedBy})
}
