package daemonset

import (
	"bytes"
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// defaultRevisionHistoryLimit is upstream's default for spec.revisionHistoryLimit.
const defaultRevisionHistoryLimit = 10

// history is a DaemonSet's ControllerRevisions: cur holds its template, old
// the rest.
type history struct {
	cur *appsv1.ControllerRevision
	old []*appsv1.ControllerRevision
}

// hash is what labels the pods of the current template.
func (h history) hash() string { return h.cur.Labels[appsv1.ControllerRevisionHashLabelKey] }

// constructHistory claims ds's revisions and makes sure one holds its current
// template and has the highest number: a new revision after an edit, an old
// one renumbered after kubectl rollout undo. The collision count the names
// need is updated in status.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet, claimer *podcontrol.Claimer, status *appsv1.DaemonSetStatus) (history, error) {
	all, err := c.revisions.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return history{}, fmt.Errorf("listing revisions: %w", err)
	}
	claimed, err := claimer.ClaimRevisions(ctx, all)
	if err != nil {
		return history{}, fmt.Errorf("claiming revisions: %w", err)
	}
	want, err := podcontrol.NewRevision(ds, controllerKind, &ds.Spec.Template, 0, status.CollisionCount)
	if err != nil {
		return history{}, err
	}
	var h history
	var dups []*appsv1.ControllerRevision
	for _, r := range claimed {
		switch {
		case !bytes.Equal(r.Data.Raw, want.Data.Raw):
			h.old = append(h.old, r)
		case h.cur == nil || r.Revision > h.cur.Revision:
			if h.cur != nil {
				dups = append(dups, h.cur)
			}
			h.cur = r
		default:
			dups = append(dups, r)
		}
	}
	next := podcontrol.NextRevision(h.old)
	if h.cur == nil {
		want.Revision = next
		if status.CollisionCount == nil {
			status.CollisionCount = new(int32)
		}
		h.cur, err = podcontrol.CreateRevision(ctx, c.client, ds.Name, want, status.CollisionCount)
		return h, err
	}
	// The same template stored twice (a race with another instance of this
	// controller): keep the newest. Pods labeled with a duplicate's hash then
	// look outdated and a rollout replaces them, which is rare and harmless.
	for _, d := range dups {
		if err := c.client.AppsV1().ControllerRevisions(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return h, fmt.Errorf("deleting duplicate revision %s: %w", d.Name, err)
		}
	}
	if h.cur.Revision < next {
		h.cur, err = podcontrol.SetRevisionNumber(ctx, c.client, h.cur, next)
	}
	return h, err
}

// cleanupHistory deletes the oldest revisions beyond revisionHistoryLimit
// that no pod runs any more.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, h history, byNode map[string][]*corev1.Pod) error {
	limit := defaultRevisionHistoryLimit
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	excess := len(h.old) - limit
	if excess <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, pods := range byNode {
		for _, p := range pods {
			live[p.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
		}
	}
	podcontrol.SortRevisions(h.old)
	for _, r := range h.old {
		if excess == 0 {
			break
		}
		if live[r.Labels[appsv1.ControllerRevisionHashLabelKey]] {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting old revision %s: %w", r.Name, err)
		}
		excess--
	}
	return nil
}
