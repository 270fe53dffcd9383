package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/tools/cache"
)

// sync recounts the quota named by key and writes its status when it changed. A
// quota that is gone needs nothing; one that synced is recounted again after
// fullResync.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.log.Error("dropping malformed key", "key", key, "err", err)
		return nil
	}
	rq, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting quota %s: %w", key, err)
	}

	waiting := c.countNamed(ctx, rq.Spec.Hard)
	status, countErr := c.status(rq)
	if !quotav1.Equals(status.Hard, rq.Status.Hard) || !quotav1.Equals(status.Used, rq.Status.Used) {
		updated := rq.DeepCopy()
		updated.Status = status
		if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating status of quota %s: %w", key, err)
		}
	}
	if err := errors.Join(waiting, countErr); err != nil {
		return fmt.Errorf("counting quota %s: %w", key, err)
	}
	c.queue.AddAfter(key, fullResync)
	return nil
}

// status returns what rq's status should be: hard as its spec says, used as
// counted now for each resource of hard that an evaluator measures. A resource
// that could not be counted keeps its last count; the error says why.
func (c *Controller) status(rq *corev1.ResourceQuota) (corev1.ResourceQuotaStatus, error) {
	hard := quotav1.Add(corev1.ResourceList{}, rq.Spec.Hard)
	counted, err := quotav1.CalculateUsage(rq.Namespace, rq.Spec.Scopes, hard, c.registry, rq.Spec.ScopeSelector)
	used := quotav1.Add(corev1.ResourceList{}, rq.Status.Used)
	maps.Copy(used, counted)
	return corev1.ResourceQuotaStatus{Hard: hard, Used: quotav1.Mask(used, quotav1.ResourceNames(hard))}, err
}
