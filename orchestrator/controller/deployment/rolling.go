package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"

	"berth.dev/berth/orchestrator/controller/deployment/rollout"
)

// rolloutRolling takes one step of a rolling update: scale the new
// ReplicaSet up as far as maxSurge allows, or else the old ones down as far as
// maxUnavailable allows; once nothing is left to do, trim the history. Each
// step waits for the ReplicaSet controller to act and report before the next:
// a ReplicaSet's status change brings d back.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSetsAndRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)

	scaledUp, _, err := c.scaleReplicaSet(ctx, d, newRS, rollout.NewReplicaSetTarget(d, all, newRS))
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}

	scaledDown := false
	for _, step := range rollout.ScaleDownOld(d, newRS, rollout.Active(old)) {
		scaled, _, err := c.scaleReplicaSet(ctx, d, step.RS, step.To)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}

	if rollout.Complete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}
