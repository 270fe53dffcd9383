package tainteviction

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

var unreachable = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}

func node(name string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}, Spec: corev1.NodeSpec{Taints: taints}}
}

// pod is on node-a and tolerates unreachable:NoExecute for seconds, for ever
// when seconds is negative, not at all when tolerate is false.
func pod(name string, tolerate bool, seconds int64) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
	}
	if tolerate {
		tol := corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
		if seconds >= 0 {
			tol.TolerationSeconds = ptr.To(seconds)
		}
		p.Spec.Tolerations = []corev1.Toleration{tol}
	}
	return p
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
	c        *Controller
}

// newFixture seeds the informer caches by hand and the fake API with the same
// objects; tests call sync directly.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...), clock: clocktesting.NewFakeClock(t0), recorder: record.NewFakeRecorder(100)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.c = New(f.client, f.factory, f.recorder, WithClock(f.clock))
	t.Cleanup(f.c.queue.ShutDown)
	for _, o := range objs {
		f.cache(o)
	}
	return f
}

// cache puts o in its informer's cache, as a watch event would.
func (f *fixture) cache(o runtime.Object) {
	f.t.Helper()
	var err error
	switch o := o.(type) {
	case *corev1.Node:
		err = f.factory.Core().V1().Nodes().Informer().GetIndexer().Update(o)
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync(p *corev1.Pod) {
	f.t.Helper()
	if err := f.c.sync(context.Background(), p.Namespace+"/"+p.Name); err != nil {
		f.t.Fatalf("sync %s: %v", p.Name, err)
	}
}

func (f *fixture) exists(p *corev1.Pod) bool {
	f.t.Helper()
	_, err := f.client.CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		f.t.Fatal(err)
	}
	return err == nil
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestIntolerantPodEvictedAtOnce(t *testing.T) {
	p := pod("web-1", false, 0)
	f := newFixture(t, node("node-a", unreachable), p)
	f.sync(p)
	// The DisruptionTarget condition goes on before the pod is deleted.
	var verbs []string
	for _, a := range f.client.Actions() {
		verbs = append(verbs, a.GetVerb()+" "+a.GetSubresource())
		if pa, ok := a.(core.PatchAction); ok {
			if !strings.Contains(string(pa.GetPatch()), `"DeletionByTaintManager"`) || !strings.Contains(string(pa.GetPatch()), `"DisruptionTarget"`) {
				t.Errorf("patch = %s, want a DisruptionTarget condition by DeletionByTaintManager", pa.GetPatch())
			}
		}
	}
	if !slices.Equal(verbs, []string{"patch status", "delete "}) {
		t.Errorf("actions = %q, want the status patch then the delete", verbs)
	}
	if f.exists(p) {
		t.Fatal("pod kept on a node it does not tolerate")
	}
	if ev := f.events(); !slices.Contains(ev, "Normal TaintManagerEviction Marking for deletion Pod shop/web-1") {
		t.Errorf("events = %q, want TaintManagerEviction", ev)
	}
}

func TestTolerationSeconds(t *testing.T) {
	p := pod("web-1", true, 30)
	f := newFixture(t, node("node-a", unreachable), p)
	f.sync(p)
	f.clock.Step(29 * time.Second)
	f.sync(p)
	if !f.exists(p) {
		t.Fatal("pod evicted before its tolerationSeconds ran out")
	}
	f.clock.Step(time.Second)
	f.sync(p)
	if f.exists(p) {
		t.Fatal("pod kept after its tolerationSeconds ran out")
	}
}

func TestTolerationSecondsWakeUp(t *testing.T) {
	p := pod("web-1", true, 30)
	f := newFixture(t, node("node-a", unreachable), p)
	f.sync(p)
	if f.c.queue.Len() != 0 {
		t.Fatalf("queue holds %d before the toleration ran out", f.c.queue.Len())
	}
	f.clock.Step(30 * time.Second)
	// The delayed queue hands the key back on the clock's tick.
	deadline := time.Now().Add(5 * time.Second)
	for f.c.queue.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.c.queue.Len() != 1 {
		t.Fatal("pod not requeued when its tolerationSeconds ran out")
	}
}

func TestToleratedForEverStays(t *testing.T) {
	p := pod("ds-1", true, -1)
	f := newFixture(t, node("node-a", unreachable), p)
	f.sync(p)
	f.clock.Step(24 * time.Hour)
	f.sync(p)
	if !f.exists(p) {
		t.Fatal("pod tolerating the taint for ever was evicted")
	}
}

func TestTaintRemovedCancels(t *testing.T) {
	p := pod("web-1", true, 30)
	f := newFixture(t, node("node-a", unreachable), p)
	f.sync(p)
	f.clock.Step(20 * time.Second)
	f.cache(node("node-a"))
	f.sync(p)
	if ev := f.events(); !slices.Contains(ev, "Normal TaintManagerEviction Cancelling deletion of Pod shop/web-1") {
		t.Errorf("events = %q, want the cancellation", ev)
	}
	// Tainted again: the count starts afresh.
	f.clock.Step(20 * time.Second)
	f.cache(node("node-a", unreachable))
	f.sync(p)
	f.clock.Step(20 * time.Second)
	f.sync(p)
	if !f.exists(p) {
		t.Fatal("pod evicted 20s into a fresh 30s toleration")
	}
}

func TestNodeTaintWakesItsPods(t *testing.T) {
	on, off := pod("web-1", false, 0), pod("web-2", false, 0)
	off.Spec.NodeName = "node-b"
	f := newFixture(t, node("node-a"), on, off)
	f.c.nodeChanged(node("node-a"), node("node-a", unreachable))
	if f.c.queue.Len() != 1 {
		t.Fatalf("queue holds %d, want the one pod on the tainted node", f.c.queue.Len())
	}
	if k, _ := f.c.queue.Get(); k != "shop/web-1" {
		t.Errorf("queued %q, want shop/web-1", k)
	}
}

func TestEvictionDelay(t *testing.T) {
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	tol := func(key string, seconds *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
	}
	tests := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		delay       time.Duration
		tolerated   bool
	}{
		{name: "no taints", delay: -1, tolerated: true},
		{name: "untolerated taint", taints: []corev1.Taint{unreachable}, tolerated: false},
		{name: "one of two taints tolerated", taints: []corev1.Taint{unreachable, notReady},
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, tolerated: false},
		{name: "shortest of two wins", taints: []corev1.Taint{unreachable, notReady},
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](300)), tol(corev1.TaintNodeNotReady, ptr.To[int64](60))},
			delay:       time.Minute, tolerated: true},
		{name: "for ever", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, delay: -1, tolerated: true},
		{name: "negative seconds means now", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](-5))}, delay: 0, tolerated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			delay, tolerated := evictionDelay(tt.taints, tt.tolerations)
			if tolerated != tt.tolerated || tolerated && delay != tt.delay {
				t.Errorf("evictionDelay = %v, %v; want %v, %v", delay, tolerated, tt.delay, tt.tolerated)
			}
		})
	}
}
