package hollow

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	utilexec "k8s.io/utils/exec"

	"berth.dev/berth/kubelet/server"
)

// testRuntime is a hollow runtime over a fixed set of pods on node t-0.
func testRuntime(t *testing.T, pods ...*corev1.Pod) *runtime {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, p := range pods {
		if err := indexer.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return &runtime{nodes: &Nodes{names: map[string]int{"t-0": 0}}, pods: corelisters.NewPodLister(indexer)}
}

func hollowPod(name string, state corev1.ContainerState) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: "t-0", Containers: []corev1.Container{{Name: "c"}}}}
	if state != (corev1.ContainerState{}) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: state}}
	}
	return p
}

func TestHollowLogs(t *testing.T) {
	started := time.Now().Add(-3500 * time.Millisecond) // ticks 1-3 written, 4 due in half a second
	finished := metav1.NewTime(started.Add(2 * time.Second))
	rt := testRuntime(t,
		hollowPod("running", corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}),
		hollowPod("done", corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 4, StartedAt: metav1.NewTime(started), FinishedAt: finished}}),
		hollowPod("waiting", corev1.ContainerState{}),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "other", Containers: []corev1.Container{{Name: "c"}}}},
	)
	since := metav1.NewTime(started.Add(time.Second))
	cases := []struct {
		name, pod string
		opts      corev1.PodLogOptions
		want      string
		err       error
	}{
		{name: "exited container ends with its code", pod: "done", want: "hollow container c of pod ns/done started\n" +
			"hollow container c of pod ns/done: tick 1\nhollow container c of pod ns/done: tick 2\nhollow container c of pod ns/done exited with code 4\n"},
		{name: "tail", pod: "done", opts: corev1.PodLogOptions{TailLines: new(int64(1))}, want: "hollow container c of pod ns/done exited with code 4\n"},
		{name: "sinceTime", pod: "done", opts: corev1.PodLogOptions{SinceTime: &since, TailLines: new(int64(5))},
			want: "hollow container c of pod ns/done: tick 1\nhollow container c of pod ns/done: tick 2\nhollow container c of pod ns/done exited with code 4\n"},
		{name: "timestamps", pod: "done", opts: corev1.PodLogOptions{Timestamps: true, TailLines: new(int64(1))},
			want: finished.UTC().Format(time.RFC3339Nano) + " hollow container c of pod ns/done exited with code 4\n"},
		{name: "running so far", pod: "running", opts: corev1.PodLogOptions{TailLines: new(int64(1))}, want: "hollow container c of pod ns/running: tick 3\n"},
		{name: "previous", pod: "running", opts: corev1.PodLogOptions{Previous: true}, err: server.ErrNotRunning},
		{name: "waiting", pod: "waiting", err: server.ErrNotRunning},
		{name: "pod on another node", pod: "elsewhere", err: server.ErrNotFound},
		{name: "unknown pod", pod: "nope", err: server.ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := rt.Logs(context.Background(), server.Pod{Namespace: "ns", Name: c.pod}, "c", &c.opts, &out)
			if !errors.Is(err, c.err) || out.String() != c.want {
				t.Fatalf("logs %q, %v; want %q, %v", out.String(), err, c.want, c.err)
			}
		})
	}
}

func TestHollowExec(t *testing.T) {
	rt := testRuntime(t, hollowPod("web", corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}),
		hollowPod("waiting", corev1.ContainerState{}))
	exec := func(pod string, cmd ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := rt.Exec(context.Background(), server.Pod{Namespace: "ns", Name: pod}, "c", cmd,
			server.Streams{Stdout: nopCloser{&stdout}, Stderr: nopCloser{&stderr}})
		return stdout.String(), stderr.String(), err
	}
	if out, _, err := exec("web", "cat", "/etc/hostname"); err != nil || out != "web\n" {
		t.Errorf("cat /etc/hostname: %q, %v", out, err)
	}
	_, errOut, err := exec("web", "sh", "-c", "true")
	var exit utilexec.CodeExitError
	if !errors.As(err, &exit) || exit.Code != 127 || !strings.Contains(errOut, "sh -c true: command not found") {
		t.Errorf("an unknown command: %v, stderr %q; want exit code 127", err, errOut)
	}
	if _, _, err := exec("waiting", "echo"); !errors.Is(err, server.ErrNotRunning) {
		t.Errorf("exec in a waiting container: %v", err)
	}
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }
