package metrics

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	clocktesting "k8s.io/utils/clock/testing"
)

func nodeUsage(name, cpu string, at time.Time) metricsv1beta1.NodeMetrics {
	return metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Timestamp:  metav1.NewTime(at),
		Window:     metav1.Duration{Duration: 10 * time.Second},
		Usage:      corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)},
	}
}

func podUsage(namespace, name, cpu string, at time.Time) metricsv1beta1.PodMetrics {
	return metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Timestamp:  metav1.NewTime(at),
		Window:     metav1.Duration{Duration: 10 * time.Second},
		Containers: []metricsv1beta1.ContainerMetrics{{Name: "c", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}},
	}
}

func cpuOf(p metricsv1beta1.PodMetrics) string { return p.Containers[0].Usage.Cpu().String() }

func TestStoreServesTheLatestReport(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(now)
	s, err := NewStore(WithClock(clock), WithMaxAge(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}

	s.Report(nodeUsage("n1", "500m", now), []metricsv1beta1.PodMetrics{
		podUsage("default", "a", "100m", now),
		podUsage("default", "b", "200m", now),
	})
	s.Report(nodeUsage("n2", "1", now), []metricsv1beta1.PodMetrics{podUsage("other", "a", "300m", now)})

	if n, ok := s.Node("n1"); !ok || n.Usage.Cpu().String() != "500m" {
		t.Fatalf("node n1 = %v, %v; want 500m", n.Usage, ok)
	}
	if p, ok := s.Pod("default", "a"); !ok || cpuOf(p) != "100m" {
		t.Fatalf("pod default/a = %v, %v; want 100m", p, ok)
	}
	if p, ok := s.Pod("other", "a"); !ok || cpuOf(p) != "300m" {
		t.Fatalf("pod other/a: namespaces mixed up: %v, %v", p, ok)
	}
	if _, ok := s.Node("n3"); ok {
		t.Fatal("a node that never reported has usage")
	}

	// The next report of n1 no longer has b: b is gone, a is updated, n2 untouched.
	later := now.Add(10 * time.Second)
	clock.SetTime(later)
	s.Report(nodeUsage("n1", "400m", later), []metricsv1beta1.PodMetrics{podUsage("default", "a", "150m", later)})
	if _, ok := s.Pod("default", "b"); ok {
		t.Fatal("a pod its node stopped reporting is still served")
	}
	if p, _ := s.Pod("default", "a"); cpuOf(p) != "150m" {
		t.Fatalf("pod default/a = %s after the second report, want 150m", cpuOf(p))
	}

	// A pod recreated on another node is served from there, and the old node's
	// next report, without it, does not take it away.
	s.Report(nodeUsage("n2", "1", later), []metricsv1beta1.PodMetrics{podUsage("other", "a", "300m", later), podUsage("default", "a", "50m", later)})
	s.Report(nodeUsage("n1", "400m", later), nil)
	if p, ok := s.Pod("default", "a"); !ok || cpuOf(p) != "50m" {
		t.Fatalf("pod default/a moved to n2 = %v, %v; want 50m", p, ok)
	}

	// Reports older than the max age are not served: n1 reported last at +10s.
	clock.SetTime(later.Add(31 * time.Second))
	if _, ok := s.Node("n1"); ok {
		t.Fatal("a report older than the max age is served")
	}
	if _, ok := s.Pod("other", "a"); ok {
		t.Fatal("a pod report older than the max age is served")
	}
}

func TestStoreKeepsCopies(t *testing.T) {
	now := time.Now()
	s, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	pods := []metricsv1beta1.PodMetrics{podUsage("default", "a", "100m", now)}
	s.Report(nodeUsage("n1", "1", now), pods)
	pods[0].Containers[0].Usage[corev1.ResourceCPU] = resource.MustParse("9")
	got, _ := s.Pod("default", "a")
	if cpuOf(got) != "100m" {
		t.Fatalf("the caller's slice changed the stored report: %s", cpuOf(got))
	}
	got.Containers[0].Usage[corev1.ResourceCPU] = resource.MustParse("9")
	if again, _ := s.Pod("default", "a"); cpuOf(again) != "100m" {
		t.Fatalf("a reader changed the stored report: %s", cpuOf(again))
	}
}

func TestWithMaxAgeRefusesNonPositive(t *testing.T) {
	if _, err := NewStore(WithMaxAge(0)); err == nil {
		t.Fatal("a max age of 0 was accepted")
	}
}
