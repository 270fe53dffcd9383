package job

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
)

// How a finished pod is counted exactly once, even if it is deleted at once:
//
//  1. the pod is created with the tracking finalizer, so it cannot vanish
//     before the controller has seen it finish;
//  2. once finished, its UID is written to status.uncountedTerminatedPods
//     (an Indexed job's success goes straight to completedIndexes instead:
//     the index is enough to never count it twice);
//  3. its finalizer is removed, and the controller remembers that it did
//     (removing) until the cache shows it, so that a stale cache still
//     showing the finalizer does not make it count the pod again;
//  4. the UIDs in uncountedTerminatedPods whose pods no longer hold the
//     finalizer move to the succeeded and failed counters.
//
// A crash between any two steps repeats the step, never the count.

func hasFinalizer(pod *corev1.Pod) bool {
	return slices.Contains(pod.Finalizers, batchv1.JobTrackingFinalizer)
}

// uidExpectations remember, per job key, the pods whose finalizer the
// controller removed and has not yet seen removed.
type uidExpectations struct {
	mu sync.Mutex
	m  map[string]sets.Set[types.UID]
}

func newUIDExpectations() *uidExpectations {
	return &uidExpectations{m: map[string]sets.Set[types.UID]{}}
}

func (u *uidExpectations) expect(key string, uid types.UID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m[key] == nil {
		u.m[key] = sets.New[types.UID]()
	}
	u.m[key].Insert(uid)
}

func (u *uidExpectations) observed(key string, uid types.UID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s := u.m[key]; s != nil {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(u.m, key)
		}
	}
}

func (u *uidExpectations) get(key string) sets.Set[types.UID] {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.m[key].Clone()
}

func (u *uidExpectations) forget(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.m, key)
}

// removeFinalizers takes the tracking finalizer off pods, in parallel, and
// returns the UIDs of those that still hold it because the patch failed.
func (c *Controller) removeFinalizers(ctx context.Context, key string, pods []*corev1.Pod) (sets.Set[types.UID], error) {
	failed := sets.New[types.UID]()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for _, p := range pods {
		c.removing.expect(key, p.UID)
		wg.Go(func() {
			err := c.removeFinalizer(ctx, p)
			if err == nil {
				return
			}
			c.removing.observed(key, p.UID)
			mu.Lock()
			defer mu.Unlock()
			failed.Insert(p.UID)
			if first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	return failed, first
}

// removeFinalizer patches the tracking finalizer off one pod. The pod's UID in
// the patch makes it fail if the pod was replaced by another of the same name;
// a pod that is gone has no finalizer left.
func (c *Controller) removeFinalizer(ctx context.Context, pod *corev1.Pod) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
		"uid":                                 pod.UID,
	}})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing tracking finalizer from pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// releaseOrphan removes the tracking finalizer of a pod whose Job is gone,
// which nobody will count any more.
func (c *Controller) releaseOrphan(ctx context.Context, podKey string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(podKey)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if c.owner(namespace, ref) != nil {
			return nil // its Job is in the cache and will count it
		}
		// The cache may lag behind a Job that was just created: ask the API.
		job, err := c.client.BatchV1().Jobs(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case err == nil && job.UID == ref.UID && !finished(job):
			return nil
		case err != nil && !apierrors.IsNotFound(err):
			return fmt.Errorf("checking job of pod %s: %w", podKey, err)
		}
	}
	return c.removeFinalizer(ctx, pod)
}

// backoffStore remembers per job the failures since its last success, to
// delay the next pod: upstream keeps it in memory too.
type backoffStore struct {
	mu sync.Mutex
	m  map[string]backoffRecord
}

type backoffRecord struct {
	failures    int // since the last success
	lastFailure time.Time
}

func newBackoffStore() *backoffStore {
	return &backoffStore{m: map[string]backoffRecord{}}
}

// record adds newly finished pods, in the order they finished.
func (b *backoffStore) record(key string, finished []*corev1.Pod, now time.Time) {
	if len(finished) == 0 {
		return
	}
	slices.SortStableFunc(finished, func(x, y *corev1.Pod) int { return finishTime(x, now).Compare(finishTime(y, now)) })
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.m[key]
	for _, p := range finished {
		if p.Status.Phase == corev1.PodSucceeded {
			r = backoffRecord{}
			continue
		}
		r.failures++
		if t := finishTime(p, now); t.After(r.lastFailure) {
			r.lastFailure = t
		}
	}
	b.m[key] = r
}

// remaining is how long key must still wait before it replaces a failed pod:
// base·2^(failures-1), at most limit, counted from the last failure. With base
// 10s, a third failure at 12:00:00 holds new pods until 12:00:40.
func (b *backoffStore) remaining(key string, base, limit time.Duration, now time.Time) time.Duration {
	b.mu.Lock()
	r := b.m[key]
	b.mu.Unlock()
	if r.failures == 0 {
		return 0
	}
	delay := base
	for i := 1; i < r.failures && delay < limit; i++ {
		delay *= 2
	}
	delay = min(delay, limit)
	return max(r.lastFailure.Add(delay).Sub(now), 0)
}

func (b *backoffStore) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// finishTime is when a pod's last container ended, else when its deletion
// began, else now.
func finishTime(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, s := range p.Status.ContainerStatuses {
		if term := s.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() && p.DeletionTimestamp != nil {
		t = p.DeletionTimestamp.Time
	}
	if t.IsZero() {
		t = now
	}
	return t
}

// track writes what this sync learnt, in the order that never loses a count:
// the newly finished pods into uncountedTerminatedPods (with the interim
// condition), then their finalizers off, then the counters, the final
// condition once no pod is left to count, and the rest of the status.
func (c *Controller) track(ctx context.Context, key string, cached, job *batchv1.Job, st *state, target *batchv1.JobCondition, now time.Time) error {
	var final *batchv1.JobCondition
	if target != nil {
		if !hasCondition(job, target.Type) {
			job.Status.Conditions = append(job.Status.Conditions, *target)
		}
		final = newCondition(batchv1.JobFailed, target.Reason, target.Message, now)
		if target.Type == batchv1.JobSuccessCriteriaMet {
			final.Type = batchv1.JobComplete
		}
	}
	job.Status.Active = st.activeCount
	job.Status.Ready = &st.ready
	job.Status.Terminating = &st.terminating

	if len(st.newlyFinished) > 0 || target != nil && !hasCondition(cached, target.Type) {
		written, err := c.writeStatus(ctx, cached, job)
		if err != nil {
			return fmt.Errorf("recording finished pods of job %s: %w", key, err)
		}
		cached = written
		job.ResourceVersion = written.ResourceVersion
	}
	failed, rmErr := c.removeFinalizers(ctx, key, st.finishing)
	for _, p := range st.finishing {
		if !failed.Has(p.UID) {
			st.withFinalizer.Delete(p.UID)
		}
	}
	countUncounted(job, st.withFinalizer)

	finishedNow := false
	if u := job.Status.UncountedTerminatedPods; final != nil && rmErr == nil &&
		(u == nil || len(u.Succeeded)+len(u.Failed) == 0) && st.terminating == 0 && st.activeCount == 0 {
		job.Status.Conditions = append(job.Status.Conditions, *final)
		if final.Type == batchv1.JobComplete {
			job.Status.CompletionTime = &final.LastTransitionTime
		}
		finishedNow = true
	}
	if _, err := c.writeStatus(ctx, cached, job); err != nil {
		return fmt.Errorf("updating status of job %s: %w", key, err)
	}
	if finishedNow {
		if final.Type == batchv1.JobComplete {
			c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		} else {
			c.recorder.Event(job, corev1.EventTypeWarning, final.Reason, final.Message)
		}
		// Its TTL, if any, runs from now.
		if job.Spec.TTLSecondsAfterFinished != nil {
			c.queue.AddAfter(key, time.Duration(*job.Spec.TTLSecondsAfterFinished)*time.Second)
		}
	}
	return rmErr
}

// countUncounted moves the UIDs of uncountedTerminatedPods whose pods no
// longer hold the finalizer to the counters.
func countUncounted(job *batchv1.Job, withFinalizer sets.Set[types.UID]) {
	u := job.Status.UncountedTerminatedPods
	if u == nil {
		return
	}
	var keepOK, keepFailed []types.UID
	for _, uid := range u.Succeeded {
		if withFinalizer.Has(uid) {
			keepOK = append(keepOK, uid)
		} else if !isIndexed(job) {
			job.Status.Succeeded++
		}
	}
	for _, uid := range u.Failed {
		if withFinalizer.Has(uid) {
			keepFailed = append(keepFailed, uid)
		} else {
			job.Status.Failed++
		}
	}
	u.Succeeded, u.Failed = keepOK, keepFailed
}

// writeStatus writes job's status if it differs from the cached one and
// returns the job as written.
func (c *Controller) writeStatus(ctx context.Context, cached, job *batchv1.Job) (*batchv1.Job, error) {
	if equality.Semantic.DeepEqual(cached.Status, job.Status) {
		return cached, nil
	}
	return c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
}
