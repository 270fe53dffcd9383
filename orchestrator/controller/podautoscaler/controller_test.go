package podautoscaler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	fakescale "k8s.io/client-go/scale/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeMetrics answers with usage set by pod name.
type fakeMetrics struct {
	clock *clocktesting.FakeClock
	usage map[string]corev1.ResourceList // pod → one container's usage
}

func (m *fakeMetrics) PodMetrics(_ context.Context, namespace string, _ labels.Selector) ([]metricsv1beta1.PodMetrics, error) {
	var out []metricsv1beta1.PodMetrics
	for name, u := range m.usage {
		out = append(out, metricsv1beta1.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Timestamp:  metav1.NewTime(m.clock.Now()), Window: metav1.Duration{Duration: 15 * time.Second},
			Containers: []metricsv1beta1.ContainerMetrics{{Name: "main", Usage: u}},
		})
	}
	return out, nil
}

// fixture is one autoscaler default/web on Deployment web, whose scale the
// fake scale client keeps in replicas.
type fixture struct {
	t        *testing.T
	ctl      *Controller
	client   *fake.Clientset
	clock    *clocktesting.FakeClock
	metrics  *fakeMetrics
	recorder *record.FakeRecorder
	pods     informers.SharedInformerFactory
	replicas int32
	rescales int
}

var start = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, replicas int32, opts ...Option) *fixture {
	f := &fixture{t: t, clock: clocktesting.NewFakeClock(start), recorder: record.NewFakeRecorder(100), replicas: replicas}
	f.metrics = &fakeMetrics{clock: f.clock, usage: map[string]corev1.ResourceList{}}
	f.client = fake.NewClientset(hpa)
	scales := &fakescale.FakeScaleClient{}
	scales.AddReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, &autoscalingv1.Scale{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec:       autoscalingv1.ScaleSpec{Replicas: f.replicas},
			Status:     autoscalingv1.ScaleStatus{Replicas: f.replicas, Selector: "app=web"},
		}, nil
	})
	scales.AddReactor("update", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		s := a.(clienttesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		f.replicas = s.Spec.Replicas
		f.rescales++
		return true, s, nil
	})
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{appsv1.SchemeGroupVersion})
	mapper.Add(appsv1.SchemeGroupVersion.WithKind("Deployment"), meta.RESTScopeNamespace)
	f.pods = informers.NewSharedInformerFactory(f.client, 0)
	opts = append([]Option{WithClock(f.clock)}, opts...)
	f.ctl = New(f.client, f.pods, f.recorder, f.metrics, scales, mapper, opts...)
	if err := f.pods.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Add(hpa); err != nil {
		t.Fatal(err)
	}
	return f
}

// pod adds a pod of the target, requesting 100m cpu and 100Mi memory, running
// and ready for ten minutes unless phase says otherwise, using usage.
func (f *fixture) pod(name string, phase corev1.PodPhase, usage corev1.ResourceList) {
	since := metav1.NewTime(start.Add(-10 * time.Minute))
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("100Mi")}}}}},
		Status: corev1.PodStatus{Phase: phase, StartTime: &since,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: since}}},
	}
	if phase == corev1.PodPending {
		p.Status.Conditions[0].Status = corev1.ConditionFalse
	}
	if err := f.pods.Core().V1().Pods().Informer().GetIndexer().Add(p); err != nil {
		f.t.Fatal(err)
	}
	if usage != nil {
		f.metrics.usage[name] = usage
	}
}

func cpu(v string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(v)}
}
func mem(v string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(v)}
}

// sync reconciles the autoscaler once and returns the status it last wrote
// (the one it had when it wrote none), and the sync's error.
func (f *fixture) sync() (autoscalingv2.HorizontalPodAutoscalerStatus, error) {
	f.t.Helper()
	err := f.ctl.sync(context.Background(), "default/web")
	hpa, getErr := f.client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(context.Background(), "web", metav1.GetOptions{})
	if getErr != nil {
		f.t.Fatal(getErr)
	}
	// The next sync starts from what was written, as the informer would see it.
	if err := f.pods.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Update(hpa); err != nil {
		f.t.Fatal(err)
	}
	return hpa.Status, err
}

// events drains the events recorded so far.
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

func condition(s autoscalingv2.HorizontalPodAutoscalerStatus, t autoscalingv2.HorizontalPodAutoscalerConditionType) string {
	for _, c := range s.Conditions {
		if c.Type == t {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return ""
}

type hpaOption func(*autoscalingv2.HorizontalPodAutoscaler)

func newHPA(opts ...hpaOption) *autoscalingv2.HorizontalPodAutoscaler {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Generation: 1},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    new(int32(1)),
			MaxReplicas:    10,
		},
	}
	withCPUUtilization(50)(hpa)
	for _, o := range opts {
		o(hpa)
	}
	return hpa
}

func withCPUUtilization(percent int32) hpaOption {
	return func(hpa *autoscalingv2.HorizontalPodAutoscaler) {
		hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(percent)}}}}
	}
}

func withMemoryAverage(v string) hpaOption {
	return func(hpa *autoscalingv2.HorizontalPodAutoscaler) {
		q := resource.MustParse(v)
		hpa.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &q}}}}
	}
}

func withReplicaRange(lo, hi int32) hpaOption {
	return func(hpa *autoscalingv2.HorizontalPodAutoscaler) { hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas = &lo, hi }
}

func withBehavior(b autoscalingv2.HorizontalPodAutoscalerBehavior) hpaOption {
	return func(hpa *autoscalingv2.HorizontalPodAutoscaler) { hpa.Spec.Behavior = &b }
}

func TestReplicaCalculation(t *testing.T) {
	type podSpec struct {
		phase corev1.PodPhase
		usage corev1.ResourceList
	}
	running := func(n int, usage corev1.ResourceList) []podSpec {
		out := make([]podSpec, n)
		for i := range out {
			out[i] = podSpec{corev1.PodRunning, usage}
		}
		return out
	}
	cases := []struct {
		name     string
		hpa      *autoscalingv2.HorizontalPodAutoscaler
		replicas int32
		pods     []podSpec
		want     int32
		event    string // the rescale event, "" for none
		limited  string // the ScalingLimited condition, "" when not set
		active   string // the ScalingActive condition
		wantErr  bool
		// settle runs without a stabilization window and syncs twice, a
		// second apart, so that a scale down is not held back by the
		// recommendation the first sync makes of the current replicas.
		settle bool
	}{{
		name: "3 pods at 90% of request against 50% scale to ceil(3*1.8)=6", hpa: newHPA(), replicas: 3,
		pods: running(3, cpu("90m")), want: 6,
		event:   "Normal SuccessfulRescale New size: 6; reason: cpu resource utilization (percentage of request) above target",
		limited: "False/DesiredWithinRange", active: "True/ValidMetricFound",
	}, {
		name: "54% against 50% is within the 10% tolerance", hpa: newHPA(), replicas: 3,
		pods: running(3, cpu("54m")), want: 3, limited: "False/DesiredWithinRange", active: "True/ValidMetricFound",
	}, {
		name: "56% against 50% is outside it: ceil(3*1.12)=4", hpa: newHPA(), replicas: 3,
		pods: running(3, cpu("56m")), want: 4,
		event: "Normal SuccessfulRescale New size: 4; reason: cpu resource utilization (percentage of request) above target",
	}, {
		name: "capped at maxReplicas", hpa: newHPA(withReplicaRange(1, 5)), replicas: 3,
		pods: running(3, cpu("200m")), want: 5, limited: "True/TooManyReplicas",
		event: "Normal SuccessfulRescale New size: 5; reason: cpu resource utilization (percentage of request) above target",
	}, {
		name: "without behavior, at most max(2*current, 4) at once", hpa: newHPA(withReplicaRange(1, 100)), replicas: 2,
		pods: running(2, cpu("500m")), want: 4, limited: "True/ScaleUpLimit",
		event: "Normal SuccessfulRescale New size: 4; reason: cpu resource utilization (percentage of request) above target",
	}, {
		name: "raised to minReplicas before any metric", hpa: newHPA(withReplicaRange(2, 5)), replicas: 1,
		pods: running(1, cpu("1m")), want: 2,
		event: "Normal SuccessfulRescale New size: 2; reason: Current number of replicas below Spec.MinReplicas",
	}, {
		name: "lowered to maxReplicas", hpa: newHPA(withReplicaRange(1, 5)), replicas: 8,
		pods: running(8, cpu("50m")), want: 5,
		event: "Normal SuccessfulRescale New size: 5; reason: Current number of replicas above Spec.MaxReplicas",
	}, {
		name: "memory average value: 150Mi against 100Mi scales 2 to 3", hpa: newHPA(withMemoryAverage("100Mi")), replicas: 2,
		pods: running(2, mem("150Mi")), want: 3,
		event: "Normal SuccessfulRescale New size: 3; reason: memory resource above target",
	}, {
		name: "pending pods count as idle on the way up, so a busy pod does not shrink the target", hpa: newHPA(), replicas: 4, settle: true,
		pods: append(running(1, cpu("100m")), podSpec{phase: corev1.PodPending}, podSpec{phase: corev1.PodPending}, podSpec{phase: corev1.PodPending}),
		want: 4, active: "True/ValidMetricFound",
	}, {
		name: "a pod without figures counts as using its request on the way down", hpa: newHPA(), replicas: 4, settle: true,
		// Measured: 3 pods at 10% (ratio 0.2 → 1); with the 4th at 100%: 32% → ratio 0.64 → ceil(0.64*4) = 3.
		pods: append(running(3, cpu("10m")), podSpec{phase: corev1.PodRunning}), want: 3,
		event: "Normal SuccessfulRescale New size: 3; reason: All metrics below target",
	}, {
		name: "a pod without figures counts as idle on the way up", hpa: newHPA(), replicas: 4,
		// Measured: 3 pods at 70% (ratio 1.4 → 5); with the 4th at 0: 52% → ratio 1.04, within tolerance.
		pods: append(running(3, cpu("70m")), podSpec{phase: corev1.PodRunning}), want: 4,
	}, {
		name: "a target scaled to zero is left alone", hpa: newHPA(), replicas: 0,
		want: 0, active: "False/ScalingDisabled",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var opts []Option
			if c.settle {
				opts = append(opts, WithDownscaleStabilization(0))
			}
			f := newFixture(t, c.hpa, c.replicas, opts...)
			for i, p := range c.pods {
				f.pod(fmt.Sprintf("web-%d", i), p.phase, p.usage)
			}
			status, err := f.sync()
			if c.settle {
				f.clock.Step(time.Second)
				status, err = f.sync()
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("sync error %v, want error %v", err, c.wantErr)
			}
			if f.replicas != c.want || status.DesiredReplicas != c.want || status.CurrentReplicas != c.replicas {
				t.Errorf("replicas %d, status current %d desired %d; want %d, current %d", f.replicas, status.CurrentReplicas, status.DesiredReplicas, c.want, c.replicas)
			}
			var rescale string
			for _, e := range f.events() {
				if strings.Contains(e, "Rescale") {
					rescale = e
				}
			}
			if rescale != c.event {
				t.Errorf("rescale event %q, want %q", rescale, c.event)
			}
			if (status.LastScaleTime != nil) != (c.event != "") {
				t.Errorf("last scale time %v after rescale event %q", status.LastScaleTime, rescale)
			}
			if c.limited != "" && condition(status, autoscalingv2.ScalingLimited) != c.limited {
				t.Errorf("ScalingLimited %s, want %s", condition(status, autoscalingv2.ScalingLimited), c.limited)
			}
			if c.active != "" && condition(status, autoscalingv2.ScalingActive) != c.active {
				t.Errorf("ScalingActive %s, want %s", condition(status, autoscalingv2.ScalingActive), c.active)
			}
		})
	}
}

func TestStatusReportsUtilization(t *testing.T) {
	f := newFixture(t, newHPA(), 3)
	for i := 0; i < 3; i++ {
		f.pod(fmt.Sprintf("web-%d", i), corev1.PodRunning, cpu("90m"))
	}
	status, err := f.sync()
	if err != nil {
		t.Fatal(err)
	}
	if len(status.CurrentMetrics) != 1 {
		t.Fatalf("current metrics %+v", status.CurrentMetrics)
	}
	got := status.CurrentMetrics[0].Resource
	if got.Name != corev1.ResourceCPU || *got.Current.AverageUtilization != 90 || got.Current.AverageValue.String() != "90m" {
		t.Errorf("cpu status %s: %d%%, %s; want 90%%, 90m", got.Name, *got.Current.AverageUtilization, got.Current.AverageValue)
	}
	if !status.LastScaleTime.Time.Equal(start) || condition(status, autoscalingv2.AbleToScale) != "True/SucceededRescale" {
		t.Errorf("last scale time %v, AbleToScale %s", status.LastScaleTime, condition(status, autoscalingv2.AbleToScale))
	}
}

func TestMissingRequestStopsScaling(t *testing.T) {
	f := newFixture(t, newHPA(), 2)
	f.pod("web-0", corev1.PodRunning, cpu("90m"))
	f.pod("web-1", corev1.PodRunning, cpu("90m"))
	p, _ := f.pods.Core().V1().Pods().Lister().Pods("default").Get("web-1")
	p.Spec.Containers[0].Resources.Requests = nil
	status, err := f.sync()
	if err == nil || f.rescales != 0 {
		t.Fatalf("sync with a pod that requests no cpu: error %v, %d rescales; want an error and none", err, f.rescales)
	}
	if got := condition(status, autoscalingv2.ScalingActive); got != "False/FailedGetResourceMetric" {
		t.Errorf("ScalingActive %s, want False/FailedGetResourceMetric", got)
	}
	if events := strings.Join(f.events(), "\n"); !strings.Contains(events, "missing request for cpu in container main of Pod web-1") {
		t.Errorf("events do not say which request is missing:\n%s", events)
	}
}

func TestScaleDownStabilization(t *testing.T) {
	f := newFixture(t, newHPA(), 4, WithDownscaleStabilization(time.Minute))
	for i := 0; i < 4; i++ {
		f.pod(fmt.Sprintf("web-%d", i), corev1.PodRunning, cpu("50m"))
	}
	if _, err := f.sync(); err != nil || f.replicas != 4 {
		t.Fatalf("at target: %v, %d replicas", err, f.replicas)
	}

	// Usage drops: 10% wants 1 replica, but 4 was recommended within the window.
	for name := range f.metrics.usage {
		f.metrics.usage[name] = cpu("10m")
	}
	f.clock.Step(30 * time.Second)
	status, err := f.sync()
	if err != nil || f.replicas != 4 || condition(status, autoscalingv2.AbleToScale) != "True/ScaleDownStabilized" {
		t.Fatalf("inside the window: %v, %d replicas, AbleToScale %s; want 4, ScaleDownStabilized", err, f.replicas, condition(status, autoscalingv2.AbleToScale))
	}

	// Once the window has passed the recommendations of 4, it scales down.
	f.clock.Step(31 * time.Second)
	if _, err := f.sync(); err != nil || f.replicas != 1 {
		t.Fatalf("after the window: %v, %d replicas; want 1", err, f.replicas)
	}
	if events := strings.Join(f.events(), "\n"); !strings.Contains(events, "New size: 1; reason: All metrics below target") {
		t.Errorf("events: %s", events)
	}
}

func TestBehaviorPolicies(t *testing.T) {
	t.Run("scale down by at most one pod a minute", func(t *testing.T) {
		down := autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
			StabilizationWindowSeconds: new(int32(0)),
			Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}},
		}}
		f := newFixture(t, newHPA(withBehavior(down)), 4)
		for i := 0; i < 4; i++ {
			f.pod(fmt.Sprintf("web-%d", i), corev1.PodRunning, cpu("5m"))
		}
		status, err := f.sync()
		if err != nil || f.replicas != 3 || condition(status, autoscalingv2.ScalingLimited) != "True/ScaleDownLimit" {
			t.Fatalf("first: %v, %d replicas, ScalingLimited %s; want 3, ScaleDownLimit", err, f.replicas, condition(status, autoscalingv2.ScalingLimited))
		}
		f.clock.Step(30 * time.Second)
		if _, err := f.sync(); err != nil || f.replicas != 3 {
			t.Fatalf("within the minute: %v, %d replicas; want still 3", err, f.replicas)
		}
		f.clock.Step(31 * time.Second)
		if _, err := f.sync(); err != nil || f.replicas != 2 {
			t.Fatalf("a minute later: %v, %d replicas; want 2", err, f.replicas)
		}
	})
	t.Run("default scale-up policies: 4 pods or 100% per 15s, whichever is more", func(t *testing.T) {
		f := newFixture(t, newHPA(withReplicaRange(1, 100), withBehavior(autoscalingv2.HorizontalPodAutoscalerBehavior{})), 2)
		for i := 0; i < 2; i++ {
			f.pod(fmt.Sprintf("web-%d", i), corev1.PodRunning, cpu("500m"))
		}
		status, err := f.sync()
		if err != nil || f.replicas != 6 || condition(status, autoscalingv2.ScalingLimited) != "True/ScaleUpLimit" {
			t.Fatalf("%v, %d replicas, ScalingLimited %s; want 6 (2+4), ScaleUpLimit", err, f.replicas, condition(status, autoscalingv2.ScalingLimited))
		}
		// Within the same 15s, the period started at 2: still at most 6.
		f.clock.Step(5 * time.Second)
		if _, err := f.sync(); err != nil || f.replicas != 6 {
			t.Fatalf("within the period: %v, %d replicas; want 6", err, f.replicas)
		}
		f.clock.Step(11 * time.Second)
		if _, err := f.sync(); err != nil || f.replicas != 12 {
			t.Fatalf("next period: %v, %d replicas; want 12 (100%% of 6)", err, f.replicas)
		}
	})
	t.Run("per-direction tolerance", func(t *testing.T) {
		half := resource.MustParse("0.5")
		f := newFixture(t, newHPA(withBehavior(autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Tolerance: &half}})), 3)
		for i := 0; i < 3; i++ {
			f.pod(fmt.Sprintf("web-%d", i), corev1.PodRunning, cpu("70m"))
		}
		if _, err := f.sync(); err != nil || f.replicas != 3 {
			t.Fatalf("70%% against 50%% with a 50%% scale-up tolerance: %v, %d replicas; want 3", err, f.replicas)
		}
	})
}

func TestDeletedAutoscalerIsForgotten(t *testing.T) {
	f := newFixture(t, newHPA(), 3)
	f.pod("web-0", corev1.PodRunning, cpu("50m"))
	if _, err := f.sync(); err != nil {
		t.Fatal(err)
	}
	hpa, _ := f.pods.Autoscaling().V2().HorizontalPodAutoscalers().Lister().HorizontalPodAutoscalers("default").Get("web")
	if err := f.pods.Autoscaling().V2().HorizontalPodAutoscalers().Informer().GetIndexer().Delete(hpa); err != nil {
		t.Fatal(err)
	}
	if err := f.ctl.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.ctl.history["default/web"]; ok {
		t.Error("a deleted autoscaler's history is kept")
	}
}

func TestUnknownTargetKind(t *testing.T) {
	f := newFixture(t, newHPA(func(hpa *autoscalingv2.HorizontalPodAutoscaler) {
		hpa.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "web"}
	}), 3)
	status, err := f.sync()
	if err == nil || f.rescales != 0 {
		t.Fatalf("a target of unknown kind: error %v, %d rescales; want an error and none", err, f.rescales)
	}
	if got := condition(status, autoscalingv2.AbleToScale); got != "False/FailedGetScale" {
		t.Errorf("AbleToScale %s, want False/FailedGetScale", got)
	}
}
