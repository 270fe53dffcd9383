package podcontrol

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// rankPod is a running pod on node-a, created an hour ago, changed by opts.
func rankPod(name string, opts ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(since time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(since)})
	}
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func onNode(n string) func(*corev1.Pod)          { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func TestPodsToDelete(t *testing.T) {
	tests := []struct {
		name  string
		first *corev1.Pod // deleted before then
		then  *corev1.Pod
	}{
		{"unassigned before assigned", rankPod("a", onNode("")), rankPod("b")},
		{"pending before unknown", rankPod("a", phase(corev1.PodPending)), rankPod("b", phase(corev1.PodUnknown))},
		{"unknown before running", rankPod("a", phase(corev1.PodUnknown)), rankPod("b")},
		{"not ready before ready", rankPod("a"), rankPod("b", ready(now.Add(-time.Hour)))},
		{"lower deletion cost first", rankPod("a", ready(now.Add(-24*time.Hour)), func(p *corev1.Pod) {
			p.Annotations = map[string]string{DeletionCostAnnotation: "-5"}
		}), rankPod("b", ready(now.Add(-time.Minute)))},
		{"on a crowded node first", rankPod("a", onNode("crowded")), rankPod("b", onNode("alone"))},
		{"ready for less time first", rankPod("a", ready(now.Add(-time.Minute))), rankPod("b", ready(now.Add(-24*time.Hour)))},
		{"more restarts first", rankPod("a", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 4}}
		}), rankPod("b")},
		{"newer first", rankPod("a", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-time.Minute)) }),
			rankPod("b", func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-24 * time.Hour)) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			related := []*corev1.Pod{tt.first, tt.then, rankPod("c", onNode("crowded"))}
			for _, order := range [][]*corev1.Pod{{tt.first, tt.then}, {tt.then, tt.first}} {
				if got := PodsToDelete(order, related, 1, now); got[0] != tt.first {
					t.Errorf("picked %s, want %s", got[0].Name, tt.first.Name)
				}
			}
		})
	}
}
