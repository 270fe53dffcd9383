package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkServiceProxy measures HTTP requests from the node to one pod
// through its Service's ClusterIP (kube-proxy's nftables rules) next to the
// same load sent straight to the pod's address, in the same run and in
// alternating rounds: request rate and latency over kept-alive connections,
// and over a new connection per request (each one DNATed anew).
// Target: the ClusterIP's rate at least 0.9 of the pod's.
func BenchmarkServiceProxy(b *testing.B) {
	c := newBenchNode(b)
	ns := "bench"
	c.kubectlStdin(b, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: %[1]s, labels: {app: web}}
spec:
  containers:
  - name: web
    image: %[2]s
    imagePullPolicy: Never
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`, ns, helloImage), "apply", "-f", "-")
	c.kubectl(b, "wait", "-n", ns, "--for=condition=Ready", "pod/web", "--timeout=60s")
	pod, err := c.client.CoreV1().Pods(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := c.client.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	direct := "http://" + net.JoinHostPort(pod.Status.PodIP, "8080") + "/"
	cluster := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/"
	// The proxy's rules may trail the endpoints by a sync.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r, err := http.Get(cluster); err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the ClusterIP %s does not answer", cluster)
		}
		time.Sleep(100 * time.Millisecond)
	}

	fmt.Printf("\n%-44s %10s %10s %10s\n", "HTTP GET from the node, 16 clients", "req/s", "p50", "p99")
	for _, mode := range []struct {
		name      string
		keepAlive bool
		rounds    int
		each      time.Duration
	}{{"kept-alive connections", true, 3, 2 * time.Second}, {"a new connection per request", false, 1, 2 * time.Second}} {
		var pod, svc loadResult
		for range mode.rounds {
			pod.add(httpLoad(b, direct, 16, mode.each, mode.keepAlive))
			svc.add(httpLoad(b, cluster, 16, mode.each, mode.keepAlive))
		}
		fmt.Printf("%-44s %10.0f %10s %10s\n", mode.name+": pod IP", pod.rate(), pct(pod.lat, 50), pct(pod.lat, 99))
		fmt.Printf("%-44s %10.0f %10s %10s\n", mode.name+": ClusterIP", svc.rate(), pct(svc.lat, 50), pct(svc.lat, 99))
		fmt.Printf("%-44s %10.2f\n", mode.name+": ClusterIP / pod IP rate", svc.rate()/pod.rate())
	}
	fmt.Println("\ntarget: ClusterIP / pod IP rate at least 0.9")
}

// loadResult is what rounds of load measured.
type loadResult struct {
	requests int
	took     time.Duration
	lat      []time.Duration
}

func (r *loadResult) add(o loadResult) {
	r.requests += o.requests
	r.took += o.took
	r.lat = append(r.lat, o.lat...)
}

func (r *loadResult) rate() float64 { return float64(r.requests) / r.took.Seconds() }

// httpLoad sends GETs to url from clients goroutines for d.
func httpLoad(b *testing.B, url string, clients int, d time.Duration, keepAlive bool) loadResult {
	b.Helper()
	tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var (
		mu   sync.Mutex
		res  loadResult
		wg   sync.WaitGroup
		errs int
	)
	start := time.Now()
	stop := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			failed := 0
			for time.Now().Before(stop) {
				t := time.Now()
				r, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, r.Body)
					r.Body.Close()
				}
				if err != nil {
					failed++
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			errs += failed
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.took, res.requests = time.Since(start), len(res.lat)
	if errs > 0 {
		b.Fatalf("%d of %d requests to %s failed", errs, errs+res.requests, url)
	}
	return res
}
