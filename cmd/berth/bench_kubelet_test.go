package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"berth.dev/berth/kubelet/agent"
	"berth.dev/berth/kubelet/images"
	"berth.dev/berth/kubelet/runtime"
	"berth.dev/berth/kubelet/runtime/runc"
)

// newBenchNode starts a server with its agent and the test images, stopped
// when the benchmark ends.
func newBenchNode(b *testing.B) *cluster {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("the benchmark runs containers and needs root")
	}
	c, err := newCluster(clusterOptions{agent: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.stop)
	if err := importTestImages(c.dir); err != nil {
		b.Fatal(err)
	}
	if err := waitNodeReady(c, time.Time{}); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkKubelet measures pod start latency on a real node: create → Ready
// for 100 pods created one after the other with the image present, then for
// 100 more created 10 at a time, next to the
// floor measured in the same run: the runtime alone making a sandbox, the
// container's root filesystem from the same image, and creating and starting
// the container. It also reports the server's resident memory (API server,
// controllers and the agent in one process) before and with 110 pods running.
// Target: p99 under 500 ms (the Kubernetes SLO is 5 s).
func BenchmarkKubelet(b *testing.B) {
	c := newBenchNode(b)
	floor := runtimeFloor(b, c.dir, 100)
	idle := currentRSS(c.server.cmd.Process.Pid)

	ns := "bench"
	if _, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	lat := podStartLatencies(b, c, ns, "a", 100, 1)
	// Ten more make the node's 110 pods.
	podStartLatencies(b, c, ns, "b", 10, 1)
	loaded := currentRSS(c.server.cmd.Process.Pid)
	holders, holdersPSS := sandboxHolders()
	if err := c.client.CoreV1().Pods(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		b.Fatal(err)
	}
	waitNoPods(b, c, ns)
	burst := podStartLatencies(b, c, ns, "c", 100, 10)

	fmt.Printf("\n%-52s %10s %10s\n", "pod start (100 pods, image present)", "p50", "p99")
	fmt.Printf("%-52s %10s %10s\n", "create → Ready through berth, one at a time", pct(lat, 50), pct(lat, 99))
	fmt.Printf("%-52s %10s %10s\n", "create → Ready through berth, 10 at a time", pct(burst, 50), pct(burst, 99))
	fmt.Printf("%-52s %10s %10s\n", "floor: sandbox + rootfs + create + start (runtime)", pct(floor, 50), pct(floor, 99))
	fmt.Printf("%-52s %10.1f %10.1f\n", "ratio to the floor", ratio(lat, floor, 50), ratio(lat, floor, 99))
	fmt.Printf("%-52s %10s\n", "server RSS, no pods", mib(idle))
	fmt.Printf("%-52s %10s\n", "server RSS, 110 pods running", mib(loaded))
	fmt.Printf("%-52s %10s\n", fmt.Sprintf("sandbox holders (%d), PSS in total", holders), mib(holdersPSS))
	fmt.Println("\ntarget: p99 under 500ms (Kubernetes SLO: 5s)")

	if err := c.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
}

// waitNoPods waits until the namespace's pods are gone.
func waitNoPods(b *testing.B, c *cluster, ns string) {
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		pods, err := c.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err == nil && len(pods.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("pods of %s not gone in 3m (%v)", ns, err)
		}
	}
}

// podStartLatencies creates n pods named prefix-i, `parallel` at a time, and returns each
// one's time from the create request to the Ready condition.
func podStartLatencies(b *testing.B, c *cluster, ns, prefix string, n, parallel int) []time.Duration {
	ctx := context.Background()
	w, err := c.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	ready := map[string]chan struct{}{}
	waiter := func(name string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if ready[name] == nil {
			ready[name] = make(chan struct{})
		}
		return ready[name]
	}
	go func() {
		seen := map[string]bool{}
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted || seen[pod.Name] || !podReady(pod) {
				continue
			}
			seen[pod.Name] = true
			close(waiter(pod.Name))
		}
	}()
	lat := make([]time.Duration, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{Name: "main", Image: busyboxImage, ImagePullPolicy: corev1.PullNever,
						Command: []string{"sleep", "3600"}}},
				},
			}
			done := waiter(name)
			start := time.Now()
			if _, err := c.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				b.Error(err)
				return
			}
			select {
			case <-done:
				lat[i] = time.Since(start)
			case <-time.After(2 * time.Minute):
				b.Errorf("pod %s not Ready in 2m", name)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return lat
}

// runtimeFloor times what the kubelet cannot avoid for a pod, with the
// runtime and the image store alone in this process: a sandbox, the root
// filesystem, and a container created and started.
func runtimeFloor(b *testing.B, dataDir string, n int) []time.Duration {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := images.New(images.Config{Root: imageStoreDir(dataDir)})
	if err != nil {
		b.Fatal(err)
	}
	img, err := store.Get(ctx, busyboxImage)
	if err != nil {
		b.Fatal(err)
	}
	cgroup := fmt.Sprintf("/berth-bench-%d", os.Getpid())
	rt, err := runc.New(ctx, runc.Config{Root: filepath.Join(dir, "state"), CgroupParent: cgroup})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		rt.Close()
		if err := agent.KillAll(dir, cgroup, "berth-none"); err != nil {
			b.Error(err)
		}
	}()
	var lat []time.Duration
	for i := range n {
		id := "floor-" + strconv.Itoa(i)
		start := time.Now()
		sb, err := rt.RunSandbox(ctx, runtime.SandboxSpec{Name: id, Namespace: "bench", UID: id, Hostname: id})
		if err != nil {
			b.Fatal(err)
		}
		rootfs, err := store.CreateRootfs(ctx, id, img)
		if err != nil {
			b.Fatal(err)
		}
		ctr, err := rt.CreateContainer(ctx, sb.ID, runtime.ContainerSpec{Name: "main", Rootfs: rootfs.Path,
			Args: []string{"sleep", "3600"}, Env: img.Config.Env, WorkingDir: "/", LogPath: filepath.Join(dir, id+".log")})
		if err != nil {
			b.Fatal(err)
		}
		if err := rt.StartContainer(ctx, ctr); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if err := rt.RemoveContainer(ctx, ctr); err != nil {
			b.Fatal(err)
		}
		if err := rt.RemoveSandbox(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
		if err := store.RemoveRootfs(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	return lat
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)].Round(100 * time.Microsecond)
}

func ratio(a, b []time.Duration, p int) float64 {
	return float64(pct(a, p)) / float64(pct(b, p))
}

// currentRSS is a process's resident memory in bytes.
func currentRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sandboxHolders counts the processes holding pods' namespaces and their
// proportional memory, in bytes.
func sandboxHolders() (n int, pss int64) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(cmdline), "\x00runtime-pause\x00") {
			continue
		}
		n++
		rollup, err := os.ReadFile(filepath.Join(filepath.Dir(p), "smaps_rollup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(rollup), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				pss += kb << 10
			}
		}
	}
	return n, pss
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
