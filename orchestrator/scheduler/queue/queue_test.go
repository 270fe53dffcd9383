package queue

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

func pod(name string, priority int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(name)},
		Spec:       corev1.PodSpec{Priority: ptr.To(priority)},
	}
}

func newQueue() (*Queue, *testingclock.FakeClock) {
	clock := testingclock.NewFakeClock(time.Unix(1000, 0))
	return New(Config{Clock: clock}), clock
}

func pop(t *testing.T, q *Queue) Popped {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	go func() { <-ctx.Done(); q.cond.Broadcast() }()
	p, err := q.Pop(ctx)
	if err != nil {
		t.Fatalf("pop: %v", err)
	}
	return p
}

func TestActiveOrder(t *testing.T) {
	q, clock := newQueue()
	q.Add(pod("low-old", 0))
	clock.Step(time.Millisecond)
	q.Add(pod("high", 10))
	clock.Step(time.Millisecond)
	q.Add(pod("low-new", 0))
	for _, want := range []string{"high", "low-old", "low-new"} {
		if got := pop(t, q).Info.Pod.Name; got != want {
			t.Errorf("popped %s, want %s", got, want)
		}
	}
}

func TestBackoffDoubles(t *testing.T) {
	q, _ := newQueue()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := q.backoffDuration(&queuedPod{attempts: i + 1}); got != w {
			t.Errorf("attempt %d: backoff %v, want %v", i+1, got, w)
		}
	}
}

func TestUnschedulableMovesOnlyOnHelpfulEvents(t *testing.T) {
	q, clock := newQueue()
	q.Add(pod("p", 0))
	p := pop(t, q)
	q.AddUnschedulable("p", framework.NodeResourcesFit, p.Cycle)
	if a, b, u := q.Len(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("after rejection: active %d backoff %d unschedulable %d, want 0 0 1", a, b, u)
	}
	q.MoveAll(framework.InterPodAffinity)
	if _, _, u := q.Len(); u != 1 {
		t.Fatalf("an affinity event moved a pod rejected for resources")
	}
	// Still backing off (1 s after the first attempt): to backoff.
	q.MoveAll(framework.NodeResourcesFit)
	if a, b, u := q.Len(); a != 0 || b != 1 || u != 0 {
		t.Fatalf("after a helpful event: active %d backoff %d unschedulable %d, want 0 1 0", a, b, u)
	}
	clock.Step(1500 * time.Millisecond)
	q.flush()
	if a, _, _ := q.Len(); a != 1 {
		t.Fatalf("backoff did not end after 1.5 s")
	}
	if got := pop(t, q).Attempts; got != 2 {
		t.Errorf("attempts %d, want 2", got)
	}
}

func TestEventDuringCycleGoesToBackoff(t *testing.T) {
	q, _ := newQueue()
	q.Add(pod("p", 0))
	p := pop(t, q)
	q.MoveAll(framework.AllPlugins) // a node was added while p was being scheduled
	q.AddUnschedulable("p", framework.NodeResourcesFit, p.Cycle)
	if a, b, u := q.Len(); a+b != 1 || u != 0 {
		t.Fatalf("active %d backoff %d unschedulable %d: the pod missed the event", a, b, u)
	}

	// An event for other plugins during the cycle does not count.
	q.Add(pod("q", 0))
	p = pop(t, q)
	q.MoveAll(framework.InterPodAffinity)
	q.AddUnschedulable("q", framework.NodeResourcesFit, p.Cycle)
	if _, _, u := q.Len(); u != 1 {
		t.Fatalf("an unrelated event during the cycle kept the pod from waiting")
	}
}

func TestUnschedulableFlushedAfterMaximum(t *testing.T) {
	q, clock := newQueue()
	q.Add(pod("p", 0))
	q.AddUnschedulable("p", framework.NodeResourcesFit, pop(t, q).Cycle)
	clock.Step(4 * time.Minute)
	q.flush()
	if _, _, u := q.Len(); u != 1 {
		t.Fatalf("flushed before 5 minutes")
	}
	clock.Step(61 * time.Second)
	q.flush()
	if a, _, u := q.Len(); a != 1 || u != 0 {
		t.Fatalf("not flushed to active after 5 minutes")
	}
}

func TestUpdateRequeuesOnSpecChange(t *testing.T) {
	q, clock := newQueue()
	q.Add(pod("p", 0))
	q.AddUnschedulable("p", framework.NodeAffinity, pop(t, q).Cycle)
	clock.Step(2 * time.Second)
	status := pod("p", 0)
	status.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.Add(status)
	if _, _, u := q.Len(); u != 1 {
		t.Fatalf("a status update requeued the pod")
	}
	changed := pod("p", 0)
	changed.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	q.Add(changed)
	if a, _, u := q.Len(); a != 1 || u != 0 {
		t.Fatalf("a spec change did not requeue the pod")
	}
	if got := pop(t, q).Info.Pod.Spec.NodeSelector["disk"]; got != "ssd" {
		t.Errorf("popped the old version of the pod")
	}
}

func TestDelete(t *testing.T) {
	q, _ := newQueue()
	q.Add(pod("a", 0))
	q.Add(pod("b", 0))
	q.Delete("a")
	if got := pop(t, q).Info.Pod.Name; got != "b" {
		t.Errorf("popped %s, want b", got)
	}
	q.Delete("b") // in flight: its rejection is then dropped
	q.AddUnschedulable("b", framework.NodeResourcesFit, 1)
	if a, b, u := q.Len(); a+b+u != 0 {
		t.Errorf("a deleted pod came back")
	}
}

func TestPopWaitsAndCloses(t *testing.T) {
	q, _ := newQueue()
	done := make(chan error)
	go func() {
		_, err := q.Pop(context.Background())
		done <- err
	}()
	q.Close()
	if err := <-done; err != ErrClosed {
		t.Errorf("Pop after Close: %v, want ErrClosed", err)
	}
}
