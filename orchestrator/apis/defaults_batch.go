package apis

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// defaultJob defaults a Job. spec.manualSelector stays unset: the REST layer
// generates the selector unless it is true.
func defaultJob(job *batchv1.Job) {
	spec := &job.Spec
	// A job that runs one pod to completion may leave both counts unset.
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = new(int32(1))
	}
	defaultPointer(&spec.Parallelism, 1)
	if spec.BackoffLimitPerIndex != nil {
		defaultPointer(&spec.BackoffLimit, math.MaxInt32)
	}
	defaultPointer(&spec.BackoffLimit, 6)
	if labels := spec.Template.Labels; labels != nil && len(job.Labels) == 0 {
		job.Labels = labels
	}
	defaultPointer(&spec.CompletionMode, batchv1.NonIndexedCompletion)
	defaultPointer(&spec.Suspend, false)
	// Pods of a job with a pod failure policy are replaced only once they are gone.
	if spec.PodFailurePolicy != nil {
		defaultPointer(&spec.PodReplacementPolicy, batchv1.Failed)
	}
	defaultPointer(&spec.PodReplacementPolicy, batchv1.TerminatingOrFailed)
	defaultJobTemplate(spec)
}

// defaultJobTemplate defaults what a Job and a CronJob's job template share: the pod
// template and the pod failure policy. The Job's own defaults are not a
// template's: a CronJob's jobs get them when they are created.
func defaultJobTemplate(spec *batchv1.JobSpec) {
	if p := spec.PodFailurePolicy; p != nil {
		for i := range p.Rules {
			for j := range p.Rules[i].OnPodConditions {
				defaultValue(&p.Rules[i].OnPodConditions[j].Status, corev1.ConditionTrue)
			}
		}
	}
	defaultPodSpec(&spec.Template.Spec)
}

func defaultCronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	defaultValue(&spec.ConcurrencyPolicy, batchv1.AllowConcurrent)
	defaultPointer(&spec.Suspend, false)
	defaultPointer(&spec.SuccessfulJobsHistoryLimit, 3)
	defaultPointer(&spec.FailedJobsHistoryLimit, 1)
	defaultJobTemplate(&spec.JobTemplate.Spec)
}
