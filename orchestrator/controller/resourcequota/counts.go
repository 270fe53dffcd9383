package resourcequota

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/quota"
)

// counter counts the objects of a resource without an evaluator of its own, for
// count/<resource>.<group> quotas.
type counter struct {
	evaluator quotav1.Evaluator
	synced    cache.InformerSynced
}

// countNamed makes sure the count/<resource>.<group> names of hard are counted even
// when no evaluator handles the resource: the first time a quota names such a
// resource, the controller starts watching it, and adds its evaluator once the
// resource's cache has synced. Until then it returns an error, so that the quota
// is synced again. Resources the API does not serve, or the informer factory does
// not know, are not counted (admission then reports the quota's status unknown).
func (c *Controller) countNamed(ctx context.Context, hard corev1.ResourceList) error {
	var waiting []string
	for name := range hard {
		gr, ok := quota.CountedResource(name)
		if !ok || c.registry.Get(gr) != nil {
			continue
		}
		if _, skip := c.ignored[gr]; skip {
			continue
		}
		cnt, err := c.counterFor(ctx, gr)
		if err != nil {
			return err
		}
		if cnt == nil {
			continue
		}
		if !cnt.synced() {
			waiting = append(waiting, gr.String())
			continue
		}
		c.registry.Add(cnt.evaluator)
	}
	if len(waiting) > 0 {
		return fmt.Errorf("waiting for the cache of %s", strings.Join(waiting, ", "))
	}
	return nil
}

// counterFor returns the counter of gr, watching the resource on first use; nil if
// gr cannot be counted.
func (c *Controller) counterFor(ctx context.Context, gr schema.GroupResource) (*counter, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cnt, seen := c.counts[gr]; seen {
		return cnt, nil
	}
	informer, gvr, err := informerFor(c.informers, gr)
	if err != nil {
		c.log.Info("not counting resource for quotas", "resource", gr, "err", err)
		c.counts[gr] = nil
		return nil, nil
	}
	served, err := c.served(gvr)
	if err != nil {
		return nil, err
	}
	if !served {
		c.log.Info("not counting resource for quotas: not served", "resource", gvr)
		c.counts[gr] = nil
		return nil, nil
	}
	e := quota.NewObjectCountEvaluator(c.informers, gvr)
	if err := c.replenishOnChange(informer.Informer(), e); err != nil {
		return nil, fmt.Errorf("watching %s: %w", gvr, err)
	}
	// Start only starts the informers not yet running: the one just requested.
	c.informers.Start(ctx.Done())
	cnt := &counter{evaluator: e, synced: informer.Informer().HasSynced}
	c.counts[gr] = cnt
	return cnt, nil
}

// served reports whether the API serves gvr as a namespaced resource.
func (c *Controller) served(gvr schema.GroupVersionResource) (bool, error) {
	resources, err := c.client.Discovery().ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", gvr.GroupVersion(), err)
	}
	for _, r := range resources.APIResources {
		if r.Name == gvr.Resource {
			return r.Namespaced, nil
		}
	}
	return false, nil
}
