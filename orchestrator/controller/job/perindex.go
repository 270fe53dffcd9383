package job

import (
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// With backoffLimitPerIndex, each index of an Indexed job has its own budget
// of failures, as upstream: every pod carries in annotations how often its
// index failed before it (counted, and ignored by the pod failure policy); a
// failed pod that had used up the budget, or that a FailIndex rule matches,
// fails its index for good (status.failedIndexes) and the index is never run
// again. Each index backs off on its own, from its last failure.

// Annotations holding the failures of a pod's index before the pod.
const (
	indexFailureCountAnnotation        = "batch.kubernetes.io/job-index-failure-count"
	indexIgnoredFailureCountAnnotation = "batch.kubernetes.io/job-index-ignored-failure-count"
)

func perIndex(job *batchv1.Job) bool {
	return isIndexed(job) && job.Spec.BackoffLimitPerIndex != nil
}

// failureCounts reads the failures of a pod's index before it.
func failureCounts(p *corev1.Pod) (counted, ignored int) {
	counted, _ = strconv.Atoi(p.Annotations[indexFailureCountAnnotation])
	ignored, _ = strconv.Atoi(p.Annotations[indexIgnoredFailureCountAnnotation])
	return max(counted, 0), max(ignored, 0)
}

// failsIndex reports whether a failed pod fails its index for good.
func failsIndex(job *batchv1.Job, p *corev1.Pod) bool {
	v := judge(job, p)
	if v.failIndex {
		return true
	}
	counted, _ := failureCounts(p)
	return v.count && counted >= int(*job.Spec.BackoffLimitPerIndex)
}

// lastFailed returns, per index, its pod that failed last.
func lastFailed(pods []*corev1.Pod, now time.Time) map[int]*corev1.Pod {
	out := map[int]*corev1.Pod{}
	for _, p := range pods {
		ix := completionIndex(p)
		if p.Status.Phase != corev1.PodFailed || ix < 0 {
			continue
		}
		if prev := out[ix]; prev == nil || finishTime(p, now).After(finishTime(prev, now)) {
			out[ix] = p
		}
	}
	return out
}

// annotateFailures writes on a new pod of an index how often the index
// failed before, from the pod of the index that failed last.
func annotateFailures(job *batchv1.Job, pod, last *corev1.Pod) {
	counted, ignored := 0, 0
	if last != nil {
		counted, ignored = failureCounts(last)
		if judge(job, last).count {
			counted++
		} else {
			ignored++
		}
	}
	pod.Annotations[indexFailureCountAnnotation] = strconv.Itoa(counted)
	if ignored > 0 {
		pod.Annotations[indexIgnoredFailureCountAnnotation] = strconv.Itoa(ignored)
	}
}

// indexBackoff is how long an index must still wait after its last failure:
// base·2^(failures-1), every failure of the index counted (ignored ones too),
// at most limit, as upstream.
func indexBackoff(last *corev1.Pod, base, limit time.Duration, now time.Time) time.Duration {
	if last == nil {
		return 0
	}
	counted, ignored := failureCounts(last)
	delay := base
	for i := 0; i < counted+ignored && delay < limit; i++ {
		delay *= 2
	}
	return max(finishTime(last, now).Add(min(delay, limit)).Sub(now), 0)
}
