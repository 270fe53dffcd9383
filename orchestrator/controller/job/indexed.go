package job

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

// completionIndex is the index of an Indexed job's pod, from its annotation
// (or the label newer pods also carry), or -1.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = pod.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return -1
	}
	return i
}

// indexes is a sorted set of completion indexes, written in status as
// intervals as upstream writes them: {1, 3, 4, 5, 7, 8} is "1,3-5,7,8" (two
// neighbours are listed, not joined).
type indexes []int

// parseIndexes reads status.completedIndexes, ignoring anything malformed or
// not below completions.
func parseIndexes(s string, completions int) indexes {
	var out indexes
	for part := range strings.SplitSeq(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := max(first, 0); i <= last && i < completions; i++ {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (x indexes) has(i int) bool {
	_, found := slices.BinarySearch(x, i)
	return found
}

func (x indexes) with(more ...int) indexes {
	out := append(slices.Clone(x), more...)
	slices.Sort(out)
	return slices.Compact(out)
}

func (x indexes) String() string {
	var b strings.Builder
	for i := 0; i < len(x); {
		j := i
		for j+1 < len(x) && x[j+1] == x[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		switch j {
		case i:
			fmt.Fprintf(&b, "%d", x[i])
		case i + 1:
			fmt.Fprintf(&b, "%d,%d", x[i], x[j])
		default:
			fmt.Fprintf(&b, "%d-%d", x[i], x[j])
		}
		i = j + 1
	}
	return b.String()
}
