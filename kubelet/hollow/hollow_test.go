package hollow

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

var api *apiservertest.Server

func TestMain(m *testing.M) {
	os.Exit(apiservertest.Main(m, func(s *apiservertest.Server) error { api = s; return nil }))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHollowNodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := api.Client
	nodes, err := New(Config{Client: client, Count: 3, Prefix: "h-", StartDelay: 100 * time.Millisecond, RenewInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go nodes.Run(ctx)

	waitFor(t, "three Ready nodes", func() bool {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		for _, n := range list.Items {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return err == nil && ready == 3
	})
	node, _ := client.CoreV1().Nodes().Get(ctx, "h-1", metav1.GetOptions{})
	if cpu := node.Status.Allocatable.Cpu(); cpu.String() != "4" || node.Labels[corev1.LabelTopologyZone] != "zone-b" {
		t.Fatalf("node h-1: cpu %s, zone %q", cpu, node.Labels[corev1.LabelTopologyZone])
	}

	pod := func(name string, annotations map[string]string, restart corev1.RestartPolicy) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
			Spec: corev1.PodSpec{NodeName: "h-0", RestartPolicy: restart,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
	}
	get := func(name string) *corev1.Pod {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return p
	}
	ready := func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	}
	for _, p := range []*corev1.Pod{
		pod("web", nil, corev1.RestartPolicyAlways),
		pod("unready", map[string]string{AnnotationReady: "false"}, corev1.RestartPolicyAlways),
		pod("ok", map[string]string{AnnotationRunSeconds: "0.2"}, corev1.RestartPolicyNever),
		pod("bad", map[string]string{AnnotationRunSeconds: "0.2", AnnotationExitCode: "3"}, corev1.RestartPolicyNever),
	} {
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "web Running and Ready", func() bool { p := get("web"); return p != nil && p.Status.Phase == corev1.PodRunning && ready(p) })
	if p := get("web"); p.Status.PodIP == "" || p.Status.HostIP != "100.64.0.1" || len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("web status: %+v", p.Status)
	}
	waitFor(t, "unready Running", func() bool { p := get("unready"); return p != nil && p.Status.Phase == corev1.PodRunning })
	if ready(get("unready")) {
		t.Fatal("a pod annotated not ready became Ready")
	}
	waitFor(t, "ok Succeeded", func() bool { p := get("ok"); return p != nil && p.Status.Phase == corev1.PodSucceeded })
	waitFor(t, "bad Failed with exit code 3", func() bool {
		p := get("bad")
		return p != nil && p.Status.Phase == corev1.PodFailed && p.Status.ContainerStatuses[0].State.Terminated.ExitCode == 3
	})

	// A deleted pod goes once its node has stopped it.
	if err := client.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web gone", func() bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// A node told to stop heart-beating stops renewing its Lease.
	node.Annotations = map[string]string{AnnotationHeartbeat: "stop"}
	if _, err := client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the annotation reach the node
	lease, _ := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "h-1", metav1.GetOptions{})
	time.Sleep(2500 * time.Millisecond)
	after, _ := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "h-1", metav1.GetOptions{})
	if !after.Spec.RenewTime.Equal(lease.Spec.RenewTime) {
		t.Fatal("a stopped node renewed its lease")
	}
	other, _ := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "h-2", metav1.GetOptions{})
	if time.Since(other.Spec.RenewTime.Time) > 2*time.Second {
		t.Fatalf("a live node's lease is %s old", time.Since(other.Spec.RenewTime.Time))
	}
}
