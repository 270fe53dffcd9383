package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

const (
	benchPods    = 10000
	benchClients = 32
)

// measurement is the outcome of running one operation many times.
type measurement struct {
	name      string
	n         int
	elapsed   time.Duration
	latencies []time.Duration
}

func (m measurement) perSecond() float64 { return float64(m.n) / m.elapsed.Seconds() }

func (m measurement) percentile(p float64) time.Duration {
	if len(m.latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(m.latencies)
	slices.Sort(sorted)
	return sorted[int(p*float64(len(sorted)-1))]
}

// parallel runs op(i) for i in [0, n) on `clients` goroutines and measures it.
func parallel(name string, n, clients int, op func(i int) error) (measurement, error) {
	latencies := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	began := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s %d: %w", name, i, err) })
					return
				}
				latencies[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return measurement{name: name, n: n, elapsed: time.Since(began), latencies: latencies}, firstErr
}

func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-" + strconv.Itoa(i), Labels: map[string]string{"app": "bench", "shard": strconv.Itoa(i % 16)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "docker.io/library/nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}},
		}}},
	}
}

// watchAll counts ADDED events from version `from` on and reports the time the
// n-th arrives. A watcher that falls behind is closed by the server, as
// upstream's is, and resumes from the last version it saw, as client-go's
// reflectors do.
func watchAll(ctx context.Context, pods interface {
	Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
}, from string, n int) (<-chan time.Time, *atomic.Int32) {
	done := make(chan time.Time, 1)
	resumes := &atomic.Int32{}
	go func() {
		seen := 0
		for ctx.Err() == nil {
			w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: from})
			if err != nil {
				return
			}
			for ev := range w.ResultChan() {
				if pod, ok := ev.Object.(*corev1.Pod); ok {
					from = pod.ResourceVersion
				}
				if ev.Type == watch.Added {
					if seen++; seen == n {
						w.Stop()
						done <- time.Now()
						return
					}
				}
			}
			resumes.Add(1)
		}
	}()
	return done, resumes
}

// BenchmarkAPI measures the API server on 10,000 pods (create, get, list, watch)
// next to raw etcd client puts and gets of objects of the same size, against the
// same etcd member in the same run: the floor the API is compared with. The
// server runs no scheduler (pods without nodes would make it write a status
// and an event per pod: its own load, measured by BenchmarkScheduling) and of
// the controllers only the one that gives the namespace its default service
// account, which every pod runs as.
func BenchmarkAPI(b *testing.B) {
	etcdPort, err := freePort()
	if err != nil {
		b.Fatal(err)
	}
	c, err := newCluster(clusterOptions{extraArgs: []string{"--etcd-client-port", strconv.Itoa(etcdPort), "--controllers", "serviceaccount", "--disable-scheduler"}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("http://127.0.0.1:%d", etcdPort)}, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer etcd.Close()
	value, err := runtime.Encode(scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion), benchPod(0))
	if err != nil {
		b.Fatal(err)
	}
	var results []measurement
	run := func(name string, n, clients int, op func(i int) error) measurement {
		m, err := parallel(name, n, clients, op)
		if err != nil {
			b.Fatal(err)
		}
		results = append(results, m)
		return m
	}
	put := run("etcd put", benchPods, benchClients, func(i int) error {
		_, err := etcd.Put(ctx, "/bench/pods/"+strconv.Itoa(i), string(value))
		return err
	})
	get := run("etcd get", benchPods, benchClients, func(i int) error {
		_, err := etcd.Get(ctx, "/bench/pods/"+strconv.Itoa(i))
		return err
	})
	// The latency floor of a create: one write committed by etcd, alone.
	const idle = 1000
	putIdle := run("etcd put, 1 client", idle, 1, func(i int) error {
		_, err := etcd.Put(ctx, "/bench/idle/"+strconv.Itoa(i), string(value))
		return err
	})
	if _, err := etcd.Delete(ctx, "/bench/", clientv3.WithPrefix()); err != nil {
		b.Fatal(err)
	}

	config := *c.config
	config.QPS, config.Burst = -1, 0                           // no client-side rate limit
	config.ContentType = "application/vnd.kubernetes.protobuf" // as controllers talk
	client, err := kubernetes.NewForConfig(&config)
	if err != nil {
		b.Fatal(err)
	}
	ns := "bench"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		b.Fatal("the namespace got no default service account")
	}
	pods := client.CoreV1().Pods(ns)
	before, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	create := run("API create", benchPods, benchClients, func(i int) error {
		_, err := pods.Create(ctx, benchPod(i), metav1.CreateOptions{})
		return err
	})
	// A watch from before the creates replays all of them from the watch cache.
	began := time.Now()
	watched, resumes := watchAll(ctx, pods, before.ResourceVersion, benchPods)
	select {
	case at := <-watched:
		results = append(results, measurement{name: fmt.Sprintf("API watch (%d resumes)", resumes.Load()), n: benchPods, elapsed: at.Sub(began)})
	case <-time.After(2 * time.Minute):
		b.Fatal("the watch did not deliver every create")
	}
	apiGet := run("API get", benchPods, benchClients, func(i int) error {
		_, err := pods.Get(ctx, "pod-"+strconv.Itoa(i), metav1.GetOptions{})
		return err
	})
	// Latency of a request on an otherwise idle server, one client at a time.
	createIdle := run("API create, 1 client", idle, 1, func(i int) error {
		_, err := pods.Create(ctx, benchPod(benchPods+i), metav1.CreateOptions{})
		return err
	})
	run("API get, 1 client", idle, 1, func(i int) error {
		_, err := pods.Get(ctx, "pod-"+strconv.Itoa(i), metav1.GetOptions{})
		return err
	})
	list := run("API list (11,000 pods each)", 10, 1, func(int) error {
		l, err := pods.List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) != benchPods+idle {
			err = fmt.Errorf("listed %d pods", len(l.Items))
		}
		return err
	})

	out := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "\noperation\tn\tops/s\tp50\tp99\t\n")
	for _, m := range results {
		fmt.Fprintf(out, "%s\t%d\t%.0f\t%s\t%s\t\n", m.name, m.n, m.perSecond(),
			m.percentile(0.5).Round(10*time.Microsecond), m.percentile(0.99).Round(10*time.Microsecond))
	}
	out.Flush()
	fmt.Printf("\nAPI create / etcd put throughput (%d clients): %.2f (target >= 0.33)\n", benchClients, create.perSecond()/put.perSecond())
	fmt.Printf("API create p99, 1 client: %s (target < 10ms; etcd put alone: %s); under %d clients: %s\n",
		createIdle.percentile(0.99).Round(10*time.Microsecond), putIdle.percentile(0.99).Round(10*time.Microsecond),
		benchClients, create.percentile(0.99).Round(10*time.Microsecond))
	fmt.Printf("API get / etcd get throughput (%d clients): %.2f\n", benchClients, apiGet.perSecond()/get.perSecond())
	fmt.Printf("API list of 11,000 pods: p50 %s\n", list.percentile(0.5).Round(time.Millisecond))
	b.ReportMetric(create.perSecond()/put.perSecond(), "create/put")
	b.ReportMetric(float64(createIdle.percentile(0.99).Microseconds())/1000, "create-p99-ms")
}
