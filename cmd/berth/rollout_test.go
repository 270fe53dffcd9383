package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// helloChart is the demo chart (testdata/releases/hello): the hello image
// behind a Service and, if enabled, an Ingress.
func helloChart(t testing.TB) string {
	return filepath.Join(filepath.Dir(testChart(t)), "hello")
}

// serveHello installs the demo chart as release name in ns with replicas
// pods answering message, its Service a NodePort and its Ingress on host,
// and returns the three ways in: the ClusterIP, the NodePort on the node's
// address and the node's Ingress controller.
func serveHello(t *testing.T, c *cluster, ns, name string, replicas int, message, host string) []loadTarget {
	t.Helper()
	c.berth(t, "install", name, helloChart(t), "-n", ns, "--wait", "--timeout", "2m",
		"--set", fmt.Sprintf("replicaCount=%d,service.type=NodePort,ingress.enabled=true,image.pullPolicy=Never", replicas),
		"--set-string", "message="+message+",ingress.host="+host)
	svc, err := c.client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	targets := []loadTarget{
		{name: "ClusterIP", url: "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"},
		{name: "NodePort", url: "http://" + net.JoinHostPort(nodeInternalIP(t, c), strconv.Itoa(int(svc.Spec.Ports[0].NodePort))) + "/"},
		{name: "Ingress", url: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ingressHTTP)) + "/", host: host},
	}
	// The Ingress controller's table follows the endpoints a moment later.
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for _, tg := range targets {
		for {
			body, err := get(context.Background(), client, tg.url, tg.host)
			if err == nil && body == message {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s of release %s does not answer %q: %q, %v", tg.name, name, message, body, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return targets
}

// TestReleaseZeroDowntime upgrades, rolls back and atomically rolls back a
// 10-replica release under steady load through its ClusterIP, NodePort and
// Ingress: not one request may fail, and afterwards every answer comes from
// the revision deployed.
func TestReleaseZeroDowntime(t *testing.T) {
	c := node.getNode(t)
	ns := c.namespace(t)
	chart := helloChart(t)
	targets := serveHello(t, c, ns, "web", 10, "v1", ns+".zero-downtime.test")

	l := startLoad(targets)
	defer l.stop()
	time.Sleep(time.Second)
	if p := l.next(); p.total(p.failed) > 0 || p.bodies["v1"] == 0 {
		t.Fatalf("before any change: %v", p)
	}

	// step runs a release command under the load, then checks that no request
	// failed during it and that, once the replaced pods had a moment to
	// leave, every answer is want.
	step := func(what, want string, args ...string) string {
		t.Helper()
		_, stderr, err := c.berthResult(args...)
		during := l.next()
		t.Logf("%s: %v", what, during)
		if strings.HasPrefix(what, "atomic upgrade") {
			if err == nil || !strings.Contains(stderr, "has been rolled back due to atomic being set") {
				t.Fatalf("%s: want it failed and rolled back: %v\n%s", what, err, stderr)
			}
		} else if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, stderr)
		}
		if n := during.total(during.failed); n > 0 {
			t.Errorf("%s: %d requests failed: %v", what, n, during)
		}
		for _, tg := range targets {
			if during.ok[tg.name] < 50 {
				t.Errorf("%s: too few requests through %s to tell: %v", what, tg.name, during)
			}
		}
		time.Sleep(time.Second)
		l.next()
		time.Sleep(time.Second)
		after := l.next()
		if after.total(after.failed) > 0 || after.bodies[want] == 0 || len(after.bodies) != 1 {
			t.Errorf("%s: afterwards want only %q: %v", what, want, after)
		}
		return stderr
	}
	step("upgrade", "v2", "upgrade", "web", chart, "-n", ns, "--wait", "--timeout", "2m", "--reuse-values", "--set-string", "message=v2")
	step("rollback", "v1", "rollback", "web", "1", "-n", ns, "--wait", "--timeout", "2m")
	// Broken upgrades never get ready: each times out and --atomic rolls it
	// back to the last deployed revision, saying what the failing pod showed.
	for _, tc := range []struct {
		what string
		set  string
		says []string
	}{
		{"atomic upgrade to a missing image", "message=v3,image.tag=missing", []string{"ErrImageNeverPull"}},
		{"atomic upgrade to a failing readiness probe", "message=v4,extraEnv[0].name=UNHEALTHY_AFTER,extraEnv[0].value=0s", []string{"Readiness probe failed"}},
		{"atomic upgrade to a crash loop", "message=v5,image.repository=berth.dev/test/crash", []string{"CrashLoopBackOff", "logs (container hello", "crashing with exit code 1"}},
	} {
		stderr := step(tc.what, "v1", "upgrade", "web", chart, "-n", ns, "--atomic", "--timeout", "15s", "--reuse-values", "--set-string", tc.set)
		for _, want := range tc.says {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: the error does not say %q:\n%s", tc.what, want, stderr)
			}
		}
	}
	want := "1:superseded 2:superseded 3:superseded 4:failed 5:superseded 6:failed 7:superseded 8:failed 9:deployed"
	if got := c.history(t, ns, "web"); strings.Join(got, " ") != want {
		t.Errorf("history: %v, want %s", got, want)
	}
}
