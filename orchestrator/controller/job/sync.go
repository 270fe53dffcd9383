package job

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// state is what one sync learns of a job's pods.
type state struct {
	active      []*corev1.Pod // not finished, not being deleted
	activeCount int32         // active, plus the pods this sync created, less those it deleted
	ready       int32
	terminating int32
	// finishing are the pods still holding the tracking finalizer that are
	// done: their finalizer comes off this sync.
	finishing []*corev1.Pod
	// newlyFinished are those of finishing not counted anywhere yet.
	newlyFinished []*corev1.Pod
	// withFinalizer are the UIDs of pods that hold the finalizer as far as
	// this sync knows.
	withFinalizer sets.Set[types.UID]
	// failJob is why a FailJob rule of the pod failure policy fails the job.
	failJob   string
	succeeded int32 // all successes, counted or not yet
	failed    int32 // all failures, counted or not yet
	indexes   indexes
	// With backoffLimitPerIndex: the indexes failed for good, and the pod
	// of each index that failed last.
	failedIndexes indexes
	lastFailed    map[int]*corev1.Pod
}

// sync brings the job named by key one step closer to done and writes its
// status; or, for a key with orphanPrefix, frees an orphan pod.
func (c *Controller) sync(ctx context.Context, key string) error {
	if podKey, ok := strings.CutPrefix(key, orphanPrefix); ok {
		return c.releaseOrphan(ctx, podKey)
	}
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.jobs.Jobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.Forget(key)
		c.removing.forget(key)
		c.backoffs.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if m := cached.Spec.ManagedBy; m != nil && *m != batchv1.JobControllerName {
		return nil // another controller runs it
	}
	selector, err := metav1.LabelSelectorAsSelector(cached.Spec.Selector)
	if err != nil {
		// Validation should have refused it; a retry cannot help.
		c.log.Error("invalid selector", "key", key, "err", err)
		return nil
	}
	now := c.now()
	if finished(cached) {
		return c.syncFinished(ctx, key, cached, now)
	}
	// Read the expectations before the cache: a pod added between the two
	// reads is then counted rather than created twice.
	satisfied := c.expect.Satisfied(key)
	pods, err := c.claimPods(ctx, cached, selector)
	if err != nil {
		return err
	}
	job := cached.DeepCopy()

	target := interimCondition(job)
	st := c.observe(key, job, pods, target != nil && target.Type == batchv1.JobFailureTarget)
	c.backoffs.record(key, st.newlyFinished, now)
	if job.Status.StartTime == nil && !suspended(job) {
		job.Status.StartTime = &metav1.Time{Time: now}
	}
	if target == nil {
		target = c.finishCondition(key, job, st, now)
	}

	var manageErr error
	switch {
	case !satisfied:
		// The cache lags behind the pods this controller created or
		// deleted: acting on it would do it twice.
	case target != nil && target.Type == batchv1.JobFailureTarget:
		// Keep the finalizers: these pods count as failed once they are gone.
		n, err := c.deletePods(ctx, job, key, st.active, false)
		st.activeCount -= int32(n)
		st.terminating += int32(n)
		manageErr = err
	case target != nil:
		// Success before every pod finished (a success policy): the rest
		// are not needed, and their end is no failure.
		n, err := c.deletePods(ctx, job, key, st.active, true)
		st.activeCount -= int32(n)
		st.terminating += int32(n)
		manageErr = err
	case suspended(job):
		n, err := c.deletePods(ctx, job, key, st.active, true)
		st.activeCount -= int32(n)
		manageErr = err
	default:
		manageErr = c.manage(ctx, job, key, st, now)
	}
	c.suspendCondition(job, now)
	if suspended(job) && st.activeCount == 0 {
		// A suspended job that runs nothing has not started: its pod
		// template's scheduling directives may change again until it resumes.
		job.Status.StartTime = nil
	}

	if err := c.track(ctx, key, cached, job, st, target, now); err != nil {
		return err
	}
	return manageErr
}

// syncFinished takes the tracking finalizer off the pods of a finished job
// (a sync that failed half-way may have left some: they count no more), and
// deletes the job once its TTL has passed.
func (c *Controller) syncFinished(ctx context.Context, key string, job *batchv1.Job, now time.Time) error {
	pods, err := c.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	var held []*corev1.Pod
	for _, p := range pods {
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil && ref.UID == job.UID && hasFinalizer(p) {
			held = append(held, p)
		}
	}
	if _, err := c.removeFinalizers(ctx, key, held); err != nil {
		return err
	}
	return c.expire(ctx, job.DeepCopy(), now)
}

// observe sorts a job's pods. A pod counts as failed when it failed, or when
// it is being deleted before it succeeded (it will never get the chance),
// unless the job replaces only failed pods; once the job is failing, every
// pod still running counts as failed.
func (c *Controller) observe(key string, job *batchv1.Job, pods []*corev1.Pod, failing bool) *state {
	st := &state{withFinalizer: sets.New[types.UID]()}
	removing := c.removing.get(key)
	uncounted := job.Status.UncountedTerminatedPods
	if uncounted == nil {
		uncounted = &batchv1.UncountedTerminatedPods{}
	}
	uncountedOK, uncountedFailed := sets.New(uncounted.Succeeded...), sets.New(uncounted.Failed...)
	completions := int(ptrOr(job.Spec.Completions, 0))
	if isIndexed(job) {
		st.indexes = parseIndexes(job.Status.CompletedIndexes, completions)
	}
	var newIndexes, newFailedIndexes []int
	newOK, newFailed := 0, 0
	for _, p := range pods {
		done := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		switch {
		case !done && p.DeletionTimestamp == nil:
			st.active = append(st.active, p)
			if podcontrol.IsPodReady(p) {
				st.ready++
			}
		case !done:
			st.terminating++
		}
		if p.Status.Phase == corev1.PodFailed && st.failJob == "" {
			// Any failed pod, counted or not, may fail the job.
			st.failJob = judge(job, p).failJob
		}
		if !hasFinalizer(p) || removing.Has(p.UID) {
			continue // counted by an earlier sync, or never ours to count
		}
		st.withFinalizer.Insert(p.UID)
		isFailed := p.Status.Phase == corev1.PodFailed ||
			p.Status.Phase != corev1.PodSucceeded && (failing || p.DeletionTimestamp != nil && !onlyReplaceFailed(job))
		if ix := completionIndex(p); isFailed && perIndex(job) && ix >= 0 && ix < completions && failsIndex(job, p) {
			newFailedIndexes = append(newFailedIndexes, ix)
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !uncountedFailed.Has(p.UID):
			st.finishing = append(st.finishing, p)
			if isIndexed(job) {
				// The index is enough to never count a success twice.
				if ix := completionIndex(p); ix >= 0 && ix < completions && !st.indexes.has(ix) {
					newIndexes = append(newIndexes, ix)
					st.newlyFinished = append(st.newlyFinished, p)
				}
			} else if !uncountedOK.Has(p.UID) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				uncountedOK.Insert(p.UID)
				st.newlyFinished = append(st.newlyFinished, p)
				newOK++
			}
		case isFailed:
			st.finishing = append(st.finishing, p)
			// A failure the policy ignores loses its finalizer uncounted.
			if !uncountedFailed.Has(p.UID) && (p.Status.Phase != corev1.PodFailed || judge(job, p).count) {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				uncountedFailed.Insert(p.UID)
				st.newlyFinished = append(st.newlyFinished, p)
				newFailed++
			}
		}
	}
	if newOK+newFailed > 0 || job.Status.UncountedTerminatedPods != nil {
		job.Status.UncountedTerminatedPods = uncounted
	}
	st.activeCount = int32(len(st.active))
	st.failed = job.Status.Failed + int32(uncountedFailed.Len())
	if isIndexed(job) {
		st.indexes = st.indexes.with(newIndexes...)
		job.Status.CompletedIndexes = st.indexes.String()
		job.Status.Succeeded = int32(len(st.indexes))
		st.succeeded = job.Status.Succeeded
		if perIndex(job) {
			var failed indexes
			for _, ix := range parseIndexes(ptrOr(job.Status.FailedIndexes, ""), completions).with(newFailedIndexes...) {
				if !st.indexes.has(ix) {
					failed = append(failed, ix)
				}
			}
			st.failedIndexes = failed
			job.Status.FailedIndexes = new(failed.String())
			st.lastFailed = lastFailed(pods, c.now())
		}
	} else {
		st.succeeded = job.Status.Succeeded + int32(uncountedOK.Len())
	}
	return st
}

// manage creates or deletes pods so that as many run as the job wants:
// parallelism, but never more than the completions left, and for a job
// without completions no new pod once one has succeeded.
func (c *Controller) manage(ctx context.Context, job *batchv1.Job, key string, st *state, now time.Time) error {
	parallelism := ptrOr(job.Spec.Parallelism, 1)
	want := parallelism
	switch {
	case job.Spec.Completions != nil:
		want = max(0, min(parallelism, *job.Spec.Completions-st.succeeded))
	case st.succeeded > 0:
		want = st.activeCount
	}

	var victims []*corev1.Pod
	active := st.active
	if isIndexed(job) {
		var keep []*corev1.Pod
		keep, victims = indexedVictims(st.active, st.indexes.with(st.failedIndexes...), int(ptrOr(job.Spec.Completions, 0)))
		active = keep
	}
	if extra := len(active) - int(want); extra > 0 {
		give := podcontrol.PodsToDelete(active, active, extra, now)
		victims = append(victims, give...)
		active = slices.DeleteFunc(slices.Clone(active), func(p *corev1.Pod) bool { return slices.Contains(give, p) })
	}
	if len(victims) > 0 {
		n, err := c.deletePods(ctx, job, key, victims[:min(len(victims), burst)], true)
		st.activeCount -= int32(n)
		if err != nil {
			return err
		}
	}

	missing := int(want) - len(active)
	if onlyReplaceFailed(job) {
		// A pod being deleted may still be running: wait until it is gone.
		missing -= int(st.terminating)
	}
	if missing <= 0 {
		return nil
	}
	missing = min(missing, burst)
	var pods []*corev1.Pod
	switch {
	case perIndex(job):
		// Each index backs off on its own; look again when the first is due.
		var soonest time.Duration
		completions := int(ptrOr(job.Spec.Completions, 0))
		for _, ix := range freeIndexes(active, st.indexes.with(st.failedIndexes...), completions, completions) {
			if len(pods) == missing {
				break
			}
			last := st.lastFailed[ix]
			if wait := indexBackoff(last, c.backoff, c.maxBackoff, now); wait > 0 {
				if soonest == 0 || wait < soonest {
					soonest = wait
				}
				continue
			}
			p := newPod(job, ix)
			annotateFailures(job, p, last)
			pods = append(pods, p)
		}
		if soonest > 0 {
			c.queue.AddAfter(key, soonest)
		}
	default:
		if wait := c.backoffs.remaining(key, c.backoff, c.maxBackoff, now); wait > 0 {
			c.queue.AddAfter(key, wait)
			return nil
		}
		ix := []int{}
		if isIndexed(job) {
			ix = freeIndexes(active, st.indexes, int(ptrOr(job.Spec.Completions, 0)), missing)
		} else {
			for range missing {
				ix = append(ix, -1)
			}
		}
		for _, i := range ix {
			pods = append(pods, newPod(job, i))
		}
	}
	n, err := c.createPods(ctx, job, key, pods)
	st.activeCount += int32(n)
	return err
}

// indexedVictims splits the active pods of an Indexed job into those to keep
// and those to delete: pods of an index already completed, out of range, or a
// second pod of one index.
func indexedVictims(active []*corev1.Pod, done indexes, completions int) (keep, victims []*corev1.Pod) {
	seen := map[int]bool{}
	for _, p := range active {
		ix := completionIndex(p)
		if ix < 0 || ix >= completions || done.has(ix) || seen[ix] {
			victims = append(victims, p)
			continue
		}
		seen[ix] = true
		keep = append(keep, p)
	}
	return keep, victims
}

// freeIndexes returns up to n of the lowest indexes with neither a success
// nor an active pod.
func freeIndexes(active []*corev1.Pod, done indexes, completions, n int) []int {
	running := map[int]bool{}
	for _, p := range active {
		running[completionIndex(p)] = true
	}
	var out []int
	for ix := 0; ix < completions && len(out) < n; ix++ {
		if !done.has(ix) && !running[ix] {
			out = append(out, ix)
		}
	}
	return out
}

func suspended(job *batchv1.Job) bool {
	return job.Spec.Suspend != nil && *job.Spec.Suspend
}

// onlyReplaceFailed reports whether a pod being deleted is replaced only once
// it has failed (podReplacementPolicy Failed, implied by a pod failure policy).
func onlyReplaceFailed(job *batchv1.Job) bool {
	if p := job.Spec.PodReplacementPolicy; p != nil {
		return *p == batchv1.Failed
	}
	return job.Spec.PodFailurePolicy != nil
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
