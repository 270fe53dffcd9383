package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/scheduler/plugins"
)

// testCluster is a scheduler running on a fake clientset whose bindings set
// the pod's node, as the API server's binding subresource does.
type testCluster struct {
	client *fake.Clientset
	events chan string

	mu       sync.Mutex
	bindings map[string]string // pod name → node
}

func startCluster(t *testing.T, objects ...runtime.Object) *testCluster {
	t.Helper()
	c := &testCluster{client: fake.NewClientset(objects...), events: make(chan string, 1000), bindings: map[string]string{}}
	podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
	c.client.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		create := action.(k8stesting.CreateAction)
		if create.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := create.GetObject().(*corev1.Binding)
		obj, err := c.client.Tracker().Get(podsGVR, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		if pod.Spec.NodeName != "" {
			return true, nil, fmt.Errorf("pod %s is already bound", pod.Name)
		}
		pod.Spec.NodeName = b.Target.Name
		c.mu.Lock()
		c.bindings[pod.Name] = b.Target.Name
		c.mu.Unlock()
		return true, b, c.client.Tracker().Update(podsGVR, pod, pod.Namespace)
	})
	f := informers.NewSharedInformerFactory(c.client, 0)
	recorder := &record.FakeRecorder{Events: c.events}
	s, err := New(c.client, f, recorder, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.Start(ctx.Done())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })
	return c
}

func (c *testCluster) bound() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.bindings))
	for k, v := range c.bindings {
		out[k] = v
	}
	return out
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitEvent returns the first event containing substr.
func (c *testCluster) waitEvent(t *testing.T, substr string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case e := <-c.events:
			if strings.Contains(e, substr) {
				return e
			}
		case <-timeout:
			t.Fatalf("no event containing %q", substr)
		}
	}
}

func testNode(name, cpu string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"),
				corev1.ResourcePods: resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func testPod(name, cpu string, priority int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.Now()},
		Spec: corev1.PodSpec{
			SchedulerName: DefaultSchedulerName,
			Priority:      ptr.To(priority),
			Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)},
			}}},
		},
	}
}

func TestBindsPodsRespectingResources(t *testing.T) {
	const nodes, pods = 4, 12 // 3 pods of 600m fit on a 2-cpu node
	var objects []runtime.Object
	for i := range nodes {
		objects = append(objects, testNode(fmt.Sprintf("n%d", i), "2"))
	}
	for i := range pods {
		objects = append(objects, testPod(fmt.Sprintf("p%d", i), "600m", 0))
	}
	other := testPod("other-scheduler", "100m", 0)
	other.Spec.SchedulerName = "someone-else"
	objects = append(objects, other)
	c := startCluster(t, objects...)

	eventually(t, "all pods bound", func() bool { return len(c.bound()) >= pods })
	perNode := map[string]int{}
	for pod, node := range c.bound() {
		if pod == other.Name {
			t.Errorf("bound a pod of another scheduler")
		}
		perNode[node]++
	}
	for node, n := range perNode {
		if n > 3 {
			t.Errorf("node %s got %d pods of 600m on 2 cpu", node, n)
		}
	}
	if e := c.waitEvent(t, "Scheduled"); !strings.Contains(e, "Normal Scheduled Successfully assigned default/p") {
		t.Errorf("event %q", e)
	}

	// Every node is full now: the next pod fits nowhere.
	if _, err := c.client.CoreV1().Pods("default").Create(context.Background(), testPod("extra", "600m", 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "Warning FailedScheduling 0/4 nodes are available: 4 Insufficient cpu. preemption: 0/4 nodes are available: 4 No preemption victims found for incoming pod."
	if e := c.waitEvent(t, "FailedScheduling"); e != want {
		t.Errorf("event\n got %q\nwant %q", e, want)
	}
	eventually(t, "the PodScheduled condition", func() bool {
		pod, err := c.client.CoreV1().Pods("default").Get(context.Background(), "extra", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range pod.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable &&
				cond.Message == strings.TrimPrefix(want, "Warning FailedScheduling ") {
				return true
			}
		}
		return false
	})

	// Freeing a node lets it in, without waiting for the periodic flush.
	var victim string
	for pod := range c.bound() {
		victim = pod
		break
	}
	if err := c.client.CoreV1().Pods("default").Delete(context.Background(), victim, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the extra pod bound", func() bool { _, ok := c.bound()["extra"]; return ok })
}

func TestPreemption(t *testing.T) {
	low := testPod("low", "1500m", 0)
	low.Spec.NodeName = "n1"
	lowest := testPod("lowest", "200m", -5)
	lowest.Spec.NodeName = "n1"
	c := startCluster(t, testNode("n1", "2"), low, lowest)

	never := testPod("never", "1", 100)
	never.Spec.PreemptionPolicy = ptr.To(corev1.PreemptNever)
	if _, err := c.client.CoreV1().Pods("default").Create(context.Background(), never, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "Warning FailedScheduling 0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
	if e := c.waitEvent(t, "FailedScheduling"); e != want {
		t.Errorf("event\n got %q\nwant %q", e, want)
	}
	if err := c.client.CoreV1().Pods("default").Delete(context.Background(), "never", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	high := testPod("high", "1", 100)
	if _, err := c.client.CoreV1().Pods("default").Create(context.Background(), high, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Removing "low" alone makes room; "lowest" is reprieved. The two
	// events come from different goroutines, in either order.
	wantEvents := map[string]bool{
		"Normal Preempted Preempted by pod uid-high on node n1": false,
		"Warning FailedScheduling 0/1 nodes are available: 1 Insufficient cpu. preemption: found a potential placement for pod on node n1, preempting 1 victims": false,
	}
	for seen := 0; seen < len(wantEvents); {
		e := c.waitEvent(t, "")
		if done, ok := wantEvents[e]; ok && !done {
			wantEvents[e] = true
			seen++
		}
	}
	eventually(t, "the preemptor bound to n1", func() bool { return c.bound()["high"] == "n1" })
	if _, err := c.client.CoreV1().Pods("default").Get(context.Background(), "lowest", metav1.GetOptions{}); err != nil {
		t.Errorf("the pod that did not need to go was preempted: %v", err)
	}
	pod, err := c.client.CoreV1().Pods("default").Get(context.Background(), "high", metav1.GetOptions{})
	if err != nil || pod.Status.NominatedNodeName != "n1" {
		t.Errorf("nominatedNodeName not set to n1 (err %v)", err)
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		percentage int32
		nodes      int
		want       int
	}{
		{0, 50, 50},
		{0, 1000, 420},  // 50 - 8 = 42%
		{0, 5000, 500},  // 50 - 40 = 10%
		{0, 10000, 500}, // floor of 5%
		{0, 150, 100},   // never fewer than 100
		{30, 1000, 300}, // configured
		{100, 5000, 5000} /* all */}
	for _, tc := range tests {
		if got := numFeasibleNodesToFind(tc.percentage, tc.nodes); got != tc.want {
			t.Errorf("numFeasibleNodesToFind(%d, %d) = %d, want %d", tc.percentage, tc.nodes, got, tc.want)
		}
	}
}

func TestNewRejectsBadPercentage(t *testing.T) {
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	if _, err := New(client, f, &record.FakeRecorder{}, Config{PercentageOfNodesToScore: 101}); err == nil {
		t.Error("New accepted percentageOfNodesToScore 101")
	}
}

// failingAPI rejects every binding.
type failingAPI struct{ nopAPI }

func (failingAPI) bind(context.Context, *corev1.Pod, string) error {
	return errors.New("etcd is down")
}

func TestFailedBindingForgetsAndRetries(t *testing.T) {
	events := make(chan string, 10)
	s := newScheduler(failingAPI{}, &record.FakeRecorder{Events: events}, Config{}, &plugins.Plugins{})
	s.cache.AddNode(testNode("n1", "2"))
	s.queue.Add(testPod("p", "1", 0))
	s.scheduleOne(context.Background())
	s.inflight.Wait()
	if s.cache.IsAssumed("uid-p") {
		t.Error("the pod is still assumed after its binding failed")
	}
	s.cache.UpdateSnapshot(s.snapshot)
	if got := s.snapshot.Get("n1").Requested.MilliCPU; got != 0 {
		t.Errorf("n1 still counts %dm for the pod", got)
	}
	if _, backoff, _ := s.queue.Len(); backoff != 1 {
		t.Errorf("the pod is not backing off for a retry")
	}
	if e := <-events; e != "Warning FailedScheduling Binding rejected: etcd is down" {
		t.Errorf("event %q", e)
	}
}
