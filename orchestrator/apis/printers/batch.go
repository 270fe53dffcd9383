package printers

import (
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// batchKinds are the printed kinds of the batch group.
func batchKinds() map[string]kind {
	return map[string]kind{
		"jobs":     cellsOf(jobColumns(), jobCells),
		"cronjobs": cellsOf(cronJobColumns(), cronJobCells),
	}
}

func jobColumns() []metav1.TableColumnDefinition {
	return slices.Concat([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "Status of the job."),
		column("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
		column("Duration", "string", "Time required to complete the job."),
		ageColumn(),
	}, templateColumns(), []metav1.TableColumnDefinition{
		selectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	})
}

func jobCells(job *batchv1.Job, now time.Time) []any {
	// COMPLETIONS: succeeded out of completions; a job without completions needs one
	// success ("0/1"), however many pods run in parallel ("0/1 of 3").
	succeeded := job.Status.Succeeded
	completions := fmt.Sprintf("%d/1", succeeded)
	switch {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", succeeded, *job.Spec.Completions)
	case deref(job.Spec.Parallelism) > 1:
		completions = fmt.Sprintf("%d/1 of %d", succeeded, *job.Spec.Parallelism)
	}
	// DURATION: from start to completion, or until now while it runs.
	took := ""
	switch start, end := job.Status.StartTime, job.Status.CompletionTime; {
	case start == nil:
	case end == nil:
		took = duration.HumanDuration(now.Sub(start.Time))
	default:
		took = duration.HumanDuration(end.Sub(start.Time))
	}
	return slices.Concat([]any{job.Name, jobStatus(job), completions, took, since(job.CreationTimestamp, now)},
		templateCells(job.Spec.Template.Spec.Containers), []any{metav1.FormatLabelSelector(job.Spec.Selector)})
}

// jobStatus is the STATUS of a job: its first true condition in the order Complete,
// Failed, (deleted: Terminating), Suspended, FailureTarget, SuccessCriteriaMet;
// Running without any.
func jobStatus(job *batchv1.Job) string {
	is := func(t batchv1.JobConditionType) bool {
		for _, c := range job.Status.Conditions {
			if c.Type == t {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	switch {
	case is(batchv1.JobComplete):
		return "Complete"
	case is(batchv1.JobFailed):
		return "Failed"
	case job.DeletionTimestamp != nil:
		return "Terminating"
	case is(batchv1.JobSuspended):
		return "Suspended"
	case is(batchv1.JobFailureTarget):
		return "FailureTarget"
	case is(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

func cronJobColumns() []metav1.TableColumnDefinition {
	spec, status := batchv1.CronJobSpec{}.SwaggerDoc(), batchv1.CronJobStatus{}.SwaggerDoc()
	return slices.Concat([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Schedule", "string", spec["schedule"]),
		column("Timezone", "string", spec["timeZone"]),
		column("Suspend", "boolean", spec["suspend"]),
		column("Active", "integer", status["active"]),
		column("Last Schedule", "string", status["lastScheduleTime"]),
		ageColumn(),
	}, templateColumns(), []metav1.TableColumnDefinition{
		selectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"]),
	})
}

func cronJobCells(cj *batchv1.CronJob, now time.Time) []any {
	last := "<none>"
	if t := cj.Status.LastScheduleTime; t != nil {
		last = since(*t, now)
	}
	job := cj.Spec.JobTemplate.Spec
	return slices.Concat([]any{cj.Name, cj.Spec.Schedule, valueOr(cj.Spec.TimeZone, "<none>"), boolPtr(cj.Spec.Suspend),
		int64(len(cj.Status.Active)), last, since(cj.CreationTimestamp, now)},
		templateCells(job.Template.Spec.Containers), []any{metav1.FormatLabelSelector(job.Selector)})
}
