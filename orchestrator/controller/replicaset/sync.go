package replicaset

import (
	"context"
	"slices"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// burstReplicas caps the pods created or deleted in one sync.
const burstReplicas = 500

// sync brings the pods of the ReplicaSet named by key to its replicas and
// writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.kind.get(namespace, name)
	if apierrors.IsNotFound(err) {
		c.expect.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Validation should have refused it; a retry cannot help.
		c.log.Error("invalid selector", "key", key, "err", err)
		return nil
	}
	// Read the expectations before the cache: a pod added between the two
	// reads is then counted rather than created twice.
	needsSync := c.expect.Satisfied(key)

	all, err := c.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	claimer := podcontrol.NewClaimer(c.client, rs, c.kind.gvk, selector, func(ctx context.Context) (metav1.Object, error) {
		return c.kind.fresh(ctx, rs.Namespace, rs.Name)
	})
	pods, err := claimer.ClaimPods(ctx, slices.DeleteFunc(slices.Clone(all), func(p *corev1.Pod) bool { return !podcontrol.IsPodActive(p) }))
	if err != nil {
		return err
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, rs, pods, all)
	}
	written, err := c.updateStatus(ctx, rs, calculateStatus(rs, pods, manageErr, c.now()))
	if err != nil {
		return err
	}
	// A ready pod becomes available minReadySeconds later, with no event to
	// tell: look again then.
	if manageErr == nil && written.Spec.MinReadySeconds > 0 &&
		written.Status.ReadyReplicas == replicas(written) && written.Status.AvailableReplicas != replicas(written) {
		c.queue.AddAfter(key, time.Duration(written.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

// manage creates or deletes pods so that rs has its replicas, at most
// burstReplicas at a time, and records what it expects to see.
func (c *Controller) manage(ctx context.Context, rs *appsv1.ReplicaSet, pods, all []*corev1.Pod) error {
	key, _ := cache.MetaNamespaceKeyFunc(rs)
	diff := len(pods) - int(replicas(rs))
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.expect.Expect(key, n)
		created, err := slowStart(n, 1, func() error { return c.createPod(ctx, rs) })
		// The pods never created will never be seen.
		for range n - created {
			c.expect.CreationObserved(key)
		}
		return err
	case diff > 0:
		victims := podcontrol.PodsToDelete(pods, c.relatedPods(rs, all), min(diff, burstReplicas), c.now())
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i], _ = cache.MetaNamespaceKeyFunc(p)
		}
		c.expect.Expect(key, 0, keys...)
		errs := make([]error, len(victims))
		var wg sync.WaitGroup
		for i, p := range victims {
			wg.Go(func() {
				if err := c.control.Delete(ctx, c.kind.reference(rs), p); err != nil {
					c.expect.DeletionObserved(key, keys[i])
					if !apierrors.IsNotFound(err) {
						errs[i] = err
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// slowStart calls fn count times, in batches of growing size (initial, twice
// that, ...) run in parallel, and stops after the first batch with a failure.
// A controller whose pods all fail (quota, a webhook) so makes one failing
// request per sync rather than hundreds. It returns how many calls succeeded
// and the first error.
func slowStart(count, initial int, fn func() error) (int, error) {
	done := 0
	for batch := min(count, initial); batch > 0; batch = min(2*batch, count-done) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		failed := len(errs)
		done += batch - failed
		if failed > 0 {
			return done, <-errs
		}
	}
	return done, nil
}

// createPod creates one pod from rs's template, named after rs and
// controlled by it.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podcontrol.PodFromTemplate(&rs.Spec.Template, rs.Namespace, metav1.NewControllerRef(rs, c.kind.gvk))
	_, err := c.control.Create(ctx, c.kind.reference(rs), pod)
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		// Every create fails until the namespace is gone; nothing to report.
		return nil
	}
	return err
}

// relatedPods are the pods of every ReplicaSet controlled by rs's controller
// (the ReplicaSets of one Deployment), rs's own included; none if rs has no
// controller.
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet, all []*corev1.Pod) []*corev1.Pod {
	owner := metav1.GetControllerOf(rs)
	if owner == nil {
		return nil
	}
	siblings, err := c.kind.list(rs.Namespace)
	if err != nil {
		return nil
	}
	uids := map[types.UID]bool{}
	for _, s := range siblings {
		if ref := metav1.GetControllerOf(s); ref != nil && ref.UID == owner.UID {
			uids[s.UID] = true
		}
	}
	var related []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && uids[ref.UID] {
			related = append(related, p)
		}
	}
	return related
}
