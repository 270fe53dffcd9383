package hollow

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// recordingSink keeps the last report of each node.
type recordingSink struct {
	nodes map[string]metricsv1beta1.NodeMetrics
	pods  map[string][]metricsv1beta1.PodMetrics
}

func (s *recordingSink) Report(node metricsv1beta1.NodeMetrics, pods []metricsv1beta1.PodMetrics) {
	s.nodes[node.Name] = node
	s.pods[node.Name] = pods
}

func usagePod(name, node string, phase corev1.PodPhase, annotations map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

func containerUsage(c metricsv1beta1.ContainerMetrics) string {
	return c.Name + "=" + c.Usage.Cpu().String() + "/" + c.Usage.Memory().String()
}

func TestReportOnce(t *testing.T) {
	sink := &recordingSink{nodes: map[string]metricsv1beta1.NodeMetrics{}, pods: map[string][]metricsv1beta1.PodMetrics{}}
	n, err := New(Config{Client: api.Client, Count: 3, Prefix: "r-", Usage: sink, UsageInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n.stopped["r-2"] = true
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	for _, p := range []*corev1.Pod{
		usagePod("busy", "r-0", corev1.PodRunning, map[string]string{AnnotationCPUUsage: "1", AnnotationMemoryUsage: "64Mi"}, "a", "b", "c"),
		usagePod("idle", "r-0", corev1.PodRunning, nil, "main"),
		usagePod("typo", "r-1", corev1.PodRunning, map[string]string{AnnotationCPUUsage: "lots"}, "main"),
		usagePod("pending", "r-1", corev1.PodPending, nil, "main"),
		usagePod("done", "r-1", corev1.PodSucceeded, nil, "main"),
		usagePod("elsewhere", "other-0", corev1.PodRunning, nil, "main"),
		usagePod("on-dead-node", "r-2", corev1.PodRunning, nil, "main"),
	} {
		indexer.Add(p)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n.reportOnce(corelisters.NewPodLister(indexer), now)

	if _, ok := sink.nodes["r-2"]; ok {
		t.Error("a node told to stop heart-beating reported usage")
	}
	var got []string
	for _, node := range []string{"r-0", "r-1"} {
		for _, p := range sink.pods[node] {
			var cs []string
			for _, c := range p.Containers {
				cs = append(cs, containerUsage(c))
			}
			got = append(got, node+":"+p.Name+"["+strings.Join(cs, " ")+"]")
			if !p.Timestamp.Time.Equal(now) || p.Window.Duration != 5*time.Second {
				t.Errorf("pod %s stamped %s over %s, want %s over 5s", p.Name, p.Timestamp, p.Window, now)
			}
		}
	}
	sort.Strings(got) // the lister lists in no particular order
	// 1 cpu and 64Mi over three containers: 334m+333m+333m, 22369622+22369621+22369621 bytes.
	want := "r-0:busy[a=334m/22369622 b=333m/22369621 c=333m/22369621] r-0:idle[main=1m/4Mi] r-1:typo[main=1m/4Mi]"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("pod usage:\n got %s\nwant %s", g, want)
	}
	// Nodes: 100m and 512Mi of their own plus their pods'.
	if u := sink.nodes["r-0"].Usage; u.Cpu().String() != "1101m" || u.Memory().String() != "580Mi" {
		t.Errorf("node r-0 usage %s/%s, want 1101m/580Mi", u.Cpu(), u.Memory())
	}
	if u := sink.nodes["r-1"].Usage; u.Cpu().String() != "101m" || u.Memory().String() != "516Mi" {
		t.Errorf("node r-1 usage %s/%s, want 101m/516Mi", u.Cpu(), u.Memory())
	}
}

// TestUsageThroughTheMetricsAPI runs hollow nodes reporting into the test
// server's store and reads the usage back as kubectl top does.
func TestUsageThroughTheMetricsAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := api.Client
	nodes, err := New(Config{Client: client, Count: 1, Prefix: "u-", StartDelay: 50 * time.Millisecond,
		RenewInterval: time.Second, Usage: api.Metrics, UsageInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go nodes.Run(ctx)
	pod := usagePod("hungry", "u-0", "", map[string]string{AnnotationCPUUsage: "300m"}, "a", "b")
	pod.Namespace = "kube-public"
	pod.Spec.Containers[0].Image, pod.Spec.Containers[1].Image = "busybox", "busybox"
	if _, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := metricsclient.NewForConfig(api.Config)
	if err != nil {
		t.Fatal(err)
	}
	podCPU := func() string {
		pm, err := m.MetricsV1beta1().PodMetricses(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || len(pm.Containers) != 2 {
			return ""
		}
		return pm.Containers[0].Usage.Cpu().String() + "+" + pm.Containers[1].Usage.Cpu().String()
	}
	waitFor(t, "hungry reported using 150m+150m", func() bool { return podCPU() == "150m+150m" })
	node, err := m.MetricsV1beta1().NodeMetricses().Get(ctx, "u-0", metav1.GetOptions{})
	if err != nil || node.Usage.Cpu().String() != "400m" {
		t.Fatalf("node u-0 metrics %v, %v; want 400m (100m system + 300m)", node, err)
	}

	// Usage follows the annotation.
	current, err := client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	current.Annotations[AnnotationCPUUsage] = "1"
	if _, err := client.CoreV1().Pods(pod.Namespace).Update(ctx, current, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hungry reported using 500m+500m", func() bool { return podCPU() == "500m+500m" })
}
