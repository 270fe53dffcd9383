package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
)

// app is a container's HTTP endpoint whose answer the test sets.
type app struct {
	code atomic.Int32
	hits atomic.Int32
	srv  *httptest.Server
	port int
}

func newApp(t *testing.T) *app {
	a := &app{}
	a.code.Store(200)
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		a.hits.Add(1)
		w.WriteHeader(int(a.code.Load()))
	}))
	t.Cleanup(a.srv.Close)
	_, a.port = hostPort(t, a.srv.URL)
	return a
}

type fakeStatus struct {
	mu     sync.Mutex
	status corev1.PodStatus
}

func (f *fakeStatus) PodStatus(types.UID) (corev1.PodStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.status.DeepCopy(), true
}

func (f *fakeStatus) setContainer(id string, startedAt time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: "127.0.0.1",
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "c", ContainerID: id,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}},
		}},
	}
}

type fakeRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *fakeRecorder) ContainerEventf(_ *corev1.Pod, container, kind, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s %s %s", container, kind, reason, fmt.Sprintf(format, args...)))
}

func (r *fakeRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

type fixture struct {
	clock  *clocktesting.FakeClock
	status *fakeStatus
	rec    *fakeRecorder
	m      *Manager
	app    *app
	pod    *corev1.Pod
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{
		clock:  clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		status: &fakeStatus{},
		rec:    &fakeRecorder{},
		app:    newApp(t),
	}
	f.m = NewManager(Config{Prober: NewProber(nil, "kube-probe/1.37"), Status: f.status, Recorder: f.rec, Clock: f.clock})
	f.status.setContainer("cid-1", f.clock.Now())
	f.pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid-1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
	}
	return f
}

func (f *fixture) httpProbe(delay, success, failure int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt(f.app.port)}},
		InitialDelaySeconds: delay, PeriodSeconds: 10, TimeoutSeconds: 1,
		SuccessThreshold: success, FailureThreshold: failure,
	}
}

// worker returns a worker registered with the manager but not running: the
// test drives doProbe.
func (f *fixture) worker(kind Kind, spec *corev1.Probe) *worker {
	w := &worker{m: f.m, uid: f.pod.UID, container: f.pod.Spec.Containers[0], kind: kind, spec: spec,
		stop: make(chan struct{}), trigger: make(chan struct{}, 1)}
	w.pod.Store(f.pod)
	f.m.mu.Lock()
	f.m.workers[workerKey{f.pod.UID, "c", kind}] = w
	f.m.mu.Unlock()
	return w
}

func (f *fixture) drain() []Update {
	var out []Update
	for {
		select {
		case u := <-f.m.Updates():
			out = append(out, u)
		default:
			return out
		}
	}
}

type step struct {
	advance time.Duration
	code    int32
	want    Result
	hits    int32 // probes sent so far
}

func runSteps(t *testing.T, f *fixture, w *worker, steps []step) {
	t.Helper()
	for i, st := range steps {
		f.clock.Step(st.advance)
		f.app.code.Store(st.code)
		if !w.doProbe(context.Background()) {
			t.Fatalf("step %d: worker stopped", i)
		}
		got, _ := f.m.Result(w.containerID, w.kind)
		if got != st.want || f.app.hits.Load() != st.hits {
			t.Fatalf("step %d: result %v after %d probes, want %v after %d", i, got, f.app.hits.Load(), st.want, st.hits)
		}
	}
}

func TestWorkerThresholds(t *testing.T) {
	const failed = "c Warning Unhealthy %s probe failed: HTTP probe failed with statuscode: 500"
	tests := []struct {
		name        string
		kind        Kind
		probe       func(f *fixture) *corev1.Probe
		steps       []step
		wantEvents  []string
		wantUpdates []Result
	}{
		{
			name:  "readiness waits out the initial delay, then needs 2 successes and 3 failures",
			kind:  Readiness,
			probe: func(f *fixture) *corev1.Probe { return f.httpProbe(5, 2, 3) },
			steps: []step{
				{code: 200, want: Failure, hits: 0},
				{advance: 4 * time.Second, code: 200, want: Failure, hits: 0},
				{advance: time.Second, code: 200, want: Failure, hits: 1},
				{advance: 10 * time.Second, code: 200, want: Success, hits: 2},
				{advance: 10 * time.Second, code: 500, want: Success, hits: 3},
				{advance: 10 * time.Second, code: 500, want: Success, hits: 4},
				{advance: 10 * time.Second, code: 200, want: Success, hits: 5},
				{advance: 10 * time.Second, code: 500, want: Success, hits: 6},
				{advance: 10 * time.Second, code: 500, want: Success, hits: 7},
				{advance: 10 * time.Second, code: 500, want: Failure, hits: 8},
			},
			wantEvents:  []string{fmt.Sprintf(failed, "Readiness"), fmt.Sprintf(failed, "Readiness"), fmt.Sprintf(failed, "Readiness"), fmt.Sprintf(failed, "Readiness"), fmt.Sprintf(failed, "Readiness")},
			wantUpdates: []Result{Failure, Success, Failure},
		},
		{
			name:  "liveness fails after 2 failures and then holds",
			kind:  Liveness,
			probe: func(f *fixture) *corev1.Probe { return f.httpProbe(0, 1, 2) },
			steps: []step{
				{code: 200, want: Success, hits: 1},
				{advance: 10 * time.Second, code: 500, want: Success, hits: 2},
				{advance: 10 * time.Second, code: 500, want: Failure, hits: 3},
				{advance: 10 * time.Second, code: 500, want: Failure, hits: 3},
				{advance: 10 * time.Second, code: 200, want: Failure, hits: 3},
			},
			wantEvents:  []string{fmt.Sprintf(failed, "Liveness"), fmt.Sprintf(failed, "Liveness")},
			wantUpdates: []Result{Success, Failure},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			w := f.worker(tc.kind, tc.probe(f))
			runSteps(t, f, w, tc.steps)
			if diff := cmp.Diff(tc.wantEvents, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			var got []Result
			for _, u := range f.drain() {
				if u.Kind != tc.kind || u.ContainerID != "cid-1" || u.Container != "c" || u.PodUID != "uid-1" {
					t.Errorf("update %+v", u)
				}
				got = append(got, u.Result)
			}
			if diff := cmp.Diff(tc.wantUpdates, got); diff != "" {
				t.Errorf("updates (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLivenessResumesOnNewContainer(t *testing.T) {
	f := newFixture(t)
	w := f.worker(Liveness, f.httpProbe(0, 1, 1))
	runSteps(t, f, w, []step{{code: 500, want: Failure, hits: 1}, {advance: 10 * time.Second, code: 200, want: Failure, hits: 1}})
	f.status.setContainer("cid-2", f.clock.Now())
	runSteps(t, f, w, []step{{advance: 10 * time.Second, code: 200, want: Success, hits: 2}})
	if _, ok := f.m.Result("cid-1", Liveness); ok {
		t.Errorf("the old container's result is kept")
	}
}

func TestStartupGatesLivenessAndReadiness(t *testing.T) {
	f := newFixture(t)
	startup := f.worker(Startup, f.httpProbe(0, 1, 30))
	live := f.worker(Liveness, f.httpProbe(0, 1, 1))
	ready := f.worker(Readiness, f.httpProbe(0, 1, 1))
	flags := func() (started, isReady bool) {
		st, _ := f.status.PodStatus(f.pod.UID)
		f.m.UpdatePodStatus(f.pod, &st)
		c := st.ContainerStatuses[0]
		return *c.Started, c.Ready
	}

	f.app.code.Store(500)
	for _, w := range []*worker{live, ready, startup} {
		w.doProbe(context.Background())
	}
	if hits := f.app.hits.Load(); hits != 1 {
		t.Fatalf("%d probes before the container started, want just the startup probe", hits)
	}
	if started, isReady := flags(); started || isReady {
		t.Fatalf("started %v ready %v before the startup probe passed", started, isReady)
	}
	if got := f.rec.take(); !cmp.Equal(got, []string{"c Warning Unhealthy Startup probe failed: HTTP probe failed with statuscode: 500"}) {
		t.Errorf("events = %q", got)
	}

	f.app.code.Store(200)
	f.clock.Step(10 * time.Second)
	startup.doProbe(context.Background())
	if started, isReady := flags(); !started || isReady {
		t.Fatalf("started %v ready %v after the startup probe passed, before readiness", started, isReady)
	}
	// UpdatePodStatus asked the readiness worker to probe at once.
	select {
	case <-ready.trigger:
	default:
		t.Errorf("readiness probe not triggered")
	}
	for _, w := range []*worker{live, ready, startup} {
		w.doProbe(context.Background())
	}
	if hits := f.app.hits.Load(); hits != 4 {
		t.Errorf("%d probes, want 4: the startup probe stops once it passed", hits)
	}
	if started, isReady := flags(); !started || !isReady {
		t.Errorf("started %v ready %v, want both", started, isReady)
	}
}

func TestNoProbesMeansStartedAndReady(t *testing.T) {
	f := newFixture(t)
	st, _ := f.status.PodStatus(f.pod.UID)
	f.m.UpdatePodStatus(f.pod, &st)
	if c := st.ContainerStatuses[0]; !*c.Started || !c.Ready {
		t.Errorf("started %v ready %v", *c.Started, c.Ready)
	}
}

func TestManagerRunsWorkers(t *testing.T) {
	f := newFixture(t)
	f.pod.Spec.Containers[0].LivenessProbe = f.httpProbe(0, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.m.AddPod(ctx, f.pod)
	f.m.AddPod(ctx, f.pod) // no second worker

	next := func() Update {
		t.Helper()
		select {
		case u := <-f.m.Updates():
			return u
		case <-time.After(10 * time.Second):
			t.Fatal("no update")
		}
		return Update{}
	}
	if u := next(); u.Kind != Liveness || u.Result != Success {
		t.Fatalf("first update %+v", u)
	}
	// The first probe (after the initial result) passes without an update.
	for f.app.hits.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	f.app.code.Store(500)
	// Wait for the worker's ticker, then tick.
	for !f.clock.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	f.clock.Step(10 * time.Second)
	if u := next(); u.Kind != Liveness || u.Result != Failure {
		t.Fatalf("update after failure %+v", u)
	}
	f.m.RemovePod(f.pod.UID)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := f.m.Result("cid-1", Liveness); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker still holds its result after RemovePod")
		}
		time.Sleep(time.Millisecond)
	}
	if got := f.app.hits.Load(); got != 2 {
		t.Errorf("%d probes, want 2", got)
	}
}

func TestWorkerEvents(t *testing.T) {
	tests := []struct {
		name       string
		code       int32
		port       func(f *fixture) intstr.IntOrString
		want       Result
		wantEvents []string
	}{
		{
			name: "an unfollowed redirect is a success with a warning",
			code: http.StatusFound,
			port: func(f *fixture) intstr.IntOrString { return intstr.FromInt(f.app.port) },
			want: Success,
			wantEvents: []string{
				"c Warning ProbeWarning Readiness probe warning: Probe terminated redirects, Response body: ",
			},
		},
		{
			name: "a probe that cannot run changes nothing",
			code: http.StatusOK,
			port: func(*fixture) intstr.IntOrString { return intstr.FromString("nope") },
			want: Failure, // still the initial readiness
			wantEvents: []string{
				"c Warning Unhealthy Readiness probe errored: port nope not found",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			spec := f.httpProbe(0, 1, 1)
			spec.HTTPGet.Port = tc.port(f)
			w := f.worker(Readiness, spec)
			f.app.code.Store(tc.code)
			w.doProbe(context.Background())
			if got, _ := f.m.Result("cid-1", Readiness); got != tc.want {
				t.Errorf("result = %v, want %v", got, tc.want)
			}
			if diff := cmp.Diff(tc.wantEvents, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSidecarsAndInitContainers(t *testing.T) {
	f := newFixture(t)
	always := corev1.ContainerRestartPolicyAlways
	side := corev1.Container{Name: "side", RestartPolicy: &always, ReadinessProbe: f.httpProbe(0, 1, 1)}
	f.pod.Spec.InitContainers = []corev1.Container{{Name: "setup"}, {Name: "broken"}, side}
	f.status.mu.Lock()
	f.status.status.InitContainerStatuses = []corev1.ContainerStatus{
		{Name: "setup", ContainerID: "cid-setup", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
		{Name: "broken", ContainerID: "cid-broken", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
		{Name: "side", ContainerID: "cid-side", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(f.clock.Now())}}},
	}
	f.status.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.m.AddPod(ctx, f.pod)
	defer f.m.RemovePod(f.pod.UID)

	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, _ := f.m.Result("cid-side", Readiness); r == Success {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sidecar's readiness probe did not pass")
		}
		time.Sleep(time.Millisecond)
	}
	st, _ := f.status.PodStatus(f.pod.UID)
	f.m.UpdatePodStatus(f.pod, &st)
	got := map[string]bool{}
	for _, c := range st.InitContainerStatuses {
		got[c.Name] = c.Ready
	}
	if want := map[string]bool{"setup": true, "broken": false, "side": true}; !cmp.Equal(got, want) {
		t.Errorf("init containers ready = %v, want %v", got, want)
	}
}

func TestDeletionStopsLiveness(t *testing.T) {
	f := newFixture(t)
	spec := f.httpProbe(0, 1, 1)
	f.pod.Spec.Containers[0].LivenessProbe = spec
	w := f.worker(Liveness, spec)
	f.app.code.Store(500)
	deleting := f.pod.DeepCopy()
	now := metav1.NewTime(f.clock.Now())
	deleting.DeletionTimestamp = &now
	f.m.AddPod(context.Background(), deleting) // reaches the existing worker
	if w.doProbe(context.Background()) {
		t.Error("the liveness worker of a pod being deleted goes on")
	}
	if r, _ := f.m.Result("cid-1", Liveness); r != Success || f.app.hits.Load() != 0 {
		t.Errorf("result %v after %d probes, want success without probing", r, f.app.hits.Load())
	}
}

// TestWorkerUsesManagerDial gives the pod an IP nothing answers on and a
// Config.Dial that reaches the app: the probe passes only through the dial,
// which is told the pod.
func TestWorkerUsesManagerDial(t *testing.T) {
	f := newFixture(t)
	var (
		mu    sync.Mutex
		asked []string
	)
	f.m = NewManager(Config{
		Prober: NewProber(nil, "kube-probe/1.37"), Status: f.status, Recorder: f.rec, Clock: f.clock,
		Dial: func(ctx context.Context, pod *corev1.Pod, network, address string) (net.Conn, error) {
			mu.Lock()
			asked = append(asked, pod.Name+" "+network+" "+address)
			mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, f.app.srv.Listener.Addr().String())
		},
	})
	f.status.mu.Lock()
	f.status.status.PodIP = "192.0.2.1"
	f.status.mu.Unlock()
	w := f.worker(Liveness, f.httpProbe(0, 1, 1))
	runSteps(t, f, w, []step{{code: 200, want: Success, hits: 1}})
	mu.Lock()
	defer mu.Unlock()
	want := []string{"p tcp 192.0.2.1:" + strconv.Itoa(f.app.port)}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("dials (-want +got):\n%s", diff)
	}
}
