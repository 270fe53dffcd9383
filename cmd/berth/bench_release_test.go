package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// releaseTool runs one release manager's commands against the bench cluster.
type releaseTool struct {
	name string
	cmd  func(args ...string) *exec.Cmd
}

// BenchmarkRelease measures the demo chart (testdata/releases/hello, image
// present) on a real node, with berth and, as the peer, the real Helm
// installing the same chart with the same values into the same cluster:
// install until the Service answers and until `install --wait` returns, for 2
// and for 20 replicas, then `upgrade --wait` and `rollback --wait` of the 20
// replicas under steady load through the ClusterIP, with the requests
// answered and failed during each.
// Targets: the demo chart serving in under 2 s after install starts; no
// failed request.
func BenchmarkRelease(b *testing.B) {
	c := newBenchNode(b)
	helm := realHelm(b)
	helmHome := b.TempDir()
	tools := []releaseTool{
		{"berth", c.berthCmd},
		{"helm", func(args ...string) *exec.Cmd {
			cmd := exec.Command(helm, args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig,
				"HELM_CACHE_HOME="+helmHome+"/cache", "HELM_CONFIG_HOME="+helmHome+"/config", "HELM_DATA_HOME="+helmHome+"/data")
			return cmd
		}},
	}
	chart := helloChart(b)
	type row struct {
		what string
		secs map[string]float64
		note map[string]string
	}
	var rows []*row
	add := func(what, tool string, d time.Duration, note string) {
		i := slices.IndexFunc(rows, func(r *row) bool { return r.what == what })
		if i < 0 {
			i = len(rows)
			rows = append(rows, &row{what: what, secs: map[string]float64{}, note: map[string]string{}})
		}
		rows[i].secs[tool] = d.Seconds()
		rows[i].note[tool] = note
	}
	for _, replicas := range []int{2, 20} {
		for _, tool := range tools {
			ns := fmt.Sprintf("bench-%s-%d", tool.name, replicas)
			c.kubectl(b, "create", "namespace", ns)
			serving, returned := timeInstall(b, c, tool, chart, ns, replicas)
			add(fmt.Sprintf("install → serving, %d replicas", replicas), tool.name, serving, "")
			add(fmt.Sprintf("install --wait returns, %d replicas", replicas), tool.name, returned, "")
			if replicas < 20 {
				continue
			}
			svc, err := c.client.CoreV1().Services(ns).Get(context.Background(), "hello", metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			l := startLoad([]loadTarget{{name: "ClusterIP", url: "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"}})
			time.Sleep(time.Second)
			l.next()
			for _, op := range []struct {
				what string
				args []string
			}{
				{"upgrade --wait, 20 replicas under load", []string{"upgrade", "hello", chart, "-n", ns, "--wait", "--timeout", "5m", "--reuse-values", "--set-string", "message=v2"}},
				{"rollback --wait, 20 replicas under load", []string{"rollback", "hello", "1", "-n", ns, "--wait", "--timeout", "5m"}},
			} {
				d := timeCommand(b, tool.cmd(op.args...))
				p := l.next()
				add(op.what, tool.name, d, fmt.Sprintf("%d ok %d failed", p.total(p.ok), p.total(p.failed)))
				if n := p.total(p.failed); n > 0 {
					b.Errorf("%s with %s: %d requests failed: %v", op.what, tool.name, n, p)
				}
			}
			l.stop()
		}
	}
	fmt.Printf("\n%-42s %10s %10s %12s   %s\n", "demo chart on one node (image present)", "berth", "helm", "berth/helm", "requests during (berth; helm)")
	for _, r := range rows {
		fmt.Printf("%-42s %9.2fs %9.2fs %12.2f   %s\n", r.what, r.secs["berth"], r.secs["helm"], r.secs["berth"]/r.secs["helm"],
			strings.Trim(r.note["berth"]+"; "+r.note["helm"], "; "))
	}
}

// timeInstall installs the demo chart with tool and returns how long it took
// until its Service first answered (polled through the ClusterIP every 10 ms
// from the start) and until `install --wait` returned.
func timeInstall(b *testing.B, c *cluster, tool releaseTool, chart, ns string, replicas int) (serving, returned time.Duration) {
	b.Helper()
	cmd := tool.cmd("install", "hello", chart, "-n", ns, "--wait", "--timeout", "5m",
		"--set", fmt.Sprintf("replicaCount=%d,image.pullPolicy=Never", replicas))
	start := time.Now()
	answered := make(chan time.Duration, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		client := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil {
			svc, err := c.client.CoreV1().Services(ns).Get(ctx, "hello", metav1.GetOptions{})
			if err == nil && svc.Spec.ClusterIP != "" {
				if body, err := get(ctx, client, "http://"+net.JoinHostPort(svc.Spec.ClusterIP, "80")+"/", ""); err == nil && body != "" {
					answered <- time.Since(start)
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	returned = timeCommand(b, cmd)
	select {
	case serving = <-answered:
	case <-time.After(30 * time.Second):
		b.Fatalf("%s install in %s: the Service never answered", tool.name, ns)
	}
	return serving, returned
}

// timeCommand runs cmd and returns how long it took; the benchmark fails if
// the command does.
func timeCommand(b *testing.B, cmd *exec.Cmd) time.Duration {
	b.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out.String())
	}
	return time.Since(start)
}
