package cronjob

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// sync starts the CronJob named by key's Job if one is due, keeps its status,
// cleans up its history, and requeues it for its next scheduled time.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.cronJobs.CronJobs(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	all, err := c.jobs.Jobs(namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing jobs: %w", err)
	}
	var jobs []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cached.UID {
			jobs = append(jobs, j)
		}
	}
	cj := cached.DeepCopy()
	now := c.now()

	requeue, syncErr := c.syncCronJob(ctx, cj, jobs, now)
	c.cleanup(ctx, cj, jobs)
	if !equality.Semantic.DeepEqual(cached.Status, cj.Status) {
		if _, err := c.client.BatchV1().CronJobs(namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating status of cronjob %s: %w", key, err)
		}
	}
	if requeue > 0 {
		c.queue.AddAfter(key, requeue)
	}
	return syncErr
}

// syncCronJob brings cj's status in line with its Jobs and starts the Job due
// now, if any. It returns when to look again (0: only on a change).
func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, now time.Time) (time.Duration, error) {
	if err := c.syncActive(ctx, cj, jobs); err != nil {
		return 0, err
	}
	if cj.DeletionTimestamp != nil {
		return 0, nil
	}
	if tz := cj.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", *tz, err)
			return 0, nil // until the user fixes it
		}
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return 0, nil
	}
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule",
			"CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
	}
	sched, err := schedule(cj)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	var next time.Duration // none if the schedule never fires again
	if t := sched.Next(now); !t.IsZero() {
		next = t.Add(nextDelta).Sub(now)
	}
	m, err := unmetSchedule(cj, sched, now)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	if m.count > tooManyMissed {
		c.recorder.Event(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	if m.latest == nil {
		c.reportMiss(cj, sched, now)
		return next, nil
	}
	scheduled := *m.latest
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.missed(cj, scheduled)
		return next, nil
	}
	name := jobName(cj, scheduled)
	if slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name }) ||
		cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: scheduled}) {
		return next, nil // started already
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return next, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range slices.Clone(cj.Status.Active) {
			// From the API: a job the cache has not seen yet must go too.
			job, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				removeActive(cj, ref.UID)
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("reading active job %s: %w", ref.Name, err)
			}
			if job.UID == ref.UID && !c.deleteJob(ctx, cj, job) {
				return 0, fmt.Errorf("replacing job %s of cronjob %s/%s", job.Name, cj.Namespace, cj.Name)
			}
		}
	}

	job, err := newJob(cj, scheduled)
	if err != nil {
		return 0, err
	}
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Started by an earlier sync whose status write was lost: adopt its
		// record if it is ours.
		existing, getErr := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if getErr != nil {
			return 0, fmt.Errorf("reading job %s: %w", job.Name, getErr)
		}
		if ref := metav1.GetControllerOf(existing); ref == nil || ref.UID != cj.UID {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
			return next, nil
		}
		created = existing
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return 0, nil
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return 0, fmt.Errorf("creating job %s: %w", job.Name, err)
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	if !finished(created) && !slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == created.UID }) {
		cj.Status.Active = append(cj.Status.Active, reference(created))
	}
	cj.Status.LastScheduleTime = &metav1.Time{Time: scheduled}
	return next, nil
}

// reportMiss tells, when nothing is due within cj's starting deadline, of the
// last start time it let pass (the controller was down, or Forbid held it):
// that run will not happen.
func (c *Controller) reportMiss(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) {
	if cj.Spec.StartingDeadlineSeconds == nil {
		return
	}
	unbounded := cj.DeepCopy()
	unbounded.Spec.StartingDeadlineSeconds = nil
	if m, err := unmetSchedule(unbounded, sched, now); err == nil && m.latest != nil {
		c.missed(cj, *m.latest)
	}
}

func (c *Controller) missed(cj *batchv1.CronJob, scheduled time.Time) {
	c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
}

// syncActive drops from status.active the Jobs that finished or are gone, and
// notes the last success.
func (c *Controller) syncActive(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	children := map[types.UID]bool{}
	var fresh *batchv1.CronJob
	for _, j := range jobs {
		children[j.UID] = true
		active := slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == j.UID })
		cond, done := finishedCondition(j)
		switch {
		case !active && !done:
			// The cache may not have our last status write yet: ask the API.
			if fresh == nil {
				var err error
				if fresh, err = c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{}); err != nil {
					return fmt.Errorf("reading cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
				}
			}
			if fresh.UID == cj.UID && slices.ContainsFunc(fresh.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == j.UID }) {
				continue
			}
			// Ours, running, yet not in our records: a crash between creating
			// it and writing the status, or someone else's.
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case active && done:
			removeActive(cj, j.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
		}
	}
	for _, ref := range slices.Clone(cj.Status.Active) {
		if children[ref.UID] {
			continue
		}
		// The cache may not have it yet: ask the API before forgetting it.
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			removeActive(cj, ref.UID)
		case err != nil:
			return fmt.Errorf("reading active job %s: %w", ref.Name, err)
		}
	}
	return nil
}

// cleanup deletes the oldest finished Jobs beyond the history limits.
func (c *Controller) cleanup(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch cond, _ := finishedCondition(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	if l := cj.Spec.SuccessfulJobsHistoryLimit; l != nil {
		c.removeOldest(ctx, cj, succeeded, int(*l))
	}
	if l := cj.Spec.FailedJobsHistoryLimit; l != nil {
		c.removeOldest(ctx, cj, failed, int(*l))
	}
}

// removeOldest deletes all but the keep Jobs that started last; Jobs that
// never started count as the newest.
func (c *Controller) removeOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) {
	if len(jobs) <= keep {
		return
	}
	slices.SortFunc(jobs, func(a, b *batchv1.Job) int {
		switch {
		case a.Status.StartTime == nil && b.Status.StartTime != nil:
			return 1
		case a.Status.StartTime != nil && b.Status.StartTime == nil:
			return -1
		case a.Status.StartTime != nil && !a.Status.StartTime.Equal(b.Status.StartTime):
			return a.Status.StartTime.Compare(b.Status.StartTime.Time)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for _, j := range jobs[:len(jobs)-keep] {
		c.deleteJob(ctx, cj, j)
	}
}

// deleteJob deletes one of cj's Jobs, its pods with it in the background, and
// reports whether it did.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, job *batchv1.Job) bool {
	policy := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &job.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return false
	}
	removeActive(cj, job.UID)
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", job.Name)
	return true
}

// newJob is the Job cj starts for scheduled, from its template.
func newJob(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptrOr(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, fmt.Errorf("loading time zone of cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
	}
	t := cj.Spec.JobTemplate
	annotations := maps.Clone(t.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:              jobName(cj, scheduled),
			Namespace:         cj.Namespace,
			Labels:            maps.Clone(t.Labels),
			Annotations:       annotations,
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
			CreationTimestamp: metav1.Time{Time: scheduled},
		},
		Spec: *t.Spec.DeepCopy(),
	}, nil
}

func reference(job *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job",
		Namespace: job.Namespace, Name: job.Name, UID: job.UID, ResourceVersion: job.ResourceVersion,
	}
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

// finishedCondition is Complete or Failed for a finished Job.
func finishedCondition(job *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

func finished(job *batchv1.Job) bool {
	_, ok := finishedCondition(job)
	return ok
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
