package statefulset

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// sync brings the pods of the StatefulSet named by key one step closer to its
// spec and writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.sets.StatefulSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil || selector.Empty() {
		// Validation should have refused it; a retry cannot help.
		c.log.Error("invalid selector", "key", key, "err", err)
		return nil
	}
	if set.DeletionTimestamp != nil {
		// The garbage collector deletes its pods.
		return nil
	}
	claimer := podcontrol.NewClaimer(c.client, set, controllerKind, selector, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
	all, err := c.pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	// Only pods named like its members are adopted: a set cannot give a pod
	// another name.
	pods, err := claimer.ClaimPods(ctx, all, func(p *corev1.Pod) bool { return isMemberOf(set, p) })
	if err != nil {
		return fmt.Errorf("claiming pods: %w", err)
	}
	status := set.Status.DeepCopy()
	revs, err := c.constructRevisions(ctx, set, claimer, status)
	if err != nil {
		return fmt.Errorf("constructing revisions of %s: %w", key, err)
	}
	u, err := c.newUpdate(set, revs, pods, status)
	if err != nil {
		return err
	}
	updateErr := u.run(ctx)
	u.completeRollingUpdate()
	live := map[string]bool{}
	for _, p := range pods {
		live[p.Labels[appsv1.ControllerRevisionHashLabelKey]] = true
	}
	if updateErr == nil {
		updateErr = c.truncateHistory(ctx, set, revs, live)
	}
	if err := c.updateStatus(ctx, set, u.status); err != nil {
		return err
	}
	return updateErr
}

// updateStatus writes status unless set already has it, and looks again when
// ready pods should turn available.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, status appsv1.StatefulSetStatus) error {
	if set.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
		key, _ := cache.MetaNamespaceKeyFunc(set)
		c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
	}
	if equality.Semantic.DeepEqual(set.Status, status) {
		return nil
	}
	clone := set.DeepCopy()
	clone.Status = status
	if _, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, clone, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating status of StatefulSet %s/%s: %w", set.Namespace, set.Name, err)
	}
	return nil
}

// update is one sync's pass over a set's members, in ordinal order.
type update struct {
	c                     *Controller
	set                   *appsv1.StatefulSet
	currentSet, updateSet *appsv1.StatefulSet // set with each revision's template
	revs                  revisions
	// replicas holds the member of each ordinal in range, nil where missing;
	// condemned the members beyond it, lowest ordinal first.
	replicas  []*corev1.Pod
	condemned []*corev1.Pod
	start     int // the first ordinal
	now       time.Time
	status    appsv1.StatefulSetStatus
}

func (c *Controller) newUpdate(set *appsv1.StatefulSet, revs revisions, pods []*corev1.Pod, status *appsv1.StatefulSetStatus) (*update, error) {
	currentSet, err := applyRevision(set, revs.current)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, revs.update)
	if err != nil {
		return nil, err
	}
	u := &update{c: c, set: set, currentSet: currentSet, updateSet: updateSet, revs: revs, now: c.now(), status: *status}
	if set.Spec.Ordinals != nil {
		u.start = int(set.Spec.Ordinals.Start)
	}
	n := 1
	if set.Spec.Replicas != nil {
		n = int(*set.Spec.Replicas)
	}
	u.replicas = make([]*corev1.Pod, n)
	for _, p := range pods {
		_, ordinal, ok := ordinalOf(p)
		switch {
		case !ok:
		case ordinal >= u.start && ordinal < u.start+n:
			u.replicas[ordinal-u.start] = p
		default:
			u.condemned = append(u.condemned, p)
		}
	}
	slices.SortFunc(u.condemned, func(a, b *corev1.Pod) int {
		_, x, _ := ordinalOf(a)
		_, y, _ := ordinalOf(b)
		return x - y
	})
	u.countStatus(pods)
	return u, nil
}

// countStatus counts the members into the status, before this pass acts.
func (u *update) countStatus(pods []*corev1.Pod) {
	s := &u.status
	s.ObservedGeneration = u.set.Generation
	s.CurrentRevision, s.UpdateRevision = u.revs.current.Name, u.revs.update.Name
	s.Replicas, s.ReadyReplicas, s.AvailableReplicas, s.CurrentReplicas, s.UpdatedReplicas = 0, 0, 0, 0, 0
	for _, p := range pods {
		s.Replicas++
		if runningAndReady(p) {
			s.ReadyReplicas++
			if podcontrol.IsPodAvailable(p, u.set.Spec.MinReadySeconds, u.now) {
				s.AvailableReplicas++
			}
		}
		if terminating(p) {
			continue
		}
		switch revision(p) {
		case s.CurrentRevision:
			s.CurrentReplicas++
			if s.CurrentRevision == s.UpdateRevision {
				s.UpdatedReplicas++
			}
		case s.UpdateRevision:
			s.UpdatedReplicas++
		}
	}
}

func revision(p *corev1.Pod) string  { return p.Labels[appsv1.ControllerRevisionHashLabelKey] }
func terminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }

func runningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && podcontrol.IsPodReady(p)
}

// healthy is a member that lets an ordered pass go on: running, ready,
// available, and not going away.
func (u *update) healthy(p *corev1.Pod) bool {
	return runningAndReady(p) && !terminating(p) && podcontrol.IsPodAvailable(p, u.set.Spec.MinReadySeconds, u.now)
}

// run makes one pass: replace failed members and create missing ones in
// ordinal order, fix the identity and storage of the rest, remove the
// condemned from the highest ordinal, then roll out the update revision. With
// OrderedReady it stops at the first member it changes or that is not
// healthy; with Parallel it goes on.
func (u *update) run(ctx context.Context) error {
	ordered := u.set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	for i, pod := range u.replicas {
		ordinal := u.start + i
		switch {
		case pod == nil:
			if err := u.create(ctx, ordinal); err != nil {
				return err
			}
			if ordered {
				return nil
			}
			continue
		case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
			// Replaced on the sync that sees it gone.
			if !terminating(pod) {
				if pod.Status.Phase == corev1.PodFailed {
					u.c.recorder.Eventf(u.set, corev1.EventTypeWarning, "RecreatingFailedPod",
						"StatefulSet %s/%s is recreating failed Pod %s", u.set.Namespace, u.set.Name, pod.Name)
				}
				if err := u.delete(ctx, pod); err != nil {
					return err
				}
			}
			if ordered {
				return nil
			}
			continue
		case pod.Status.Phase == corev1.PodPending:
			// A claim deleted by hand while the pod waits for it.
			if err := u.c.createClaims(ctx, u.set, pod); err != nil {
				return err
			}
		}
		if ordered && !u.healthy(pod) {
			return nil
		}
		if !identityMatches(u.set, pod) {
			if err := u.fix(ctx, pod); err != nil {
				return err
			}
		}
	}

	// Scale down from the highest ordinal; ordered, one at a time, each gone
	// before the next, an unhealthy one too, so that a broken member can
	// always be scaled away.
	for i := len(u.condemned) - 1; i >= 0; i-- {
		pod := u.condemned[i]
		if terminating(pod) {
			if ordered {
				return nil
			}
			continue
		}
		if err := u.c.releaseClaimsOnScaleDown(ctx, u.set, pod); err != nil {
			return err
		}
		if err := u.delete(ctx, pod); err != nil {
			return err
		}
		if ordered {
			return nil
		}
	}

	if u.set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		// Members are replaced with the update revision only when deleted.
		return nil
	}
	// Replace the highest member not of the update revision, down to the
	// partition, one at a time, each waiting for the ones above to be healthy.
	for i := len(u.replicas) - 1; i >= u.partition(); i-- {
		pod := u.replicas[i]
		if pod == nil {
			return nil // created in this pass (Parallel)
		}
		if revision(pod) != u.revs.update.Name && !terminating(pod) {
			return u.delete(ctx, pod)
		}
		if !u.healthy(pod) {
			return nil
		}
	}
	return nil
}

// partition is the lowest index (into replicas) a rolling update replaces.
func (u *update) partition() int {
	ru := u.set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.Partition == nil {
		return 0
	}
	return max(int(*ru.Partition)-u.start, 0)
}

// completeRollingUpdate makes the update revision current once every member
// runs it and is ready.
func (u *update) completeRollingUpdate() {
	s := &u.status
	if u.set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		s.UpdatedReplicas == s.Replicas && s.ReadyReplicas == s.Replicas {
		s.CurrentReplicas = s.UpdatedReplicas
		s.CurrentRevision = s.UpdateRevision
	}
}

// create makes the member ordinal, with its claims first. Below the partition
// of a rollout under way, a recreated member keeps the current revision.
func (u *update) create(ctx context.Context, ordinal int) error {
	from, rev := u.updateSet, u.revs.update.Name
	if u.set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ordinal-u.start < u.partition() {
		from, rev = u.currentSet, u.revs.current.Name
	}
	pod := newPod(from, ordinal, rev)
	if err := u.c.createClaims(ctx, u.set, pod); err != nil {
		u.c.podEvent("create", u.set, pod, err)
		return err
	}
	_, err := u.c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// The cache is behind; the next sync sees it.
		return err
	}
	u.c.podEvent("create", u.set, pod, err)
	if err != nil {
		return fmt.Errorf("creating pod %s: %w", pod.Name, err)
	}
	// Counted now, so that a rollout is not complete while a member is
	// missing from the cache.
	u.status.Replicas++
	if rev == u.status.CurrentRevision {
		u.status.CurrentReplicas++
	}
	if rev == u.status.UpdateRevision {
		u.status.UpdatedReplicas++
	}
	return nil
}

func (u *update) delete(ctx context.Context, pod *corev1.Pod) error {
	err := u.c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	u.c.podEvent("delete", u.set, pod, err)
	if err != nil {
		return fmt.Errorf("deleting pod %s: %w", pod.Name, err)
	}
	switch revision(pod) {
	case u.status.CurrentRevision:
		u.status.CurrentReplicas--
		if u.status.CurrentRevision == u.status.UpdateRevision {
			u.status.UpdatedReplicas--
		}
	case u.status.UpdateRevision:
		u.status.UpdatedReplicas--
	}
	return nil
}

// fix gives a member back the identity labels its name says it has (someone
// edited them, say): Services select members by them.
func (u *update) fix(ctx context.Context, pod *corev1.Pod) error {
	fixed := pod.DeepCopy()
	setIdentityLabels(fixed)
	_, err := u.c.client.CoreV1().Pods(fixed.Namespace).Update(ctx, fixed, metav1.UpdateOptions{})
	u.c.podEvent("update", u.set, fixed, err)
	if err != nil {
		return fmt.Errorf("updating pod %s: %w", pod.Name, err)
	}
	return nil
}
