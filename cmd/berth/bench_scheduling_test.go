package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// BenchmarkScheduling measures the scheduler on hollow nodes: pods bound per
// second for 10,000 pending pods on 1,000 and on 5,000 nodes (the pods are
// created with the scheduler off, then the server restarts with it on), and the
// time to bring a 1,000-replica Deployment to Available and to roll it to a new
// template. Upstream kube-scheduler's CI thresholds are 680-810 pods/s at 5,000
// nodes; berth's target is 1,000 pods/s there.
func BenchmarkScheduling(b *testing.B) {
	fmt.Printf("\n%-44s %12s %12s\n", "scheduling", "time", "pods/s")
	for _, nodes := range []int{1000, 5000} {
		elapsed := scheduleAll(b, nodes, 10000)
		fmt.Printf("%-44s %12s %12.0f\n", fmt.Sprintf("10,000 pods on %d hollow nodes", nodes), elapsed.Round(time.Millisecond), 10000/elapsed.Seconds())
	}
	available, rolled := deploymentAtScale(b, 1000)
	fmt.Printf("%-44s %12s\n", "1,000-replica Deployment to Available", available.Round(time.Millisecond))
	fmt.Printf("%-44s %12s\n", "the same, rolled to a new template", rolled.Round(time.Millisecond))
	fmt.Println("\ntarget: 1,000 pods/s or more at 5,000 nodes (upstream CI: 680-810)")
}

func benchPending(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p-" + strconv.Itoa(i), Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}}}},
	}
}

// scheduleAll creates pods pending pods on nodes hollow nodes with the
// scheduler off, restarts the server with it on, and times from the server's
// readiness until all are bound.
func scheduleAll(b *testing.B, nodes, pods int) time.Duration {
	args := []string{"--hollow-nodes", strconv.Itoa(nodes), "--hollow-pod-start-delay", "24h", "--controllers", "-*",
		// No node lifecycle here: Leases renewed each minute, not 500 times a second.
		"--node-monitor-grace-period", "4m"}
	c, err := newCluster(clusterOptions{extraArgs: append(args, "--disable-scheduler")})
	if err != nil {
		b.Fatal(err)
	}
	defer c.stop()
	ctx := context.Background()
	client := benchClient(b, c)
	waitNodes(b, client, nodes)
	if _, err := parallel("create pending pods", pods, 32, func(i int) error {
		_, err := client.CoreV1().Pods("default").Create(ctx, benchPending(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	c.args = c.args[:len(c.args)-1] // without --disable-scheduler
	c.server.signal(syscall.SIGTERM)
	if err := c.start(); err != nil {
		b.Fatal(err)
	}
	// From a ready API server: the scheduler's informers sync inside the time.
	start := time.Now()
	client = benchClient(b, c)
	deadline := time.After(5 * time.Minute)
	for {
		bound, done := watchBindings(b, client, pods, deadline)
		if done {
			elapsed := time.Since(start)
			b.Logf("server peak RSS with %d nodes and %d pods: %s", nodes, pods, peakRSS(c.server.cmd.Process.Pid))
			return elapsed
		}
		b.Logf("the watch closed with %d of %d pods bound; listing again", bound, pods)
	}
}

// watchBindings lists the pods and watches them until all pods are bound,
// the watch closes (a server ends watches that fall behind), or the deadline.
func watchBindings(b *testing.B, client kubernetes.Interface, pods int, deadline <-chan time.Time) (bound int, done bool) {
	ctx := context.Background()
	list, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range list.Items {
		if p.Spec.NodeName != "" {
			seen[p.Name] = true
		}
	}
	w, err := client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	for len(seen) < pods {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return len(seen), false
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type == watch.Modified && p.Spec.NodeName != "" {
				seen[p.Name] = true
			}
		case <-deadline:
			b.Fatalf("%d of %d pods bound after 5 minutes", len(seen), pods)
		}
	}
	return pods, true
}

// deploymentAtScale times a Deployment of replicas pods to Available on 1,000
// hollow nodes, then a rollout of it to a new image.
func deploymentAtScale(b *testing.B, replicas int32) (available, rolled time.Duration) {
	// /26 node subnets: the default /16 cluster range holds 1,024 of them.
	c, err := newCluster(clusterOptions{extraArgs: []string{"--hollow-nodes", "1000", "--hollow-pod-start-delay", "100ms",
		"--node-cidr-mask-size-ipv4", "26"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.stop()
	ctx := context.Background()
	client := benchClient(b, c)
	waitNodes(b, client, 1000)
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "big"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "big"}},
				Spec:       benchPending(0).Spec,
			},
		},
	}
	start := time.Now()
	if _, err := client.AppsV1().Deployments("default").Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitRolledOut(b, client, "big", 1)
	available = time.Since(start)

	start = time.Now()
	current, err := client.AppsV1().Deployments("default").Get(ctx, "big", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	current.Spec.Template.Spec.Containers[0].Image = "app:2"
	if _, err := client.AppsV1().Deployments("default").Update(ctx, current, metav1.UpdateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitRolledOut(b, client, "big", 2)
	return available, time.Since(start)
}

// waitRolledOut waits until the Deployment's generation is observed and all its
// replicas are updated and available, as kubectl rollout status does.
func waitRolledOut(b *testing.B, client kubernetes.Interface, name string, generation int64) {
	deadline := time.Now().Add(15 * time.Minute)
	for time.Now().Before(deadline) {
		d, err := client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
			d.Status.AvailableReplicas == *d.Spec.Replicas && d.Status.Replicas == *d.Spec.Replicas {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Fatalf("deployment %s not rolled out in 15 minutes", name)
}

func waitNodes(b *testing.B, client kubernetes.Interface, n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{ResourceVersion: "0"})
		if err == nil && len(list.Items) >= n {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.Fatalf("%d hollow nodes not registered in 5 minutes", n)
}

func benchClient(b *testing.B, c *cluster) kubernetes.Interface {
	config := *c.config
	config.QPS, config.Burst = -1, 0
	config.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(&config)
	if err != nil {
		b.Fatal(err)
	}
	return client
}

// peakRSS is a process's peak resident memory, as the kernel counts it.
func peakRSS(pid int) string {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
