package statefulset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// defaultRevisionHistoryLimit is upstream's default for spec.revisionHistoryLimit.
const defaultRevisionHistoryLimit = 10

// revisions are a set's ControllerRevisions: update holds its template, current
// the one its pods ran before the rollout (the same when none is under way).
type revisions struct {
	all             []*appsv1.ControllerRevision
	current, update *appsv1.ControllerRevision
}

// constructRevisions claims set's revisions and finds or makes the update
// revision: a new one after an edit, an old one renumbered after kubectl
// rollout undo. status carries the collision count the names need.
func (c *Controller) constructRevisions(ctx context.Context, set *appsv1.StatefulSet, claimer *podcontrol.Claimer, status *appsv1.StatefulSetStatus) (revisions, error) {
	all, err := c.revisions.ControllerRevisions(set.Namespace).List(labels.Everything())
	if err != nil {
		return revisions{}, fmt.Errorf("listing revisions: %w", err)
	}
	claimed, err := claimer.ClaimRevisions(ctx, all)
	if err != nil {
		return revisions{}, fmt.Errorf("claiming revisions: %w", err)
	}
	podcontrol.SortRevisions(claimed)
	if status.CollisionCount == nil {
		status.CollisionCount = new(int32)
	}
	want, err := podcontrol.NewRevision(set, controllerKind, &set.Spec.Template, podcontrol.NextRevision(claimed), status.CollisionCount)
	if err != nil {
		return revisions{}, err
	}
	r := revisions{all: claimed}
	var equal *appsv1.ControllerRevision
	for _, rev := range claimed {
		if bytes.Equal(rev.Data.Raw, want.Data.Raw) {
			equal = rev
		}
	}
	switch {
	case equal != nil && equal == claimed[len(claimed)-1]:
		r.update = equal
	case equal != nil:
		// Back to an older template: it becomes the newest revision again.
		if r.update, err = podcontrol.SetRevisionNumber(ctx, c.client, equal, want.Revision); err != nil {
			return revisions{}, err
		}
	default:
		if r.update, err = podcontrol.CreateRevision(ctx, c.client, set.Name, want, status.CollisionCount); err != nil {
			return revisions{}, err
		}
		r.all = append(r.all, r.update)
	}
	for _, rev := range r.all {
		if rev.Name == set.Status.CurrentRevision {
			r.current = rev
		}
	}
	if r.current == nil {
		r.current = r.update
	}
	return r, nil
}

// applyRevision returns set with the template rev holds, to make pods of the
// current revision while a partitioned rollout is under way.
func applyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	original, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encoding StatefulSet %s: %w", set.Name, err)
	}
	patched, err := strategicpatch.StrategicMergePatch(original, rev.Data.Raw, appsv1.StatefulSet{})
	if err != nil {
		return nil, fmt.Errorf("applying revision %s: %w", rev.Name, err)
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("decoding revision %s: %w", rev.Name, err)
	}
	return out, nil
}

// truncateHistory deletes the oldest revisions beyond revisionHistoryLimit
// that are neither current, nor the update, nor run by any pod.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, r revisions, live map[string]bool) error {
	limit := defaultRevisionHistoryLimit
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	var old []*appsv1.ControllerRevision
	for _, rev := range r.all {
		if rev.Name != r.current.Name && rev.Name != r.update.Name && !live[rev.Name] {
			old = append(old, rev)
		}
	}
	for _, rev := range old[:max(len(old)-limit, 0)] {
		if err := c.client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old revision %s: %w", rev.Name, err)
		}
	}
	return nil
}
