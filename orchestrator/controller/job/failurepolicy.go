package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// policyVerdict is what a job's pod failure policy says of one failed pod.
type policyVerdict struct {
	// count is false when a rule says to ignore the failure (a disruption,
	// say): it does not count towards backoffLimit.
	count bool
	// failJob, when set, is why a FailJob rule fails the whole job.
	failJob string
	// failIndex is set when a FailIndex rule fails the pod's index for good
	// (with backoffLimitPerIndex).
	failIndex bool
}

// judge matches a failed pod against the rules of job's pod failure policy,
// in order, as upstream does; no policy or no matching rule counts the
// failure. FailIndex counts it too, and fails the index of a job with
// backoffLimitPerIndex (like Count without one).
func judge(job *batchv1.Job, pod *corev1.Pod) policyVerdict {
	policy := job.Spec.PodFailurePolicy
	if policy == nil {
		return policyVerdict{count: true}
	}
	for i, rule := range policy.Rules {
		var why string
		switch {
		case rule.OnExitCodes != nil:
			cs := matchExitCodes(pod, rule.OnExitCodes)
			if cs == nil {
				continue
			}
			why = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
				cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, rule.Action, i)
		case len(rule.OnPodConditions) > 0:
			cond := matchConditions(pod, rule.OnPodConditions)
			if cond == nil {
				continue
			}
			why = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d", pod.Namespace, pod.Name, cond.Type, rule.Action, i)
		default:
			continue
		}
		switch rule.Action {
		case batchv1.PodFailurePolicyActionIgnore:
			return policyVerdict{}
		case batchv1.PodFailurePolicyActionFailJob:
			return policyVerdict{count: true, failJob: why}
		case batchv1.PodFailurePolicyActionFailIndex:
			return policyVerdict{count: true, failIndex: perIndex(job)}
		default:
			return policyVerdict{count: true}
		}
	}
	return policyVerdict{count: true}
}

// matchExitCodes returns the first terminated container (then init
// container) whose non-zero exit code meets r.
func matchExitCodes(pod *corev1.Pod, r *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i, cs := range list {
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 || r.ContainerName != nil && *r.ContainerName != cs.Name {
				continue
			}
			if slices.Contains(r.Values, t.ExitCode) == (r.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) {
				return &list[i]
			}
		}
	}
	return nil
}

func matchConditions(pod *corev1.Pod, patterns []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for i, c := range pod.Status.Conditions {
		for _, p := range patterns {
			if c.Type == p.Type && c.Status == p.Status {
				return &pod.Status.Conditions[i]
			}
		}
	}
	return nil
}
