package validation

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestJobCreate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*batchv1.Job)
		want   []fieldErr
	}{
		"restart policy always": {
			mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			want:   []fieldErr{required("spec.template.spec.restartPolicy")},
		},
		"on failure": {mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }},
		"negative completions": {
			mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](-1) },
			want:   []fieldErr{invalid("spec.completions", "must be greater than or equal to 0")},
		},
		"negative parallelism": {
			mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](-1) },
			want:   []fieldErr{invalid("spec.parallelism", "must be greater than or equal to 0")},
		},
		"indexed without completions": {
			mutate: func(j *batchv1.Job) {
				j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
				j.Spec.Completions = nil
			},
			want: []fieldErr{required("spec.completions")},
		},
		"generated label changed": {
			mutate: func(j *batchv1.Job) { j.Spec.Template.Labels[batchv1.JobNameLabel] = "other" },
			want:   []fieldErr{invalid("spec.template.metadata.labels[batch.kubernetes.io/job-name]", "must be 'pi'")},
		},
		"selector not generated": {
			mutate: func(j *batchv1.Job) {
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
				j.Spec.Template.Labels["app"] = "pi"
			},
			want: []fieldErr{invalid("spec.selector", "`selector` not auto-generated")},
		},
		"manual selector": {
			mutate: func(j *batchv1.Job) {
				j.Spec.ManualSelector = ptr.To(true)
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
				j.Spec.Template.Labels = map[string]string{"app": "pi"}
			},
		},
		"manual selector does not match": {
			mutate: func(j *batchv1.Job) {
				j.Spec.ManualSelector = ptr.To(true)
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
			},
			want: []fieldErr{invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")},
		},
		"no selector": {
			mutate: func(j *batchv1.Job) { j.Spec.Selector = nil },
			want:   []fieldErr{required("spec.selector")},
		},
		"pod replacement policy with a failure policy": {
			mutate: func(j *batchv1.Job) {
				j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action: batchv1.PodFailurePolicyActionFailJob,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}}}
			},
			want: []fieldErr{notSupported("spec.podReplacementPolicy")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(updated(job(), tc.mutate)), tc.want...)
		})
	}
}

func TestJobUpdate(t *testing.T) {
	for name, tc := range map[string]struct {
		old    *batchv1.Job
		mutate func(*batchv1.Job)
		want   []fieldErr
	}{
		"parallelism":   {mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To[int32](2) }},
		"suspend":       {mutate: func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }},
		"ttl and limit": {mutate: func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To[int32](100) }},
		"completions": {
			mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr.To[int32](3) },
			want:   []fieldErr{invalid("spec.completions", "field is immutable")},
		},
		"template": {
			mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "perl:5.34" },
			want:   []fieldErr{invalid("spec.template", "field is immutable")},
		},
		"scheduling of a suspended job": {
			old:    updated(job(), func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) }),
			mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"} },
		},
		"selector": {
			mutate: func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["x"] = "y" },
			want: []fieldErr{
				invalid("spec.selector", "field is immutable"),
				invalid("spec.selector", "`selector` not auto-generated"),
				invalid("spec.template.metadata.labels", "`selector` does not match template `labels`"),
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			old := tc.old
			if old == nil {
				old = job()
			}
			obj := updated(old, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, Update(obj, old), tc.want...)
		})
	}
}

func TestJobStatusUpdate(t *testing.T) {
	old := updated(job(), func(j *batchv1.Job) {
		j.Status = batchv1.JobStatus{Succeeded: 1, Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	})
	obj := updated(old, func(j *batchv1.Job) { j.Status = batchv1.JobStatus{Active: -1} })
	expect(t, StatusUpdate(obj, old),
		invalid("status.active", "must be greater than or equal to 0"),
		invalid("status.succeeded", "cannot decrease the succeeded counter"),
		invalid("status.conditions", "cannot disable the terminal Complete=True condition"))
}

func TestCronJob(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*batchv1.CronJob)
		want   []fieldErr
	}{
		"schedule required": {
			mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "" },
			want:   []fieldErr{required("spec.schedule")},
		},
		"schedule": {
			mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "*/1 * * *" },
			want:   []fieldErr{invalid("spec.schedule", "expected exactly 5 fields, found 4: [*/1 * * *]")},
		},
		"descriptor": {mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "@hourly" }},
		"time zone":  {mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Asia/Shanghai") }},
		"unknown time zone": {
			mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Mars/Olympus") },
			want:   []fieldErr{invalid("spec.timeZone", "unknown time zone Mars/Olympus")},
		},
		"local time zone": {
			mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Local") },
			want:   []fieldErr{invalid("spec.timeZone", "timeZone must be an explicit time zone")},
		},
		"time zone in the schedule": {
			mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" },
			want:   []fieldErr{invalid("spec.schedule", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")},
		},
		"concurrency policy": {
			mutate: func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Queue" },
			want:   []fieldErr{notSupported("spec.concurrencyPolicy")},
		},
		"concurrency policy not defaulted": {
			mutate: func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "" },
			want:   []fieldErr{required("spec.concurrencyPolicy")},
		},
		"job template restart policy": {
			mutate: func(c *batchv1.CronJob) {
				c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
			},
			want: []fieldErr{required("spec.jobTemplate.spec.template.spec.restartPolicy")},
		},
		"job template selector": {
			mutate: func(c *batchv1.CronJob) {
				c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			},
			want: []fieldErr{invalid("spec.jobTemplate.spec.selector", "`selector` will be auto-generated")},
		},
		"history limit": {
			mutate: func(c *batchv1.CronJob) { c.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1) },
			want:   []fieldErr{invalid("spec.failedJobsHistoryLimit", "must be greater than or equal to 0")},
		},
		"long name": {
			mutate: func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) },
			want:   []fieldErr{invalid("metadata.name", "must be no more than 52 characters")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(updated(cronJob(), tc.mutate)), tc.want...)
		})
	}
}

func TestCronJobUpdate(t *testing.T) {
	old := updated(cronJob(), func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 60) })
	obj := updated(old, func(c *batchv1.CronJob) { c.Spec.Schedule = "0 0 * * *" })
	obj.ResourceVersion = "2"
	expect(t, Update(obj, old))

	withTZ := updated(cronJob(), func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" })
	obj = updated(withTZ, func(c *batchv1.CronJob) { c.Spec.Schedule = "CRON_TZ=UTC 30 * * * *" })
	obj.ResourceVersion = "2"
	expect(t, Update(obj, withTZ))
}

func TestParseSchedule(t *testing.T) {
	for schedule, want := range map[string]string{
		"*/5 * * * *":            "",
		"0 9-17 * * mon-fri":     "",
		"15,45 */2 1 JAN,JUL *":  "",
		"0 0 ? * SUN":            "",
		"5/10 * * * *":           "",
		"@weekly":                "",
		"@every 1h30m":           "",
		"CRON_TZ=UTC 0 6 * * *":  "",
		"":                       "empty spec string",
		"* * * *":                "expected exactly 5 fields, found 4: [* * * *]",
		"60 * * * *":             "end of range (60) above maximum (59): 60",
		"0 0 0 * *":              "beginning of range (0) below minimum (1): 0",
		"0 0 * * 7":              "end of range (7) above maximum (6): 7",
		"5-1 * * * *":            "beginning of range (5) beyond end of range (1): 5-1",
		"*/0 * * * *":            "step of range should be a positive number: */0",
		"1-2-3 * * * *":          "too many hyphens: 1-2-3",
		"*/2/3 * * * *":          "too many slashes: */2/3",
		"x * * * *":              "failed to parse int from x",
		"@often":                 "unrecognized descriptor: @often",
		"@every soon":            "failed to parse duration @every soon",
		"TZ=Mars/Base 0 * * * *": "provided bad location Mars/Base",
	} {
		t.Run(schedule, func(t *testing.T) {
			err := parseSchedule(schedule)
			switch {
			case want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Errorf("error %v, want %q", err, want)
			}
		})
	}
}
