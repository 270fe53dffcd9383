package scheduler

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

// The scheduler's status writes against a real API server: patches of its
// own copy of the pod, which merge with conditions others wrote and never
// touch a pod recreated under the same name.
func TestStatusPatches(t *testing.T) {
	s := apiservertest.Start(t)
	ctx := context.Background()
	pods := s.Client.CoreV1().Pods("default")
	pod, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Another writer's condition, which the scheduler's copy does not have.
	live := pod.DeepCopy()
	live.Status.Conditions = append(live.Status.Conditions, corev1.PodCondition{Type: "example.com/Gate", Status: corev1.ConditionTrue})
	if _, err := pods.UpdateStatus(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	api := &clientAPI{client: s.Client}
	if err := api.setUnschedulable(ctx, pod, "0/1 nodes are available: 1 Insufficient cpu."); err != nil {
		t.Fatal(err)
	}
	if err := api.nominate(ctx, pod, "n1"); err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conditions := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range got.Status.Conditions {
		conditions[c.Type] = c
	}
	if c := conditions[corev1.PodScheduled]; c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != "0/1 nodes are available: 1 Insufficient cpu." {
		t.Errorf("PodScheduled = %+v", c)
	}
	if _, kept := conditions["example.com/Gate"]; !kept {
		t.Errorf("the other writer's condition is gone: %+v", got.Status.Conditions)
	}
	if got.Status.NominatedNodeName != "n1" {
		t.Errorf("nominatedNodeName = %q", got.Status.NominatedNodeName)
	}

	// The same name, another pod: the scheduler's stale copy changes nothing.
	if err := pods.Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := api.setUnschedulable(ctx, pod, "stale"); !apierrors.IsInvalid(err) {
		t.Errorf("patching a recreated pod with the old one's UID: %v, want Invalid", err)
	}
	if err := api.nominate(ctx, pod, "n2"); !apierrors.IsInvalid(err) {
		t.Errorf("nominating for a recreated pod with the old one's UID: %v, want Invalid", err)
	}
	recreated, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recreated.Status.Conditions) != 0 || recreated.Status.NominatedNodeName != "" {
		t.Errorf("the recreated pod was written: %+v", recreated.Status)
	}
}
