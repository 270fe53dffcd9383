package nodestatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const gi = int64(1) << 30

// healthyFacts are a host with room to spare.
func healthyFacts() Facts {
	return Facts{
		MachineID: "machine-1", SystemUUID: "uuid-1", BootID: "boot-1",
		KernelVersion: "6.1.0-test", OSImage: "Test OS 1", InternalIP: "10.1.2.3",
		CPUs: 4, MemoryBytes: 8 * gi, MemoryAvailableBytes: 4 * gi,
		FSBytes: 100 * gi, FSAvailableBytes: 50 * gi, FSInodes: 1_000_000, FSInodesFree: 500_000,
		PIDLimit: 32768, PIDs: 300,
	}
}

type fakeHost struct {
	mu    sync.Mutex
	facts Facts
}

func (h *fakeHost) Facts(context.Context, string) (Facts, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.facts, nil
}

func (h *fakeHost) set(change func(*Facts)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	change(&h.facts)
}

// recorder keeps events as "reason: message".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(object k8sruntime.Object, eventtype, reason, messageFmt string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref, ok := object.(*corev1.ObjectReference); !ok || ref.Kind != "Node" {
		r.events = append(r.events, fmt.Sprintf("event on %#v", object))
		return
	}
	r.events = append(r.events, reason+": "+fmt.Sprintf(messageFmt, args...))
}

// take returns the events recorded since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	events := r.events
	r.events = nil
	return events
}

type fixture struct {
	client *fake.Clientset
	clock  *testingclock.FakeClock
	host   *fakeHost
	events *recorder
	node   *Node
}

func newFixture(t *testing.T, configure func(*Config), objects ...k8sruntime.Object) *fixture {
	t.Helper()
	f := &fixture{
		client: fake.NewClientset(objects...),
		clock:  testingclock.NewFakeClock(t0),
		host:   &fakeHost{facts: healthyFacts()},
		events: &recorder{},
	}
	// The fake API assigns no uids; the Lease's owner needs one.
	f.client.PrependReactor("create", "nodes", func(action k8stesting.Action) (bool, k8sruntime.Object, error) {
		action.(k8stesting.CreateAction).GetObject().(*corev1.Node).UID = "node-uid"
		return false, nil, nil
	})
	cfg := Config{
		Client: f.client, NodeName: "n1", FSPath: t.TempDir(),
		KubeletVersion: "v1.37.2", ContainerRuntimeVersion: "berth://0.1.0",
		Host: f.host, Recorder: f.events, Clock: f.clock, Log: slog.New(slog.DiscardHandler),
	}
	if configure != nil {
		configure(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.node = n
	return f
}

func (f *fixture) register(t *testing.T) {
	t.Helper()
	facts, _ := f.host.Facts(context.Background(), "")
	if err := f.node.register(context.Background(), facts); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) get(t *testing.T) *corev1.Node {
	t.Helper()
	node, err := f.client.CoreV1().Nodes().Get(context.Background(), f.node.Name(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return node
}

// run starts Run and returns a function that stops it and checks its result.
func (f *fixture) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.node.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}
}

// patches counts the status patches among the fake client's actions.
func (f *fixture) patches() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "patch" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func findCondition(t *testing.T, node *corev1.Node, typ corev1.NodeConditionType) corev1.NodeCondition {
	t.Helper()
	for _, c := range node.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("node %s has no %s condition: %+v", node.Name, typ, node.Status.Conditions)
	return corev1.NodeCondition{}
}

func sameTime(a metav1.Time, b time.Time) bool { return a.Time.Equal(b) }

func TestRegisterOnThisHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("LocalHost reads Linux hosts only")
	}
	f := newFixture(t, func(c *Config) { c.Host = nil; c.KubeletPort = 10555 })
	stop := f.run(t)
	defer stop()

	leases := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	var lease *coordinationv1.Lease
	waitFor(t, "the node's lease", func() bool {
		l, err := leases.Get(context.Background(), "n1", metav1.GetOptions{})
		lease = l
		return err == nil
	})
	node := f.get(t)

	for k, want := range map[string]string{
		"kubernetes.io/hostname": "n1", "kubernetes.io/os": runtime.GOOS, "kubernetes.io/arch": runtime.GOARCH,
		"beta.kubernetes.io/os": runtime.GOOS, "beta.kubernetes.io/arch": runtime.GOARCH,
	} {
		if node.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], want)
		}
	}
	s := node.Status
	if cpu := s.Capacity.Cpu(); cpu.MilliValue() != int64(runtime.NumCPU())*1000 {
		t.Errorf("cpu capacity %s, want %d (this process's cpus)", cpu, runtime.NumCPU())
	}
	mem, allocMem := s.Capacity.Memory(), s.Allocatable.Memory()
	if mem.Value() <= MemoryEvictionThreshold || mem.Value()-allocMem.Value() != MemoryEvictionThreshold {
		t.Errorf("memory capacity %s, allocatable %s: want allocatable 100Mi less", mem, allocMem)
	}
	if pods := s.Capacity.Pods(); pods.Value() != DefaultMaxPods {
		t.Errorf("pods capacity %s, want %d", pods, DefaultMaxPods)
	}
	if eph := s.Capacity.StorageEphemeral(); eph.Value() <= 0 {
		t.Errorf("ephemeral-storage capacity %s, want the temp dir's file system", eph)
	}
	if len(s.Addresses) != 2 || s.Addresses[0].Type != corev1.NodeInternalIP || s.Addresses[0].Address == "" ||
		s.Addresses[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: "n1"}) {
		t.Errorf("addresses %+v, want an InternalIP and Hostname n1", s.Addresses)
	}
	info := s.NodeInfo
	if info.BootID == "" || info.KernelVersion == "" || info.OSImage == "" || info.SystemUUID == "" && info.MachineID != "" {
		t.Errorf("node info not filled from the host: %+v", info)
	}
	if info.KubeletVersion != "v1.37.2" || info.ContainerRuntimeVersion != "berth://0.1.0" ||
		info.OperatingSystem != runtime.GOOS || info.Architecture != runtime.GOARCH {
		t.Errorf("node info %+v", info)
	}
	if s.DaemonEndpoints.KubeletEndpoint.Port != 10555 {
		t.Errorf("kubelet port %d, want 10555", s.DaemonEndpoints.KubeletEndpoint.Port)
	}
	if last := s.Conditions[len(s.Conditions)-1]; last.Type != corev1.NodeReady || last.Status != corev1.ConditionTrue ||
		last.Reason != "KubeletReady" || last.Message != "kubelet is posting ready status" || !sameTime(last.LastTransitionTime, t0) {
		t.Errorf("last condition %+v, want Ready", last)
	}
	if len(s.Conditions) != 4 {
		t.Errorf("conditions %+v, want MemoryPressure, DiskPressure, PIDPressure and Ready", s.Conditions)
	}

	if *lease.Spec.HolderIdentity != "n1" || *lease.Spec.LeaseDurationSeconds != 40 || !lease.Spec.RenewTime.Time.Equal(t0) {
		t.Errorf("lease spec %+v", lease.Spec)
	}
	want := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "node-uid"}}
	if fmt.Sprint(lease.OwnerReferences) != fmt.Sprint(want) {
		t.Errorf("lease owners %+v, want %+v", lease.OwnerReferences, want)
	}

	events := f.events.take()
	wantEvents := []string{
		"Starting: Starting kubelet.",
		"NodeHasSufficientMemory: Node n1 status is now: NodeHasSufficientMemory",
		"NodeHasNoDiskPressure: Node n1 status is now: NodeHasNoDiskPressure",
		"NodeHasSufficientPID: Node n1 status is now: NodeHasSufficientPID",
		"NodeReady: Node n1 status is now: NodeReady",
	}
	if strings.Join(events, "\n") != strings.Join(wantEvents, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(wantEvents, "\n"))
	}
}

func TestRegisterUpdatesExistingNode(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Hour))
	existing := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "old-uid", Labels: map[string]string{
			"keep": "me", "kubernetes.io/hostname": "stale",
		}},
		Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{"example.com/gpu": resource.MustParse("2")},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: "10.9.9.9"},
				{Type: corev1.NodeExternalIP, Address: "1.2.3.4"},
				{Type: corev1.NodeHostName, Address: "n1"},
			},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: earlier, LastTransitionTime: earlier},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory", LastHeartbeatTime: earlier, LastTransitionTime: earlier},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated", LastHeartbeatTime: earlier, LastTransitionTime: earlier},
			},
		},
	}
	// Two addresses of a type: a strategic merge on the type alone would mix
	// them up.
	wantAddresses := []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "10.1.2.3"},
		{Type: corev1.NodeInternalIP, Address: "fd00::3"},
		{Type: corev1.NodeHostName, Address: "n1"},
	}
	f := newFixture(t, func(c *Config) {
		c.Labels = map[string]string{"role": "edge"}
		c.Addresses = wantAddresses
	}, existing)
	f.register(t)
	node := f.get(t)

	for k, want := range map[string]string{"keep": "me", "kubernetes.io/hostname": "n1", "role": "edge", "kubernetes.io/os": runtime.GOOS} {
		if node.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], want)
		}
	}
	if !node.Spec.Unschedulable {
		t.Error("registration changed the node's spec")
	}
	if fmt.Sprint(node.Status.Addresses) != fmt.Sprint(wantAddresses) {
		t.Errorf("addresses %+v, want %+v", node.Status.Addresses, wantAddresses)
	}
	if gpu := node.Status.Capacity["example.com/gpu"]; gpu.Value() != 2 {
		t.Errorf("another owner's capacity was dropped: %v", node.Status.Capacity)
	}
	if cpu := node.Status.Capacity.Cpu(); cpu.Value() != 4 {
		t.Errorf("cpu capacity %s, want 4", cpu)
	}
	ready := findCondition(t, node, corev1.NodeReady)
	if !sameTime(ready.LastTransitionTime, earlier.Time) || !sameTime(ready.LastHeartbeatTime, t0) {
		t.Errorf("Ready %+v: want its transition kept and its heartbeat now", ready)
	}
	mem := findCondition(t, node, corev1.NodeMemoryPressure)
	if mem.Status != corev1.ConditionFalse || mem.Reason != "KubeletHasSufficientMemory" ||
		mem.Message != "kubelet has sufficient memory available" || !sameTime(mem.LastTransitionTime, t0) {
		t.Errorf("MemoryPressure %+v: want it False since now", mem)
	}
	if net := findCondition(t, node, corev1.NodeNetworkUnavailable); net.Reason != "RouteCreated" {
		t.Errorf("another owner's condition changed: %+v", net)
	}
	if last := node.Status.Conditions[len(node.Status.Conditions)-1]; last.Type != corev1.NodeReady {
		t.Errorf("conditions %+v: Ready must be last", node.Status.Conditions)
	}
	events := strings.Join(f.events.take(), "\n")
	if !strings.Contains(events, "NodeHasSufficientMemory") || strings.Contains(events, "NodeReady") {
		t.Errorf("events:\n%s\nwant NodeHasSufficientMemory and no NodeReady (it was Ready)", events)
	}
}

func TestLeaseRenewal(t *testing.T) {
	f := newFixture(t, nil)
	stop := f.run(t)
	defer stop()
	leases := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	renewedAt := func(at time.Time) func() bool {
		return func() bool {
			l, err := leases.Get(context.Background(), "n1", metav1.GetOptions{})
			return err == nil && l.Spec.RenewTime.Time.Equal(at)
		}
	}
	waitFor(t, "the lease", renewedAt(t0))

	f.clock.Step(DefaultRenewInterval)
	waitFor(t, "the lease renewed 10s later", renewedAt(t0.Add(DefaultRenewInterval)))

	// A Lease deleted (say, with its Node) is made again.
	if err := leases.Delete(context.Background(), "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.clock.Step(DefaultRenewInterval)
	waitFor(t, "the lease made again", renewedAt(t0.Add(2*DefaultRenewInterval)))
	l, _ := leases.Get(context.Background(), "n1", metav1.GetOptions{})
	if *l.Spec.HolderIdentity != "n1" || *l.Spec.LeaseDurationSeconds != 40 || len(l.OwnerReferences) != 1 {
		t.Errorf("lease made again: %+v %+v", l.ObjectMeta.OwnerReferences, l.Spec)
	}
}

func TestRunRetriesRegistration(t *testing.T) {
	f := newFixture(t, nil)
	failures := 2
	f.client.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, k8sruntime.Object, error) {
		if failures == 0 {
			return false, nil, nil
		}
		failures--
		return true, nil, apierrors.NewServiceUnavailable("starting")
	})
	stop := f.run(t)
	defer stop()
	waitFor(t, "the node registered after failures", func() bool {
		if _, err := f.client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{}); err == nil {
			return true
		}
		if f.clock.HasWaiters() {
			f.clock.Step(7 * time.Second) // past any backoff
		}
		return false
	})
	creates := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" && a.GetResource() == (schema.GroupVersionResource{Version: "v1", Resource: "nodes"}) {
			creates++
		}
	}
	if creates != 3 {
		t.Errorf("%d creates, want 3", creates)
	}
}

func TestPressureConditions(t *testing.T) {
	tests := []struct {
		name     string
		pressure func(*Facts)
		typ      corev1.NodeConditionType
		reason   string
		message  string
		relieved string
	}{
		{"memory", func(f *Facts) { f.MemoryAvailableBytes = 50 << 20 }, corev1.NodeMemoryPressure,
			"KubeletHasInsufficientMemory", "kubelet has insufficient memory available", "KubeletHasSufficientMemory"},
		{"disk space", func(f *Facts) { f.FSAvailableBytes = f.FSBytes/10 - 1 }, corev1.NodeDiskPressure,
			"KubeletHasDiskPressure", "kubelet has disk pressure", "KubeletHasNoDiskPressure"},
		{"disk inodes", func(f *Facts) { f.FSInodesFree = f.FSInodes/20 - 1 }, corev1.NodeDiskPressure,
			"KubeletHasDiskPressure", "kubelet has disk pressure", "KubeletHasNoDiskPressure"},
		{"pids", func(f *Facts) { f.PIDs = f.PIDLimit - f.PIDLimit/10 + 1 }, corev1.NodePIDPressure,
			"KubeletHasInsufficientPID", "kubelet has insufficient PID available", "KubeletHasSufficientPID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.register(t)
			f.events.take()
			ctx := context.Background()

			f.clock.Step(10 * time.Second)
			t1 := f.clock.Now()
			f.host.set(tt.pressure)
			if err := f.node.syncStatus(ctx); err != nil {
				t.Fatal(err)
			}
			node := f.get(t)
			c := findCondition(t, node, tt.typ)
			if c.Status != corev1.ConditionTrue || c.Reason != tt.reason || c.Message != tt.message ||
				!sameTime(c.LastTransitionTime, t1) || !sameTime(c.LastHeartbeatTime, t1) {
				t.Errorf("under pressure: %+v", c)
			}
			for _, other := range node.Status.Conditions {
				if other.Type != tt.typ && (!sameTime(other.LastTransitionTime, t0) || !sameTime(other.LastHeartbeatTime, t1)) {
					t.Errorf("%s moved its transition or missed the heartbeat: %+v", other.Type, other)
				}
			}
			wantEvent := strings.Replace(tt.reason, "Kubelet", "Node", 1)
			if events := f.events.take(); len(events) != 1 || events[0] != wantEvent+": Node n1 status is now: "+wantEvent {
				t.Errorf("events %q, want one %s", events, wantEvent)
			}

			// Still under pressure: the transition stays.
			f.clock.Step(10 * time.Second)
			f.host.set(func(f *Facts) { f.MachineID = "changed" }) // so that it is written
			if err := f.node.syncStatus(ctx); err != nil {
				t.Fatal(err)
			}
			if c := findCondition(t, f.get(t), tt.typ); c.Status != corev1.ConditionTrue || !sameTime(c.LastTransitionTime, t1) {
				t.Errorf("still under pressure: %+v, want the transition at %s", c, t1)
			}

			f.clock.Step(10 * time.Second)
			t3 := f.clock.Now()
			f.host.set(func(f *Facts) { *f = healthyFacts() })
			if err := f.node.syncStatus(ctx); err != nil {
				t.Fatal(err)
			}
			c = findCondition(t, f.get(t), tt.typ)
			if c.Status != corev1.ConditionFalse || c.Reason != tt.relieved || !sameTime(c.LastTransitionTime, t3) {
				t.Errorf("relieved: %+v", c)
			}
			if ready := findCondition(t, f.get(t), corev1.NodeReady); ready.Status != corev1.ConditionTrue || !sameTime(ready.LastTransitionTime, t0) {
				t.Errorf("Ready %+v: pressure must not change it", ready)
			}
		})
	}
}

func TestStatusWrittenWhenChangedOrDue(t *testing.T) {
	f := newFixture(t, nil)
	f.register(t)
	ctx := context.Background()
	sync := func() {
		t.Helper()
		if err := f.node.syncStatus(ctx); err != nil {
			t.Fatal(err)
		}
	}

	for f.clock.Now().Add(DefaultStatusUpdateInterval).Before(t0.Add(DefaultStatusReportInterval)) {
		f.clock.Step(DefaultStatusUpdateInterval)
		sync()
	}
	if n := f.patches(); n != 0 {
		t.Fatalf("%d status patches with nothing changed before the report interval", n)
	}
	if hb := findCondition(t, f.get(t), corev1.NodeReady).LastHeartbeatTime; !sameTime(hb, t0) {
		t.Errorf("heartbeat %s, want it left at %s", hb, t0)
	}

	f.clock.Step(DefaultStatusUpdateInterval) // t0+5m
	sync()
	if n := f.patches(); n != 1 {
		t.Fatalf("%d status patches after the report interval, want 1", n)
	}
	ready := findCondition(t, f.get(t), corev1.NodeReady)
	if !sameTime(ready.LastHeartbeatTime, f.clock.Now()) || !sameTime(ready.LastTransitionTime, t0) {
		t.Errorf("Ready after the report: %+v", ready)
	}

	f.clock.Step(DefaultStatusUpdateInterval)
	sync()
	if n := f.patches(); n != 1 {
		t.Fatalf("%d status patches right after a report, want still 1", n)
	}

	f.host.set(func(f *Facts) { f.MemoryBytes = 16 * gi })
	f.clock.Step(DefaultStatusUpdateInterval)
	sync()
	if n := f.patches(); n != 2 {
		t.Fatalf("%d status patches after the memory changed, want 2", n)
	}
	if mem := f.get(t).Status.Allocatable.Memory(); mem.Value() != 16*gi-100<<20 {
		t.Errorf("allocatable memory %s, want 16Gi-100Mi", mem)
	}
}

func TestStatusLoop(t *testing.T) {
	f := newFixture(t, nil)
	stop := f.run(t)
	defer stop()
	waitFor(t, "the node and its lease", func() bool {
		_, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), "n1", metav1.GetOptions{})
		return err == nil
	})
	f.host.set(func(f *Facts) { f.MemoryAvailableBytes = 1 << 20 })
	waitFor(t, "MemoryPressure reported by the status loop", func() bool {
		if f.clock.HasWaiters() {
			f.clock.Step(DefaultStatusUpdateInterval)
		}
		node, err := f.client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
		return err == nil && findCondition(t, node, corev1.NodeMemoryPressure).Status == corev1.ConditionTrue
	})
}

func TestReadiness(t *testing.T) {
	var mu sync.Mutex
	var notReady error = errors.New("container runtime network not ready")
	f := newFixture(t, func(c *Config) {
		c.Ready = func(context.Context) error { mu.Lock(); defer mu.Unlock(); return notReady }
	})
	f.register(t)
	ready := findCondition(t, f.get(t), corev1.NodeReady)
	if ready.Status != corev1.ConditionFalse || ready.Reason != "KubeletNotReady" || ready.Message != "container runtime network not ready" {
		t.Errorf("Ready %+v, want False with the error", ready)
	}
	if events := strings.Join(f.events.take(), "\n"); !strings.Contains(events, "NodeNotReady: Node n1 status is now: NodeNotReady") {
		t.Errorf("events:\n%s\nwant NodeNotReady", events)
	}

	mu.Lock()
	notReady = nil
	mu.Unlock()
	f.clock.Step(10 * time.Second)
	if err := f.node.syncStatus(context.Background()); err != nil {
		t.Fatal(err)
	}
	ready = findCondition(t, f.get(t), corev1.NodeReady)
	if ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" || !sameTime(ready.LastTransitionTime, f.clock.Now()) {
		t.Errorf("Ready %+v, want True since now", ready)
	}
	if events := f.events.take(); len(events) != 1 || events[0] != "NodeReady: Node n1 status is now: NodeReady" {
		t.Errorf("events %q, want NodeReady", events)
	}
}

func TestImages(t *testing.T) {
	var images []corev1.ContainerImage
	for i := range maxImages + 5 {
		names := []string{fmt.Sprintf("img%d:latest", i)}
		if i == 7 {
			names = []string{"a", "b", "c", "d", "e", "f", "g"}
		}
		images = append(images, corev1.ContainerImage{Names: names, SizeBytes: int64(i)})
	}
	fail := false
	f := newFixture(t, func(c *Config) {
		c.Images = func(context.Context) ([]corev1.ContainerImage, error) {
			if fail {
				return nil, errors.New("store closed")
			}
			return images, nil
		}
	})
	f.register(t)
	got := f.get(t).Status.Images
	if len(got) != maxImages || got[0].SizeBytes != int64(maxImages+4) || got[maxImages-1].SizeBytes != 5 {
		t.Fatalf("images: %d, first %+v: want the %d largest, largest first", len(got), got[0], maxImages)
	}
	for _, img := range got {
		if img.SizeBytes == 7 && len(img.Names) != maxNamesPerImage {
			t.Errorf("image with 7 names reported with %d", len(img.Names))
		}
	}

	fail = true
	f.clock.Step(DefaultStatusReportInterval)
	if err := f.node.syncStatus(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.get(t).Status.Images; len(got) != maxImages {
		t.Errorf("a failed listing dropped the images: %d left", len(got))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	client := fake.NewClientset()
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no client", Config{NodeName: "n1", FSPath: dir}, "client is required"},
		{"bad name", Config{Client: client, NodeName: "Node_1", FSPath: dir}, `node name "Node_1" is invalid`},
		{"no fs path", Config{Client: client, NodeName: "n1"}, "FSPath"},
		{"missing fs path", Config{Client: client, NodeName: "n1", FSPath: dir + "/missing"}, "checking FSPath"},
		{"standard label", Config{Client: client, NodeName: "n1", FSPath: dir, Labels: map[string]string{"kubernetes.io/hostname": "x"}}, "set by the kubelet"},
		{"bad label", Config{Client: client, NodeName: "n1", FSPath: dir, Labels: map[string]string{"a": "not valid!"}}, "label a value"},
		{"empty address", Config{Client: client, NodeName: "n1", FSPath: dir, Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP}}}, "needs a type and an address"},
		{"short lease", Config{Client: client, NodeName: "n1", FSPath: dir, RenewInterval: time.Minute}, "longer than the renew interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}
}
