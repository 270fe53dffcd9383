package job

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// runController runs the controller over a fake API with live informers, as
// the server does, with a short back-off.
func runController(t *testing.T, objs ...runtime.Object) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	n := 0
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		m, _ := meta.Accessor(a.(core.CreateAction).GetObject())
		mu.Lock()
		n++
		m.SetName(fmt.Sprintf("%sgen%d", m.GetGenerateName(), n))
		mu.Unlock()
		m.SetUID(types.UID("uid-" + m.GetName()))
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, record.NewFakeRecorder(1000), WithBackoff(10*time.Millisecond, 40*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
	return client
}

// finishPods ends every running pod of the fake API with phase, as kubelets
// would, and returns how many it ended.
func finishPods(ctx context.Context, t *testing.T, client *fake.Clientset, phase corev1.PodPhase) int {
	t.Helper()
	pods, err := client.CoreV1().Pods("batch").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		p.Status.Phase = phase
		// The fake API keeps resourceVersions as given; informers drop an
		// update that keeps it as a mere resync.
		p.ResourceVersion = fmt.Sprint(time.Now().UnixNano())
		if _, err := client.CoreV1().Pods("batch").UpdateStatus(ctx, &p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// waitFor polls the job until done accepts it; the timeout only bounds a
// failing test.
func waitFor(ctx context.Context, t *testing.T, client *fake.Clientset, what string, step func(), done func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	var last *batchv1.Job
	err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		if step != nil {
			step()
		}
		j, err := client.BatchV1().Jobs("batch").Get(ctx, "a", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = j
		return done(j), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; job status %+v", what, err, last.Status)
	}
	return last
}

func TestRunToCompletion(t *testing.T) {
	ctx := context.Background()
	client := runController(t, newJob("a", counts(3, 2)))
	finished := 0
	job := waitFor(ctx, t, client, "completion", func() { finished += finishPods(ctx, t, client, corev1.PodSucceeded) },
		func(j *batchv1.Job) bool { return condition(j, batchv1.JobComplete) != nil })
	if job.Status.Succeeded != 3 || finished != 3 || job.Status.Failed != 0 {
		t.Errorf("succeeded %d (pods finished %d) failed %d, want 3, 3, 0", job.Status.Succeeded, finished, job.Status.Failed)
	}
	pods, err := client.CoreV1().Pods("batch").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if hasFinalizer(&p) {
			t.Errorf("pod %s keeps the tracking finalizer after completion", p.Name)
		}
	}
}

func TestRunFailsAfterBackoffLimit(t *testing.T) {
	ctx := context.Background()
	client := runController(t, newJob("a", func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](2) }))
	job := waitFor(ctx, t, client, "failure", func() { finishPods(ctx, t, client, corev1.PodFailed) },
		func(j *batchv1.Job) bool { return condition(j, batchv1.JobFailed) != nil })
	if job.Status.Failed != 3 {
		t.Errorf("failed %d, want 3 (backoffLimit 2, then one more)", job.Status.Failed)
	}
	if c := condition(job, batchv1.JobFailed); c.Reason != batchv1.JobReasonBackoffLimitExceeded {
		t.Errorf("reason %q", c.Reason)
	}
}
