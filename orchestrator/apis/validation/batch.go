package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // time zones of CronJobs resolve without the host's zoneinfo

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The labels the API server puts on a Job's pods when it makes the selector.
const (
	legacyControllerUIDLabel = "controller-uid"
	legacyJobNameLabel       = "job-name"
)

func validateJob(job *batchv1.Job) field.ErrorList {
	errs := validateGeneratedSelector(job)
	errs = append(errs, validateJobSpec(&job.Spec, specPath)...)
	spec := &job.Spec
	if spec.Selector == nil {
		errs = append(errs, field.Required(specPath.Child("selector"), ""))
	} else {
		errs = append(errs, labelSelector(spec.Selector, specPath.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && spec.Selector != nil {
		errs = append(errs, selectorMatches(sel, spec.Template.Labels, specPath.Child("template", "metadata", "labels"))...)
	}
	// Indexed pods are named after the job and their index, which must stay a DNS label.
	if isIndexed(spec) && spec.Completions != nil && *spec.Completions > 0 {
		host := fmt.Sprintf("%s-%d", job.Name, *spec.Completions-1)
		if len(utilvalidation.IsDNS1123Label(host)) > 0 {
			errs = append(errs, field.Invalid(metadataPath.Child("name"), job.Name, fmt.Sprintf("will not able to create pod with invalid DNS label: %s", host)))
		}
	}
	return errs
}

func isIndexed(spec *batchv1.JobSpec) bool {
	return spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
}

// validateGeneratedSelector checks, unless the user chose the selector, that the
// selector and the template labels are the ones made from the job's uid.
func validateGeneratedSelector(job *batchv1.Job) field.ErrorList {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector || job.Spec.Selector == nil {
		return nil
	}
	var errs field.ErrorList
	if job.UID == "" {
		errs = append(errs, field.Required(metadataPath.Child("uid"), ""))
	}
	want := map[string]string{
		legacyControllerUIDLabel: string(job.UID), legacyJobNameLabel: job.Name,
		batchv1.ControllerUidLabel: string(job.UID), batchv1.JobNameLabel: job.Name,
	}
	lp := specPath.Child("template", "metadata", "labels")
	for _, key := range []string{legacyControllerUIDLabel, legacyJobNameLabel, batchv1.ControllerUidLabel, batchv1.JobNameLabel} {
		switch v, ok := job.Spec.Template.Labels[key]; {
		case !ok:
			errs = append(errs, field.Required(lp.Key(key), fmt.Sprintf("must be '%s'", want[key])))
		case v != want[key]:
			errs = append(errs, field.Invalid(lp.Key(key), job.Spec.Template.Labels, fmt.Sprintf("must be '%s'", want[key])))
		}
	}
	if sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil && !sel.Matches(labels.Set(want)) {
		errs = append(errs, field.Invalid(specPath.Child("selector"), job.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

// validateJobSpec validates the spec of a job or of a CronJob's job template.
func validateJobSpec(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	errs := nonNegativePtr(spec.Parallelism, p.Child("parallelism"))
	errs = append(errs, nonNegativePtr(spec.Completions, p.Child("completions"))...)
	errs = append(errs, nonNegativePtr(spec.ActiveDeadlineSeconds, p.Child("activeDeadlineSeconds"))...)
	errs = append(errs, nonNegativePtr(spec.BackoffLimit, p.Child("backoffLimit"))...)
	errs = append(errs, nonNegativePtr(spec.TTLSecondsAfterFinished, p.Child("ttlSecondsAfterFinished"))...)
	errs = append(errs, nonNegativePtr(spec.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, nonNegativePtr(spec.MaxFailedIndexes, p.Child("maxFailedIndexes"))...)
	if spec.MaxFailedIndexes != nil && spec.BackoffLimitPerIndex == nil {
		errs = append(errs, field.Required(p.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
	}
	if m := spec.ManagedBy; m != nil {
		errs = append(errs, utilvalidation.IsDomainPrefixedPath(p.Child("managedBy"), *m)...)
		if len(*m) > 63 {
			errs = append(errs, field.TooLongMaxLength(p.Child("managedBy"), *m, 63))
		}
	}
	if m := spec.CompletionMode; m != nil {
		errs = append(errs, supportedValue(*m, p.Child("completionMode"), batchv1.NonIndexedCompletion, batchv1.IndexedCompletion)...)
	}
	if isIndexed(spec) {
		if spec.Completions == nil {
			errs = append(errs, field.Required(p.Child("completions"), "when completion mode is Indexed"))
		}
		if spec.Completions != nil && spec.MaxFailedIndexes != nil && *spec.MaxFailedIndexes > *spec.Completions {
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	} else {
		if spec.BackoffLimitPerIndex != nil {
			errs = append(errs, field.Invalid(p.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
		}
		if spec.MaxFailedIndexes != nil {
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "requires indexed completion mode"))
		}
		if spec.SuccessPolicy != nil {
			errs = append(errs, field.Invalid(p.Child("successPolicy"), *spec.SuccessPolicy, "requires indexed completion mode"))
		}
	}
	if fp := spec.PodFailurePolicy; fp != nil {
		errs = append(errs, validatePodFailurePolicy(fp, p.Child("podFailurePolicy"))...)
	}
	if r := spec.PodReplacementPolicy; r != nil {
		rp := p.Child("podReplacementPolicy")
		if spec.PodFailurePolicy != nil {
			errs = append(errs, supportedValue(*r, rp, batchv1.Failed)...)
		} else {
			errs = append(errs, supportedValue(*r, rp, batchv1.Failed, batchv1.TerminatingOrFailed)...)
		}
	}
	tp := p.Child("template")
	errs = append(errs, validatePodTemplateSpec(&spec.Template, tp, podSpecOptions{})...)
	rp := tp.Child("spec", "restartPolicy")
	switch policy := spec.Template.Spec.RestartPolicy; {
	case policy == corev1.RestartPolicyAlways || policy == "":
		errs = append(errs, field.Required(rp, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case policy != corev1.RestartPolicyOnFailure && policy != corev1.RestartPolicyNever:
		errs = append(errs, field.NotSupported(rp, policy, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case spec.PodFailurePolicy != nil && policy != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(rp, policy, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
	}
	return errs
}

var failurePolicyActions = []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount,
	batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}

func validatePodFailurePolicy(fp *batchv1.PodFailurePolicy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rulesPath := p.Child("rules")
	if len(fp.Rules) > 20 {
		errs = append(errs, field.TooMany(rulesPath, len(fp.Rules), 20))
	}
	for i, r := range fp.Rules {
		rp := rulesPath.Index(i)
		errs = append(errs, oneOf(r.Action, rp.Child("action"), failurePolicyActions...)...)
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(rp, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(rp, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if c := r.OnExitCodes; c != nil {
			cp := rp.Child("onExitCodes")
			errs = append(errs, oneOf(c.Operator, cp.Child("operator"), batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn)...)
			if len(c.Values) == 0 {
				errs = append(errs, field.Required(cp.Child("values"), "at least one value is required"))
			}
		}
		for j, c := range r.OnPodConditions {
			cp := rp.Child("onPodConditions").Index(j)
			errs = append(errs, oneOf(c.Status, cp.Child("status"), corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown)...)
			errs = append(errs, qualifiedName(string(c.Type), cp.Child("type"))...)
		}
	}
	return errs
}

// validateJobUpdate keeps what the job's pods were made from: the selector, the
// number of completions and the template, whose scheduling directives a
// suspended job that never started may still change.
func validateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	errs := immutable(job.Spec.Completions, old.Spec.Completions, specPath.Child("completions"))
	errs = append(errs, immutable(job.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	template, oldTemplate := job.Spec.Template, *old.Spec.Template.DeepCopy()
	if job.Spec.Suspend != nil && *job.Spec.Suspend && old.Status.StartTime == nil {
		if template.Spec.Affinity != nil {
			if oldTemplate.Spec.Affinity == nil {
				oldTemplate.Spec.Affinity = &corev1.Affinity{}
			}
			oldTemplate.Spec.Affinity.NodeAffinity = template.Spec.Affinity.NodeAffinity
		} else if oldTemplate.Spec.Affinity != nil {
			oldTemplate.Spec.Affinity.NodeAffinity = nil
		}
		oldTemplate.Spec.NodeSelector = template.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = template.Spec.Tolerations
		oldTemplate.Spec.SchedulingGates = template.Spec.SchedulingGates
		oldTemplate.Annotations = template.Annotations
		oldTemplate.Labels = template.Labels
	}
	if !equality.Semantic.DeepEqual(template, oldTemplate) {
		errs = append(errs, field.Invalid(specPath.Child("template"), template, immutableMsg))
	}
	return errs
}

func validateJobStatus(job, old *batchv1.Job) field.ErrorList {
	s := job.Status
	errs := nonNegative(int64(s.Active), statusPath.Child("active"))
	errs = append(errs, nonNegative(int64(s.Succeeded), statusPath.Child("succeeded"))...)
	errs = append(errs, nonNegative(int64(s.Failed), statusPath.Child("failed"))...)
	errs = append(errs, nonNegativePtr(s.Ready, statusPath.Child("ready"))...)
	errs = append(errs, nonNegativePtr(s.Terminating, statusPath.Child("terminating"))...)
	if s.Failed < old.Status.Failed {
		errs = append(errs, field.Invalid(statusPath.Child("failed"), s.Failed, "cannot decrease the failed counter"))
	}
	if s.Succeeded < old.Status.Succeeded {
		errs = append(errs, field.Invalid(statusPath.Child("succeeded"), s.Succeeded, "cannot decrease the succeeded counter"))
	}
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobComplete, batchv1.JobFailureTarget} {
		if conditionTrue(old.Status.Conditions, t) && !conditionTrue(s.Conditions, t) {
			errs = append(errs, field.Invalid(statusPath.Child("conditions"), field.OmitValueType{}, fmt.Sprintf("cannot disable the terminal %s=True condition", t)))
		}
	}
	return errs
}

func conditionTrue(conditions []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	return validateCronJobSpec(&cj.Spec)
}

// validateCronJobCreate leaves room in the name for the suffix of the jobs the
// CronJob makes; existing longer names stay valid on update.
func validateCronJobCreate(cj *batchv1.CronJob) field.ErrorList {
	errs := validateScheduleTimeZone(cj.Spec.Schedule, cj.Spec.TimeZone, false)
	if len(cj.Name) > utilvalidation.DNS1035LabelMaxLength-11 {
		errs = append(errs, field.Invalid(metadataPath.Child("name"), cj.Name, "must be no more than 52 characters"))
	}
	return errs
}

func validateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	return validateScheduleTimeZone(cj.Spec.Schedule, cj.Spec.TimeZone, strings.Contains(old.Spec.Schedule, "TZ"))
}

// validateScheduleTimeZone keeps time zones in the timeZone field; a schedule
// that already named its zone with TZ= may keep doing so.
func validateScheduleTimeZone(schedule string, tz *string, hadTZ bool) field.ErrorList {
	p := specPath.Child("schedule")
	switch {
	case !strings.Contains(schedule, "TZ"):
	case !hadTZ:
		return field.ErrorList{field.Invalid(p, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")}
	case tz != nil:
		return field.ErrorList{field.Invalid(p, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule")}
	}
	return nil
}

var concurrencyPolicies = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}

func validateCronJobSpec(spec *batchv1.CronJobSpec) field.ErrorList {
	var errs field.ErrorList
	sp := specPath.Child("schedule")
	if spec.Schedule == "" {
		errs = append(errs, field.Required(sp, ""))
	} else {
		if err := parseSchedule(spec.Schedule); err != nil {
			errs = append(errs, field.Invalid(sp, spec.Schedule, err.Error()))
		}
	}
	errs = append(errs, nonNegativePtr(spec.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	errs = append(errs, validateTimeZone(spec.TimeZone, specPath.Child("timeZone"))...)
	errs = append(errs, oneOf(spec.ConcurrencyPolicy, specPath.Child("concurrencyPolicy"), concurrencyPolicies...)...)
	jp := specPath.Child("jobTemplate", "spec")
	errs = append(errs, validateJobSpec(&spec.JobTemplate.Spec, jp)...)
	if spec.JobTemplate.Spec.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if m := spec.JobTemplate.Spec.ManualSelector; m != nil && *m {
		errs = append(errs, field.NotSupported(jp.Child("manualSelector"), spec.JobTemplate.Spec.ManualSelector, []string{"nil", "false"}))
	}
	errs = append(errs, nonNegativePtr(spec.SuccessfulJobsHistoryLimit, specPath.Child("successfulJobsHistoryLimit"))...)
	return append(errs, nonNegativePtr(spec.FailedJobsHistoryLimit, specPath.Child("failedJobsHistoryLimit"))...)
}

// timeZonePart is one element of an IANA time zone name.
var timeZonePart = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateTimeZone(tz *string, p *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(p, tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZonePart.MatchString(part) {
			return field.ErrorList{field.Invalid(p, tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	var errs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		errs = append(errs, field.Invalid(p, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		errs = append(errs, field.Invalid(p, tz, err.Error()))
	}
	return errs
}
