package job

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// expire deletes a finished job whose ttlSecondsAfterFinished has passed, or
// looks again when it will have, as upstream's ttl-after-finished controller
// does. The job goes with background propagation: the garbage collector then
// deletes its pods.
func (c *Controller) expire(ctx context.Context, job *batchv1.Job, now time.Time) error {
	left, ok := ttlLeft(job, now)
	if !ok {
		return nil
	}
	key, _ := cache.MetaNamespaceKeyFunc(job)
	if left > 0 {
		c.queue.AddAfter(key, left)
		return nil
	}
	// The cache may be behind a user who just changed or removed the TTL.
	fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading job %s before its TTL deletion: %w", key, err)
	}
	if left, ok := ttlLeft(fresh, now); !ok || left > 0 {
		if ok {
			c.queue.AddAfter(key, left)
		}
		return nil
	}
	policy := metav1.DeletePropagationBackground
	err = c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		// Delete the job just checked, not one changed or recreated since.
		Preconditions: &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting job %s after its TTL: %w", key, err)
	}
	return nil
}

// ttlLeft is how long a finished job with a TTL has still to live; false when
// it is not finished, has no TTL, or is already being deleted.
func ttlLeft(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	if job.Spec.TTLSecondsAfterFinished == nil || job.DeletionTimestamp != nil {
		return 0, false
	}
	at, ok := finishedAt(job)
	if !ok {
		return 0, false
	}
	if job.Status.CompletionTime != nil {
		at = job.Status.CompletionTime.Time
	}
	return at.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second).Sub(now), true
}
