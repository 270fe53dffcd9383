package job

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The messages upstream writes on the conditions and events of a finishing job.
const (
	msgBackoffLimit = "Job has reached the specified backoff limit"
	msgDeadline     = "Job was active longer than specified deadline"
	msgCompletions  = "Reached expected number of succeeded pods"
)

// finishCondition is the interim condition a job reaches this sync, if any:
// FailureTarget when it has failed too often or run too long, or
// SuccessCriteriaMet when enough pods succeeded. A FailJob rule of the pod
// failure policy goes first, as upstream. It requeues the job for its
// deadline.
func (c *Controller) finishCondition(key string, job *batchv1.Job, st *state, now time.Time) *batchv1.JobCondition {
	if suspended(job) {
		return nil
	}
	if st.failJob != "" {
		return newCondition(batchv1.JobFailureTarget, batchv1.JobReasonPodFailurePolicy, st.failJob, now)
	}
	backoffLimit := ptrOr(job.Spec.BackoffLimit, 6)
	if st.failed > backoffLimit || restartsExceed(job, st.active, backoffLimit) {
		return newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, msgBackoffLimit, now)
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && job.Status.StartTime != nil {
		left := job.Status.StartTime.Add(time.Duration(*d) * time.Second).Sub(now)
		if left <= 0 {
			return newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, msgDeadline, now)
		}
		c.queue.AddAfter(key, left)
	}
	complete := st.activeCount == 0 && st.succeeded > 0
	if job.Spec.Completions != nil {
		complete = st.activeCount == 0 && st.succeeded >= *job.Spec.Completions
	}
	if perIndex(job) {
		failed := len(st.failedIndexes)
		switch {
		case job.Spec.MaxFailedIndexes != nil && failed > int(*job.Spec.MaxFailedIndexes):
			return newCondition(batchv1.JobFailureTarget, batchv1.JobReasonMaxFailedIndexesExceeded,
				"Job has exceeded the specified maximum number of failed indexes", now)
		case failed > 0 && failed+len(st.indexes) >= int(ptrOr(job.Spec.Completions, 0)):
			return newCondition(batchv1.JobFailureTarget, batchv1.JobReasonFailedIndexes, "Job has failed indexes", now)
		}
	}
	if complete {
		return newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msgCompletions, now)
	}
	if msg, ok := matchSuccessPolicy(job, st.indexes); ok {
		return newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonSuccessPolicy, msg, now)
	}
	return nil
}

// restartsExceed reports whether the containers of a job whose pods restart
// in place (restartPolicy OnFailure) have together restarted backoffLimit
// times: such failures never show as failed pods.
func restartsExceed(job *batchv1.Job, active []*corev1.Pod, limit int32) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, s := range list {
				restarts += s.RestartCount
			}
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// matchSuccessPolicy reports whether the succeeded indexes of an Indexed job
// meet a rule of its success policy, and which, as upstream words it. A rule
// with succeededIndexes wants them all, or succeededCount of them; a rule
// with succeededCount alone wants that many indexes, any.
func matchSuccessPolicy(job *batchv1.Job, done indexes) (string, bool) {
	policy := job.Spec.SuccessPolicy
	if policy == nil || !isIndexed(job) || len(done) == 0 {
		return "", false
	}
	completions := int(ptrOr(job.Spec.Completions, 0))
	for i, rule := range policy.Rules {
		met := false
		switch {
		case rule.SucceededIndexes != nil:
			required := parseIndexes(*rule.SucceededIndexes, completions)
			if len(required) == 0 {
				continue
			}
			n := 0
			for _, ix := range required {
				if done.has(ix) {
					n++
				}
			}
			met = n == len(required)
			if rule.SucceededCount != nil {
				met = n >= int(*rule.SucceededCount)
			}
		case rule.SucceededCount != nil:
			met = len(done) >= int(*rule.SucceededCount)
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

// suspendCondition keeps the Suspended condition in step with spec.suspend.
// A resumed job's startTime restarts: activeDeadlineSeconds counts the time
// it runs without a break.
func (c *Controller) suspendCondition(job *batchv1.Job, now time.Time) {
	if suspended(job) {
		if setCondition(job, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now) {
			c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
		}
		return
	}
	if hasCondition(job, batchv1.JobSuspended) &&
		setCondition(job, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now) {
		c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
		job.Status.StartTime = &metav1.Time{Time: now}
	}
}

// interimCondition returns the FailureTarget or SuccessCriteriaMet condition
// an earlier sync wrote: the job is finishing and waits for its pods.
func interimCondition(job *batchv1.Job) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobFailureTarget || c.Type == batchv1.JobSuccessCriteriaMet) && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// finished reports whether job is Complete or Failed.
func finished(job *batchv1.Job) bool {
	_, ok := finishedAt(job)
	return ok
}

// finishedAt is when job became Complete or Failed.
func finishedAt(job *batchv1.Job) (time.Time, bool) {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

func hasCondition(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// setCondition sets condition t to status, adding it if missing, and reports
// whether anything changed.
func setCondition(job *batchv1.Job, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		c.Status, c.Reason, c.Message = status, reason, message
		c.LastProbeTime, c.LastTransitionTime = metav1.NewTime(now), metav1.NewTime(now)
		return true
	}
	job.Status.Conditions = append(job.Status.Conditions, *newCondition(t, reason, message, now))
	job.Status.Conditions[len(job.Status.Conditions)-1].Status = status
	return true
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}
