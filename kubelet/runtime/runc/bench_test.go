package runc

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"berth.dev/berth/kubelet/runtime"
)

// BenchmarkContainer measures the floor of pod start latency: create, start
// and wait for a container running a static `true`. Each iteration also
// fork-execs the same binary on the host (outside the timed part), and the
// ratio between the two is reported as x-host-exec, so that machine load
// affects both alike. Removal is outside the timed part.
func BenchmarkContainer(b *testing.B) {
	r, _ := newTestRuntime(b)
	ctx := context.Background()
	sb := runSandbox(b, r, runtime.SandboxSpec{Hostname: "bench"})
	spec := ctrSpec(b, "true")
	bin := filepath.Join(testRootfs, "bin", "ctrtool")
	var ctrTime, hostTime time.Duration
	for b.Loop() {
		start := time.Now()
		id, err := r.CreateContainer(ctx, sb.ID, spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		if st, err := r.WaitContainer(ctx, id); err != nil || st.Code != 0 {
			b.Fatalf("exit %+v, %v", st, err)
		}
		ctrTime += time.Since(start)
		b.StopTimer()
		if err := r.RemoveContainer(ctx, id); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if err := exec.Command(bin, "true").Run(); err != nil {
			b.Fatal(err)
		}
		hostTime += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(hostTime.Nanoseconds())/float64(b.N), "host-exec-ns/op")
	b.ReportMetric(float64(ctrTime)/float64(hostTime), "x-host-exec")
}

// BenchmarkSandbox measures running and removing a sandbox.
func BenchmarkSandbox(b *testing.B) {
	r, _ := newTestRuntime(b)
	ctx := context.Background()
	for b.Loop() {
		sb, err := r.RunSandbox(ctx, runtime.SandboxSpec{Name: "bench", Namespace: "default", Hostname: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.RemoveSandbox(ctx, sb.ID); err != nil {
			b.Fatal(err)
		}
	}
}
