package registry

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodGracePeriod(t *testing.T) {
	cases := []struct {
		name      string
		node      string
		phase     corev1.PodPhase
		podGrace  *int64
		requested *int64
		want      int64
	}{
		{name: "running pod gets its own grace period", node: "n1", phase: corev1.PodRunning, podGrace: ptr.To[int64](45), want: 45},
		{name: "running pod without one gets the default", node: "n1", phase: corev1.PodRunning, want: corev1.DefaultTerminationGracePeriodSeconds},
		{name: "the request overrides the pod", node: "n1", phase: corev1.PodRunning, podGrace: ptr.To[int64](45), requested: ptr.To[int64](5), want: 5},
		{name: "a request of zero deletes at once", node: "n1", phase: corev1.PodRunning, podGrace: ptr.To[int64](45), requested: ptr.To[int64](0), want: 0},
		{name: "a pending pod on a node is graceful", node: "n1", phase: corev1.PodPending, podGrace: ptr.To[int64](10), want: 10},
		{name: "an unscheduled pod goes at once", phase: corev1.PodPending, podGrace: ptr.To[int64](45), requested: ptr.To[int64](20), want: 0},
		{name: "a succeeded pod goes at once", node: "n1", phase: corev1.PodSucceeded, podGrace: ptr.To[int64](45), want: 0},
		{name: "a failed pod goes at once", node: "n1", phase: corev1.PodFailed, requested: ptr.To[int64](20), want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod := &corev1.Pod{
				Spec:   corev1.PodSpec{NodeName: c.node, TerminationGracePeriodSeconds: c.podGrace},
				Status: corev1.PodStatus{Phase: c.phase},
			}
			options := &metav1.DeleteOptions{GracePeriodSeconds: c.requested}
			if !podGracePeriod(context.Background(), pod, options) {
				t.Fatal("podGracePeriod = false, want true: pods are always deleted gracefully")
			}
			if options.GracePeriodSeconds == nil || *options.GracePeriodSeconds != c.want {
				t.Errorf("grace period = %v, want %d", ptr.Deref(options.GracePeriodSeconds, -1), c.want)
			}
		})
	}
}
