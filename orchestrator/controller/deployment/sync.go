package deployment

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/controller/deployment/rollout"
)

// sync does what the Deployment named by key needs next, in upstream's order
// of precedence: a deleted Deployment only gets its status; a paused one is
// only scaled; then a scaling, and finally the rollout of its strategy. A
// rollback (kubectl rollout undo) is no request of its own: kubectl puts the
// old template back, and the rollout makes its ReplicaSet new again.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.deployments.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		c.log.Error("invalid selector", "key", key, "err", err)
		return nil
	}
	if selector.Empty() {
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.writeStatus(ctx, d)
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d, selector)
	if err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		newRS, old, err := c.replicaSetsAndRevision(ctx, d, rsList, false)
		if err != nil {
			return err
		}
		return c.syncStatus(ctx, d, withNew(old, newRS), newRS)
	}
	if err := c.checkPaused(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList, selector)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type: %s", d.Spec.Strategy.Type)
}

// withNew is old and newRS together, without a nil newRS.
func withNew(old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	all := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

// writeStatus writes d's status (and revision annotation) and takes in what the
// API returns, so that later writes of this sync do not conflict.
func (c *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment) error {
	written, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating status of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	*d = *written
	return nil
}

// checkPaused records pausing and resuming in the Progressing condition, so
// that the time spent paused does not count against the progress deadline.
func (c *Controller) checkPaused(ctx context.Context, d *appsv1.Deployment) error {
	if !rollout.HasProgressDeadline(d) {
		return nil
	}
	cond := rollout.Condition(d.Status, appsv1.DeploymentProgressing)
	if cond != nil && cond.Reason == rollout.ReasonTimedOut {
		return nil // a timeout stays reported
	}
	paused := cond != nil && cond.Reason == rollout.ReasonPaused
	switch {
	case d.Spec.Paused && !paused:
		rollout.SetCondition(&d.Status, rollout.NewCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown,
			rollout.ReasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && paused:
		rollout.SetCondition(&d.Status, rollout.NewCondition(appsv1.DeploymentProgressing, corev1.ConditionUnknown,
			rollout.ReasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.writeStatus(ctx, d)
}

// replicaSetsAndRevision splits d's ReplicaSets into the new one (creating it
// if create is set and it does not exist) and the old ones, and brings the
// revisions of the new one and of d up to date. The new ReplicaSet as written
// replaces its cached copy in rsList, so that a second call in the same sync
// does not write it again from a stale copy.
func (c *Controller) replicaSetsAndRevision(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	old := rollout.FindOld(d, rsList)
	newRS, err := c.newReplicaSet(ctx, d, rsList, old, create)
	if err != nil {
		return nil, nil, err
	}
	for i, rs := range rsList {
		if newRS != nil && rs.UID == newRS.UID {
			rsList[i] = newRS
		}
	}
	return newRS, old, nil
}

// newReplicaSet returns d's new ReplicaSet, the one with d's template. It
// gets the revision after the highest old one (a rollback thus makes an old
// ReplicaSet the newest revision again) and d's annotations; d gets its
// revision. When it does not exist and create is set, it is created, as large
// as the strategy allows right away.
func (c *Controller) newReplicaSet(ctx context.Context, d *appsv1.Deployment, rsList, old []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	revision := strconv.FormatInt(rollout.MaxRevision(old)+1, 10)
	if existing := rollout.FindNew(d, rsList); existing != nil {
		rs := existing.DeepCopy()
		annotated := rollout.SetNewReplicaSetAnnotations(d, rs, revision, true)
		if annotated || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("updating revision of replica set %s/%s: %w", rs.Namespace, rs.Name, err)
			}
			return updated, nil
		}
		changed := rollout.SetRevision(d, rs.Annotations[rollout.RevisionAnnotation])
		// A Deployment that had no Progressing condition starts counting
		// progress from now.
		if rollout.HasProgressDeadline(d) && rollout.Condition(d.Status, appsv1.DeploymentProgressing) == nil {
			rollout.SetCondition(&d.Status, rollout.NewCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
				rollout.ReasonFoundNewReplicaSet, fmt.Sprintf("Found new replica set %q", rs.Name), c.now()))
			changed = true
		}
		if changed {
			if err := c.writeStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	hash := rollout.Hash(&d.Spec.Template, d.Status.CollisionCount)
	template := *d.Spec.Template.DeepCopy()
	template.Labels = withLabel(template.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	selector := d.Spec.Selector.DeepCopy()
	selector.MatchLabels = withLabel(selector.MatchLabels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			// Named after the template, so that creating it twice fails.
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, deploymentKind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        template,
		},
	}
	replicas := rollout.NewReplicas(d, withNew(old, rs), rs)
	rs.Spec.Replicas = &replicas
	rollout.SetNewReplicaSetAnnotations(d, rs, revision, false)

	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExists := apierrors.IsAlreadyExists(err)
	switch {
	case alreadyExists:
		// A slow cache, or a hash collision with a ReplicaSet of another
		// template: then the collision count changes the hash on the next try.
		found, getErr := c.replicaSets.ReplicaSets(d.Namespace).Get(rs.Name)
		if getErr != nil {
			return nil, getErr
		}
		if ref := metav1.GetControllerOf(found); ref != nil && ref.UID == d.UID && rollout.EqualIgnoreHash(&d.Spec.Template, &found.Spec.Template) {
			created = found
			break
		}
		count := int32(0)
		if d.Status.CollisionCount != nil {
			count = *d.Status.CollisionCount
		}
		d.Status.CollisionCount = ptr.To(count + 1)
		if werr := c.writeStatus(ctx, d); werr == nil {
			c.log.Info("hash collision, bumping collisionCount", "deployment", d.Namespace+"/"+d.Name, "collisionCount", count+1)
		}
		return nil, fmt.Errorf("creating replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, fmt.Errorf("creating replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if rollout.HasProgressDeadline(d) {
			rollout.SetCondition(&d.Status, rollout.NewCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse,
				rollout.ReasonReplicaSetCreateError, msg, c.now()))
			// The create error is the one to report.
			_ = c.writeStatus(ctx, d)
		}
		c.recorder.Event(d, corev1.EventTypeWarning, rollout.ReasonReplicaSetCreateError, msg)
		return nil, fmt.Errorf("creating replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	if !alreadyExists && replicas > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, replicas)
	}
	changed := rollout.SetRevision(d, revision)
	if !alreadyExists && rollout.HasProgressDeadline(d) {
		rollout.SetCondition(&d.Status, rollout.NewCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue,
			rollout.ReasonNewReplicaSetCreated, fmt.Sprintf("Created new replica set %q", created.Name), c.now()))
		changed = true
	}
	if changed {
		if err := c.writeStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

func withLabel(m map[string]string, key, value string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	out[key] = value
	return out
}

// scaleReplicaSet sets rs's replicas to n, unless it has them already.
func (c *Controller) scaleReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	if rollout.Replicas(rs.Spec.Replicas) == n {
		return false, rs, nil
	}
	return c.resizeReplicaSet(ctx, d, rs, n)
}

// resizeReplicaSet sets rs's replicas to n and its desired- and max-replicas
// annotations to d's, writing only what changed, and records an event when
// the size changed. It reports whether it did.
func (c *Controller) resizeReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32) (bool, *appsv1.ReplicaSet, error) {
	want := rollout.Replicas(d.Spec.Replicas)
	maxReplicas := want + rollout.MaxSurge(d)
	was := rollout.Replicas(rs.Spec.Replicas)
	resize := was != n
	if !resize && !rollout.ReplicasAnnotationsNeedUpdate(rs, want, maxReplicas) {
		return false, rs, nil
	}
	cp := rs.DeepCopy()
	cp.Spec.Replicas = &n
	rollout.SetReplicasAnnotations(cp, want, maxReplicas)
	updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, nil, fmt.Errorf("scaling replica set %s/%s to %d: %w", cp.Namespace, cp.Name, n, err)
	}
	if resize {
		direction := "up"
		if n < was {
			direction = "down"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", direction, updated.Name, was, n)
	}
	return resize, updated, nil
}

// isScalingEvent reports whether d's replicas changed since its active
// ReplicaSets were last scaled (their desired-replicas annotation).
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, old, err := c.replicaSetsAndRevision(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range rollout.Active(withNew(old, newRS)) {
		if desired, ok := rollout.DesiredReplicas(rs); ok && desired != rollout.Replicas(d.Spec.Replicas) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale scales d without rolling it out (paused, or replicas changed),
// and cleans up history while paused.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSetsAndRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, d, withNew(old, newRS), newRS)
}

// scale brings d's ReplicaSets to its replicas. With one active ReplicaSet
// (or none) it takes them all; with a saturated new one the old ones go to
// zero; mid-rollout, the pods to add or remove are shared among the active
// ReplicaSets in proportion to their sizes, so that scaling neither hastens
// nor holds back the rollout.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	want := rollout.Replicas(d.Spec.Replicas)
	if one := rollout.FindActiveOrLatest(newRS, old); one != nil {
		if rollout.Replicas(one.Spec.Replicas) == want {
			return nil
		}
		_, _, err := c.scaleReplicaSet(ctx, d, one, want)
		return err
	}
	if rollout.IsSaturated(d, newRS) {
		for _, rs := range rollout.Active(old) {
			if _, _, err := c.scaleReplicaSet(ctx, d, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !rollout.IsRollingUpdate(d) {
		return nil
	}
	active := rollout.Active(withNew(old, newRS))
	allowed := int32(0)
	if want > 0 {
		allowed = want + rollout.MaxSurge(d)
	}
	// Replicas to add (or, negative, remove) across the active ReplicaSets:
	// larger ones first; among equals, newer first when adding and older
	// first when removing.
	toAdd := allowed - rollout.SpecReplicas(active)
	active = rollout.SortedBySize(active, toAdd > 0)
	sizes := make([]int32, len(active))
	added := int32(0)
	for i, rs := range active {
		sizes[i] = rollout.Replicas(rs.Spec.Replicas)
		if toAdd != 0 {
			p := rollout.Proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	// Rounding leftovers go to the largest.
	if len(active) > 0 && toAdd != 0 {
		sizes[0] = max(0, sizes[0]+toAdd-added)
	}
	for i, rs := range active {
		if _, _, err := c.resizeReplicaSet(ctx, d, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// cleanup deletes the oldest of d's old ReplicaSets beyond its
// revisionHistoryLimit, those scaled down to no pods only.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	if !rollout.HasRevisionHistoryLimit(d) {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	excess := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if excess <= 0 {
		return nil
	}
	for _, rs := range rollout.SortedByRevision(alive)[:excess] {
		if rs.Status.Replicas != 0 || rollout.Replicas(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(rs.UID))})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old replica set %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return nil
}

// syncStatus writes d's status as counted from its ReplicaSets, if it changed.
func (c *Controller) syncStatus(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) error {
	status := c.calculateStatus(d, all, newRS)
	if equality.Semantic.DeepEqual(d.Status, status) {
		return nil
	}
	d.Status = status
	return c.writeStatus(ctx, d)
}

// calculateStatus counts the pods of all and sets the Available condition:
// true while at least replicas − maxUnavailable pods are available.
func (c *Controller) calculateStatus(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) appsv1.DeploymentStatus {
	available := rollout.AvailableReplicas(all)
	status := appsv1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            rollout.ActualReplicas(all),
		UpdatedReplicas:     rollout.ActualReplicas(withNew(nil, newRS)),
		ReadyReplicas:       rollout.ReadyReplicas(all),
		AvailableReplicas:   available,
		UnavailableReplicas: max(0, rollout.SpecReplicas(all)-available),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...),
	}
	if available >= rollout.Replicas(d.Spec.Replicas)-rollout.MaxUnavailable(d) {
		rollout.SetCondition(&status, rollout.NewCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue,
			rollout.ReasonMinimumAvailable, "Deployment has minimum availability.", c.now()))
	} else {
		rollout.SetCondition(&status, rollout.NewCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse,
			rollout.ReasonMinimumUnavailable, "Deployment does not have minimum availability.", c.now()))
	}
	return status
}
