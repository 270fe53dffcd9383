package deployment

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/controller/deployment/rollout"
)

// syncRolloutStatus writes d's status during a rollout: the counts and the
// Available condition as syncStatus does, and also the Progressing and
// ReplicaFailure conditions. When nothing changed, d may be stuck: it is
// looked at again when its progress deadline passes, for no event would
// bring it back then.
func (c *Controller) syncRolloutStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	now := c.now()
	status := c.calculateStatus(d, all, newRS)
	rollout.UpdateProgressing(d, &status, newRS, now)
	rollout.UpdateReplicaFailure(&status, all, newRS)
	if !equality.Semantic.DeepEqual(d.Status, status) {
		d.Status = status
		return c.writeStatus(ctx, d)
	}
	if after, ok := rollout.ProgressCheckIn(d, &status, now); ok {
		c.checkProgressIn(d, after)
	}
	return nil
}

// checkProgressIn looks at d again after a delay to see whether its deadline
// has passed: a second later than due, lest the check come too early by a
// clock's grain; rate limited when already due, so that a deadline that never
// resolves cannot spin.
func (c *Controller) checkProgressIn(d *appsv1.Deployment, after time.Duration) {
	if after < time.Second {
		if key, err := cache.MetaNamespaceKeyFunc(d); err == nil {
			c.queue.AddRateLimited(key)
		}
		return
	}
	c.enqueueAfter(d, after+time.Second)
}
