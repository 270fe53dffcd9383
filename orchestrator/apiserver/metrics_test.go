package apiserver_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

func usage(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
}

func podMetrics(namespace, name string, at time.Time, containers ...metricsv1beta1.ContainerMetrics) metricsv1beta1.PodMetrics {
	return metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Timestamp:  metav1.NewTime(at), Window: metav1.Duration{Duration: 10 * time.Second},
		Containers: containers,
	}
}

// TestResourceMetricsAPI reads the usage reported into the server's store through
// metrics.k8s.io with the upstream clientset, as kubectl top and autoscalers do.
func TestResourceMetricsAPI(t *testing.T) {
	ctx := context.Background()
	s := apiservertest.Start(t)
	client := s.Client

	groups, err := client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		found = found || g.Name == "metrics.k8s.io" && g.PreferredVersion.Version == "v1beta1"
	}
	if !found {
		t.Fatal("discovery does not list metrics.k8s.io/v1beta1: kubectl top would say the metrics API is not available")
	}

	for _, name := range []string{"n1", "n2", "silent"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pool": map[bool]string{true: "a", false: "b"}[name == "n1"]}}}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ ns, name, app string }{{"default", "web-1", "web"}, {"default", "web-2", "web"}, {"default", "db", "db"}, {"kube-system", "dns", "dns"}} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: p.ns, Name: p.name, Labels: map[string]string{"app": p.app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}, {Name: "side", Image: "busybox"}}},
		}
		if _, err := client.CoreV1().Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now()
	s.Metrics.Report(metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Timestamp: metav1.NewTime(now), Usage: usage("1500m", "2Gi")},
		[]metricsv1beta1.PodMetrics{
			podMetrics("default", "web-1", now, metricsv1beta1.ContainerMetrics{Name: "main", Usage: usage("100m", "10Mi")}, metricsv1beta1.ContainerMetrics{Name: "side", Usage: usage("50m", "6Mi")}),
			podMetrics("default", "db", now, metricsv1beta1.ContainerMetrics{Name: "main", Usage: usage("700m", "1Gi")}),
			// A pod the API does not know (deleted since) is not served.
			podMetrics("default", "ghost", now, metricsv1beta1.ContainerMetrics{Name: "main", Usage: usage("1", "1Gi")}),
		})
	s.Metrics.Report(metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n2"}, Timestamp: metav1.NewTime(now), Usage: usage("300m", "512Mi")},
		[]metricsv1beta1.PodMetrics{
			podMetrics("default", "web-2", now, metricsv1beta1.ContainerMetrics{Name: "main", Usage: usage("200m", "20Mi")}),
			podMetrics("kube-system", "dns", now, metricsv1beta1.ContainerMetrics{Name: "main", Usage: usage("5m", "30Mi")}),
		})

	m, err := metricsclient.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	api := m.MetricsV1beta1()
	// The server's informers see new objects shortly after they are written:
	// wait for the last pod written, in kube-system.
	var pods *metricsv1beta1.PodMetricsList
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = api.PodMetricses("kube-system").Get(ctx, "dns", metav1.GetOptions{})
		if err == nil {
			pods, err = api.PodMetricses("default").List(ctx, metav1.ListOptions{})
		}
		if err == nil && len(pods.Items) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "db,web-1,web-2" {
		t.Fatalf("pod metrics in default: %s, want db,web-1,web-2 (known pods that reported, in order)", got)
	}
	if web := pods.Items[1]; len(web.Containers) != 2 || web.Containers[1].Usage.Cpu().String() != "50m" || web.Labels["app"] != "web" || web.Window.Duration != 10*time.Second {
		t.Fatalf("web-1 metrics: %+v", web)
	}

	web, err := api.PodMetricses("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(web.Items) != 2 {
		t.Fatalf("pod metrics with app=web: %v, %v; want web-1 and web-2", web, err)
	}
	all, err := api.PodMetricses("").List(ctx, metav1.ListOptions{})
	if err != nil || len(all.Items) != 4 {
		t.Fatalf("pod metrics in every namespace: %v, %v; want 4", all, err)
	}
	byName, err := api.PodMetricses("default").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=db"})
	if err != nil || len(byName.Items) != 1 || byName.Items[0].Name != "db" {
		t.Fatalf("pod metrics with metadata.name=db: %v, %v", byName, err)
	}
	db, err := api.PodMetricses("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || db.Containers[0].Usage.Memory().String() != "1Gi" {
		t.Fatalf("get pod metrics db: %v, %v", db, err)
	}
	if _, err := api.PodMetricses("default").Get(ctx, "ghost", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("metrics of a pod the API does not know: %v, want NotFound", err)
	}

	nodes, err := api.NodeMetricses().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 2 || nodes.Items[0].Name != "n1" || nodes.Items[0].Usage.Cpu().String() != "1500m" {
		t.Fatalf("node metrics: %v, %v; want n1 and n2, not the silent node", nodes, err)
	}
	pool, err := api.NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "pool=b"})
	if err != nil || len(pool.Items) != 1 || pool.Items[0].Name != "n2" {
		t.Fatalf("node metrics with pool=b: %v, %v; want n2", pool, err)
	}
	if _, err := api.NodeMetricses().Get(ctx, "silent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("metrics of a node that never reported: %v, want NotFound", err)
	}

	kubectlTop(t, s, pods.Items[0].Name)
}

// kubectlTop runs the real kubectl top against the server, when kubectl is
// installed: it checks discovery, the served versions and the OpenAPI together.
func kubectlTop(t *testing.T, s *apiservertest.Server, pod string) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl is not installed: not running kubectl top")
		return
	}
	path := s.Kubeconfig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "nodes"}, "n1"},
		{[]string{"top", "pods", "-n", "default", "--containers"}, "side"},
		{[]string{"get", "pods.metrics.k8s.io", "-n", "default", pod}, pod},
	} {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", path}, c.args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+path)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
		t.Logf("kubectl %s:\n%s", strings.Join(c.args, " "), out)
	}
}
