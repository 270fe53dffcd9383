package job

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var start = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type jobOption func(*batchv1.Job)

func newJob(name string, opts ...jobOption) *batchv1.Job {
	uid := types.UID("uid-" + name)
	labels := map[string]string{batchv1.ControllerUidLabel: string(uid), batchv1.JobNameLabel: name}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "batch", UID: uid, ResourceVersion: "1"},
		Spec: batchv1.JobSpec{
			Completions:    ptr.To[int32](1),
			Parallelism:    ptr.To[int32](1),
			BackoffLimit:   ptr.To[int32](6),
			CompletionMode: ptr.To(batchv1.NonIndexedCompletion),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: string(uid)}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox"}},
				},
			},
		},
	}
	for _, o := range opts {
		o(j)
	}
	return j
}

func counts(completions, parallelism int32) jobOption {
	return func(j *batchv1.Job) {
		j.Spec.Completions, j.Spec.Parallelism = ptr.To(completions), ptr.To(parallelism)
	}
}

func started(at time.Time) jobOption {
	return func(j *batchv1.Job) { j.Status.StartTime = &metav1.Time{Time: at} }
}

type podOption func(*corev1.Pod)

// newPodOf is a pod of job, running and tracked, unless opts say otherwise.
func newPodOf(job *batchv1.Job, name string, opts ...podOption) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: job.Namespace, UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:            job.Spec.Template.Labels,
			Finalizers:        []string{batchv1.JobTrackingFinalizer},
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
			CreationTimestamp: metav1.NewTime(start.Add(-time.Minute)),
		},
		Spec:   corev1.PodSpec{NodeName: "node-a"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func podPhase(ph corev1.PodPhase, finishedAt time.Time) podOption {
	return func(p *corev1.Pod) {
		p.Status.Phase = ph
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "work", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(finishedAt)}}}}
	}
}

func index(i int) podOption {
	return func(p *corev1.Pod) {
		p.Annotations = map[string]string{batchv1.JobCompletionIndexAnnotation: fmt.Sprint(i)}
	}
}

// fixture is a controller whose informer caches are seeded by hand, over a
// fake API holding the same objects, with a clock the test moves.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
	now      time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	n := 0
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		m, _ := meta.Accessor(a.(core.CreateAction).GetObject())
		if m.GetName() == "" {
			mu.Lock()
			n++
			m.SetName(fmt.Sprintf("%sgen%d", m.GetGenerateName(), n))
			mu.Unlock()
		}
		m.SetUID(types.UID("uid-" + m.GetName()))
		return false, nil, nil
	})
	f := &fixture{t: t, client: client, now: start}
	f.factory = informers.NewSharedInformerFactory(client, 0)
	f.recorder = record.NewFakeRecorder(100)
	f.c = New(client, f.factory, f.recorder, WithClock(func() time.Time { return f.now }))
	t.Cleanup(f.c.queue.ShutDown)
	for _, obj := range objs {
		f.cache(obj)
	}
	client.ClearActions()
	return f
}

// cache puts obj in the informer cache, as a watch event would.
func (f *fixture) cache(objs ...runtime.Object) {
	f.t.Helper()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *batchv1.Job:
			err = f.factory.Batch().V1().Jobs().Informer().GetIndexer().Update(o)
		case *corev1.Pod:
			err = f.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
		default:
			f.t.Fatalf("no informer for %T", obj)
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) uncache(pod *corev1.Pod) {
	f.t.Helper()
	if err := f.factory.Core().V1().Pods().Informer().GetIndexer().Delete(pod); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sync(job *batchv1.Job) {
	f.t.Helper()
	if err := f.c.sync(context.Background(), job.Namespace+"/"+job.Name); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// job reads the job from the fake API and puts it in the cache, as the
// informer would once it saw the controller's writes.
func (f *fixture) job(name string) *batchv1.Job {
	f.t.Helper()
	j, err := f.client.BatchV1().Jobs("batch").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cache(j)
	return j
}

// pod reads a pod from the fake API and puts it in the cache.
func (f *fixture) pod(name string) *corev1.Pod {
	f.t.Helper()
	p, err := f.client.CoreV1().Pods("batch").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cache(p)
	return p
}

func (f *fixture) created() []*corev1.Pod {
	var out []*corev1.Pod
	for _, a := range f.client.Actions() {
		if c, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "pods" {
			out = append(out, c.GetObject().(*corev1.Pod))
		}
	}
	return out
}

func (f *fixture) deleted(resource string) []string {
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(core.DeleteAction); ok && a.GetResource().Resource == resource {
			out = append(out, d.GetName())
		}
	}
	return out
}

// verbs lists the actions on resource (with subresource) in order.
func (f *fixture) verbs() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		v := a.GetVerb() + " " + a.GetResource().Resource
		if s := a.GetSubresource(); s != "" {
			v += "/" + s
		}
		out = append(out, v)
	}
	return out
}

func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func TestCreatesPodsUpToParallelismAndRemainingCompletions(t *testing.T) {
	for _, tc := range []struct {
		name        string
		job         *batchv1.Job
		runningPods int
		want        int
	}{
		{name: "parallelism caps the first pods", job: newJob("a", counts(5, 2)), want: 2},
		{name: "remaining completions cap parallelism", job: newJob("a", counts(5, 4), func(j *batchv1.Job) { j.Status.Succeeded = 3 }), want: 2},
		{name: "running pods count", job: newJob("a", counts(5, 3)), runningPods: 2, want: 1},
		{name: "work queue starts parallelism pods", job: newJob("a", func(j *batchv1.Job) { j.Spec.Completions = nil; j.Spec.Parallelism = ptr.To[int32](3) }), want: 3},
		{name: "work queue starts nothing after a success", job: newJob("a", func(j *batchv1.Job) {
			j.Spec.Completions = nil
			j.Spec.Parallelism = ptr.To[int32](3)
			j.Status.Succeeded = 1
		}), runningPods: 1, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.job}
			for i := range tc.runningPods {
				objs = append(objs, newPodOf(tc.job, fmt.Sprintf("run-%d", i)))
			}
			f := newFixture(t, objs...)
			f.sync(tc.job)
			created := f.created()
			if len(created) != tc.want {
				t.Fatalf("created %d pods, want %d", len(created), tc.want)
			}
			for _, p := range created {
				if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
					t.Errorf("pod %s lacks the tracking finalizer: %v", p.Name, p.Finalizers)
				}
				if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != tc.job.UID {
					t.Errorf("pod %s not controlled by the job: %v", p.Name, p.OwnerReferences)
				}
				if p.Labels[batchv1.JobNameLabel] != "a" || !strings.HasPrefix(p.GenerateName, "a-") {
					t.Errorf("pod labels %v generateName %q", p.Labels, p.GenerateName)
				}
			}
			job := f.job("a")
			if job.Status.Active != int32(tc.runningPods+tc.want) {
				t.Errorf("status.active = %d, want %d", job.Status.Active, tc.runningPods+tc.want)
			}
			if job.Status.StartTime == nil || !job.Status.StartTime.Time.Equal(start) {
				t.Errorf("startTime = %v, want %v", job.Status.StartTime, start)
			}
			if tc.want > 0 {
				if ev := f.events(); len(ev) != tc.want || !strings.HasPrefix(ev[0], "Normal SuccessfulCreate Created pod: a-") {
					t.Errorf("events = %q", ev)
				}
			}
			// The cache has not seen the new pods yet: a second sync must not
			// create them again.
			f.client.ClearActions()
			f.sync(job)
			if n := len(f.created()); n != 0 {
				t.Errorf("second sync over a stale cache created %d more pods", n)
			}
		})
	}
}

func TestSucceededPodIsCountedOnceThenCompletes(t *testing.T) {
	job := newJob("a", started(start.Add(-time.Minute)))
	pod := newPodOf(job, "a-1", podPhase(corev1.PodSucceeded, start.Add(-time.Second)))
	f := newFixture(t, job, pod)
	f.sync(job)

	// The success is recorded as uncounted before the finalizer goes, then counted.
	want := []string{"update jobs/status", "patch pods", "update jobs/status"}
	if got := f.verbs(); !slices.Equal(got, want) {
		t.Fatalf("actions = %v, want %v", got, want)
	}
	var first *batchv1.Job
	for _, a := range f.client.Actions() {
		if u, ok := a.(core.UpdateAction); ok && first == nil {
			first = u.GetObject().(*batchv1.Job)
		}
	}
	if u := first.Status.UncountedTerminatedPods; u == nil || !slices.Equal(u.Succeeded, []types.UID{pod.UID}) || first.Status.Succeeded != 0 {
		t.Errorf("first write: uncounted %v succeeded %d, want the pod uncounted", u, first.Status.Succeeded)
	}
	if p := f.pod("a-1"); slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Errorf("finalizer still on the pod: %v", p.Finalizers)
	}
	got := f.job("a")
	if got.Status.Succeeded != 1 || len(got.Status.UncountedTerminatedPods.Succeeded) != 0 {
		t.Errorf("succeeded %d uncounted %v, want 1 and none", got.Status.Succeeded, got.Status.UncountedTerminatedPods)
	}
	for _, ct := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
		c := condition(got, ct)
		if c == nil || c.Reason != batchv1.JobReasonCompletionsReached || c.Message != msgCompletions {
			t.Errorf("condition %s = %+v", ct, c)
		}
	}
	if got.Status.CompletionTime == nil || !got.Status.CompletionTime.Time.Equal(start) {
		t.Errorf("completionTime = %v", got.Status.CompletionTime)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal Completed Job completed") {
		t.Errorf("events = %q", ev)
	}
}

func TestStaleCacheNeverCountsTwice(t *testing.T) {
	job := newJob("a", counts(3, 2), started(start))
	done := newPodOf(job, "a-1", podPhase(corev1.PodSucceeded, start))
	running := newPodOf(job, "a-2")
	f := newFixture(t, job, done, running)
	f.sync(job)
	// The job's writes reach the cache; the pod's finalizer removal does not yet.
	f.job("a")
	f.sync(job)
	f.sync(job)
	if got := f.job("a"); got.Status.Succeeded != 1 {
		t.Errorf("succeeded = %d after syncs over a stale pod, want 1", got.Status.Succeeded)
	}
	// The pod is deleted before the cache ever showed it without the finalizer.
	f.uncache(done)
	f.sync(f.job("a"))
	if got := f.job("a"); got.Status.Succeeded != 1 {
		t.Errorf("succeeded = %d after the pod went, want 1", got.Status.Succeeded)
	}
}

func TestFailedPodsBackOffThenFailTheJob(t *testing.T) {
	job := newJob("a", started(start.Add(-time.Hour)), func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To[int32](1) })
	failed := newPodOf(job, "a-1", podPhase(corev1.PodFailed, start.Add(-4*time.Second)))
	f := newFixture(t, job, failed)

	f.sync(job)
	if n := len(f.created()); n != 0 {
		t.Fatalf("replaced a failed pod 4s after it failed, before the 10s back-off")
	}
	got := f.job("a")
	if got.Status.Failed != 1 || condition(got, batchv1.JobFailureTarget) != nil {
		t.Fatalf("failed = %d conditions %v, want 1 failure and no verdict yet", got.Status.Failed, got.Status.Conditions)
	}

	f.uncache(failed) // its finalizer is gone, so it went
	f.client.ClearActions()
	f.now = start.Add(7 * time.Second)
	f.sync(got)
	created := f.created()
	if len(created) != 1 {
		t.Fatalf("created %d pods after the back-off, want 1", len(created))
	}

	// The replacement fails too: 2 failures > backoffLimit 1.
	replacement := f.pod("a-gen1") // as the fake API names it
	replacement.Status.Phase = corev1.PodFailed
	f.cache(replacement)
	f.client.ClearActions()
	f.sync(f.job("a"))
	got = f.job("a")
	for _, ct := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
		c := condition(got, ct)
		if c == nil || c.Reason != batchv1.JobReasonBackoffLimitExceeded || c.Message != "Job has reached the specified backoff limit" {
			t.Errorf("condition %s = %+v", ct, c)
		}
	}
	if got.Status.Failed != 2 || got.Status.CompletionTime != nil {
		t.Errorf("failed = %d completionTime %v, want 2 and none", got.Status.Failed, got.Status.CompletionTime)
	}
	if ev := f.events(); !slices.Contains(ev, "Warning BackoffLimitExceeded Job has reached the specified backoff limit") {
		t.Errorf("events = %q", ev)
	}
}

func TestBackoffDoubles(t *testing.T) {
	b := newBackoffStore()
	var pods []*corev1.Pod
	for i := range 3 {
		pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint(i)}})
		podPhase(corev1.PodFailed, start)(pods[i])
	}
	b.record("k", pods, start)
	if got := b.remaining("k", 10*time.Second, time.Minute, start); got != 40*time.Second {
		t.Errorf("after 3 failures: wait %v, want 40s", got)
	}
	if got := b.remaining("k", 10*time.Second, 30*time.Second, start.Add(5*time.Second)); got != 25*time.Second {
		t.Errorf("capped: wait %v, want 25s", got)
	}
	ok := &corev1.Pod{}
	podPhase(corev1.PodSucceeded, start.Add(time.Second))(ok)
	b.record("k", []*corev1.Pod{ok}, start)
	if got := b.remaining("k", 10*time.Second, time.Minute, start); got != 0 {
		t.Errorf("after a success: wait %v, want none", got)
	}
}

func TestActiveDeadlineFailsTheJob(t *testing.T) {
	job := newJob("a", started(start.Add(-2*time.Minute)), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) })
	running := newPodOf(job, "a-1")
	f := newFixture(t, job, running)
	f.sync(job)
	if got := f.deleted("pods"); !slices.Equal(got, []string{"a-1"}) {
		t.Fatalf("deleted %v, want the running pod", got)
	}
	got := f.job("a")
	if c := condition(got, batchv1.JobFailureTarget); c == nil || c.Reason != batchv1.JobReasonDeadlineExceeded {
		t.Fatalf("FailureTarget = %+v", c)
	}
	if condition(got, batchv1.JobFailed) != nil {
		t.Fatalf("Failed before its pod terminated")
	}
	// The pod terminates, its finalizer keeping it until counted.
	running.DeletionTimestamp = &metav1.Time{Time: start}
	running.Status.Phase = corev1.PodFailed
	f.cache(running)
	f.sync(got)
	got = f.job("a")
	if c := condition(got, batchv1.JobFailed); c == nil || c.Reason != batchv1.JobReasonDeadlineExceeded || c.Message != msgDeadline {
		t.Errorf("Failed = %+v", c)
	}
	if got.Status.Failed != 1 || got.Status.Active != 0 {
		t.Errorf("failed %d active %d, want 1 and 0", got.Status.Failed, got.Status.Active)
	}
	if ev := f.events(); !slices.Contains(ev, "Warning DeadlineExceeded Job was active longer than specified deadline") {
		t.Errorf("events = %q", ev)
	}
}

func TestIndexedJob(t *testing.T) {
	job := newJob("idx", counts(4, 3), started(start), func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Status.CompletedIndexes, j.Status.Succeeded = "1", 1
	})
	f := newFixture(t, job, newPodOf(job, "idx-0-x", index(0), podPhase(corev1.PodSucceeded, start)))
	f.sync(job)

	var got []string
	for _, p := range f.created() {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		got = append(got, ix)
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "idx-"+ix || p.GenerateName != "idx-"+ix+"-" {
			t.Errorf("pod for index %s: labels %v hostname %q generateName %q", ix, p.Labels, p.Spec.Hostname, p.GenerateName)
		}
		env := p.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
			t.Errorf("env = %+v", env)
		}
	}
	slices.Sort(got)
	// Index 0 has just succeeded and 1 had: the two others run.
	if !slices.Equal(got, []string{"2", "3"}) {
		t.Errorf("created pods for indexes %v, want [2 3]", got)
	}
	j := f.job("idx")
	if j.Status.CompletedIndexes != "0,1" || j.Status.Succeeded != 2 {
		t.Errorf("completedIndexes %q succeeded %d, want \"0,1\" and 2", j.Status.CompletedIndexes, j.Status.Succeeded)
	}
}

func TestIndexes(t *testing.T) {
	x := parseIndexes("0,2-4,9,x,7-,6,7", 8)
	if got := x.String(); got != "0,2-4,6,7" {
		t.Errorf("parsed %v", got)
	}
	if got := x.with(1, 5).String(); got != "0-7" {
		t.Errorf("with = %s", got)
	}
}

func TestSuspendDeletesPodsWithoutCountingThem(t *testing.T) {
	job := newJob("a", counts(2, 2), started(start), func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })
	f := newFixture(t, job, newPodOf(job, "a-1"), newPodOf(job, "a-2"))
	f.sync(job)
	if got := f.deleted("pods"); len(got) != 2 {
		t.Fatalf("deleted %v, want both pods", got)
	}
	for _, n := range []string{"a-1", "a-2"} {
		if _, err := f.client.CoreV1().Pods("batch").Get(context.Background(), n, metav1.GetOptions{}); err == nil {
			t.Errorf("pod %s still there", n)
		}
	}
	got := f.job("a")
	if c := condition(got, batchv1.JobSuspended); c == nil || c.Reason != "JobSuspended" {
		t.Errorf("Suspended = %+v", c)
	}
	if got.Status.Active != 0 || got.Status.Failed != 0 || got.Status.StartTime != nil {
		t.Errorf("active %d failed %d startTime %v, want 0, 0, none", got.Status.Active, got.Status.Failed, got.Status.StartTime)
	}
}

func TestTTLAfterFinished(t *testing.T) {
	finished := func(ago time.Duration) jobOption {
		return func(j *batchv1.Job) {
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](60)
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(start.Add(-ago))}}
			j.Status.CompletionTime = &metav1.Time{Time: start.Add(-ago)}
		}
	}
	t.Run("expired", func(t *testing.T) {
		job := newJob("a", finished(2*time.Minute))
		f := newFixture(t, job)
		f.sync(job)
		var del core.DeleteAction
		for _, a := range f.client.Actions() {
			if d, ok := a.(core.DeleteAction); ok {
				del = d
			}
		}
		if del == nil || del.GetName() != "a" {
			t.Fatalf("actions %v, want the job deleted", f.verbs())
		}
		o := del.GetDeleteOptions()
		if o.PropagationPolicy == nil || *o.PropagationPolicy != metav1.DeletePropagationBackground || o.Preconditions == nil || *o.Preconditions.UID != job.UID {
			t.Errorf("delete options %+v", o)
		}
	})
	t.Run("not yet", func(t *testing.T) {
		job := newJob("a", finished(30*time.Second))
		f := newFixture(t, job)
		f.sync(job)
		if got := f.deleted("jobs"); len(got) != 0 {
			t.Errorf("deleted %v 30s into a 60s TTL", got)
		}
	})
}

func TestOrphanPodLosesFinalizer(t *testing.T) {
	job := newJob("gone")
	pod := newPodOf(job, "gone-1", podPhase(corev1.PodSucceeded, start))
	f := newFixture(t, pod)
	if err := f.c.sync(context.Background(), orphanPrefix+"batch/gone-1"); err != nil {
		t.Fatal(err)
	}
	if p := f.pod("gone-1"); len(p.Finalizers) != 0 {
		t.Errorf("finalizers = %v, want none once the job is gone", p.Finalizers)
	}
}

func TestAdoptsOrphanWithFinalizer(t *testing.T) {
	job := newJob("a", counts(2, 2), started(start))
	orphan := newPodOf(job, "stray", func(p *corev1.Pod) { p.OwnerReferences, p.Finalizers = nil, nil })
	f := newFixture(t, job, orphan)
	f.sync(job)
	p := f.pod("stray")
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != job.UID {
		t.Errorf("owners %v, want the job", p.OwnerReferences)
	}
	if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Errorf("finalizers %v, want the tracking one", p.Finalizers)
	}
	if n := len(f.created()); n != 1 {
		t.Errorf("created %d pods beside the adopted one, want 1", n)
	}
}

func TestLowerParallelismDeletesPodsWithoutCountingThem(t *testing.T) {
	job := newJob("a", counts(5, 1), started(start))
	f := newFixture(t, job, newPodOf(job, "a-1"), newPodOf(job, "a-2"), newPodOf(job, "a-3"))
	f.sync(job)
	deleted := f.deleted("pods")
	if len(deleted) != 2 {
		t.Fatalf("deleted %v, want 2 pods", deleted)
	}
	// Each loses its finalizer before it goes, and the cache then shows it
	// going with the finalizer still on (stale): never a failure.
	for _, n := range deleted {
		p := newPodOf(job, n, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: start} })
		f.cache(p)
	}
	f.sync(f.job("a"))
	if got := f.job("a"); got.Status.Failed != 0 || got.Status.Active != 1 {
		t.Errorf("failed %d active %d, want 0 and 1", got.Status.Failed, got.Status.Active)
	}
}

func TestPodFailurePolicy(t *testing.T) {
	withPolicy := func(j *batchv1.Job) {
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
			{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		}}
		j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
	}
	exitCode := func(code int32) podOption {
		return func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State.Terminated.ExitCode = code }
	}
	t.Run("FailJob", func(t *testing.T) {
		job := newJob("a", withPolicy, started(start))
		f := newFixture(t, job, newPodOf(job, "a-1", podPhase(corev1.PodFailed, start), exitCode(42)))
		f.sync(job)
		got := f.job("a")
		want := "Container work for pod batch/a-1 failed with exit code 42 matching FailJob rule at index 0"
		for _, ct := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobFailed} {
			if c := condition(got, ct); c == nil || c.Reason != batchv1.JobReasonPodFailurePolicy || c.Message != want {
				t.Errorf("condition %s = %+v", ct, c)
			}
		}
		if n := len(f.created()); n != 0 {
			t.Errorf("replaced a pod that failed the job")
		}
	})
	t.Run("Ignore", func(t *testing.T) {
		job := newJob("a", withPolicy, started(start))
		f := newFixture(t, job, newPodOf(job, "a-1", podPhase(corev1.PodFailed, start), exitCode(137), func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
		}))
		f.sync(job)
		got := f.job("a")
		if got.Status.Failed != 0 || len(got.Status.Conditions) != 0 {
			t.Errorf("failed %d conditions %v, want an ignored failure", got.Status.Failed, got.Status.Conditions)
		}
		if p := f.pod("a-1"); len(p.Finalizers) != 0 {
			t.Errorf("ignored pod keeps finalizers %v", p.Finalizers)
		}
		if n := len(f.created()); n != 1 {
			t.Errorf("created %d replacements, want 1 at once (no back-off for an ignored failure)", n)
		}
	})
}

func TestResumeRestartsTheClock(t *testing.T) {
	job := newJob("a", counts(2, 2), func(j *batchv1.Job) {
		j.Spec.ActiveDeadlineSeconds = ptr.To[int64](60)
		j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue, Reason: "JobSuspended"}}
	})
	f := newFixture(t, job)
	f.now = start.Add(time.Hour)
	f.sync(job)
	got := f.job("a")
	var c *batchv1.JobCondition
	for i := range got.Status.Conditions {
		if got.Status.Conditions[i].Type == batchv1.JobSuspended {
			c = &got.Status.Conditions[i]
		}
	}
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "JobResumed" {
		t.Errorf("Suspended = %+v, want False/JobResumed", c)
	}
	if got.Status.StartTime == nil || !got.Status.StartTime.Time.Equal(f.now) {
		t.Errorf("startTime %v, want %v", got.Status.StartTime, f.now)
	}
	if n := len(f.created()); n != 2 {
		t.Errorf("created %d pods on resume, want 2", n)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal Resumed Job resumed") {
		t.Errorf("events %q", ev)
	}
}

func TestActiveDeadlineNotYetReached(t *testing.T) {
	job := newJob("a", started(start.Add(-30*time.Second)), func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) })
	f := newFixture(t, job, newPodOf(job, "a-1"))
	f.sync(job)
	if got := f.deleted("pods"); len(got) != 0 {
		t.Errorf("deleted %v 30s into a 60s deadline", got)
	}
	if got := f.job("a"); len(got.Status.Conditions) != 0 {
		t.Errorf("conditions %v", got.Status.Conditions)
	}
}

func TestRestartsInPlaceCountTowardsBackoffLimit(t *testing.T) {
	for _, tc := range []struct {
		restarts int32
		fail     bool
	}{{restarts: 1, fail: false}, {restarts: 2, fail: true}} {
		t.Run(fmt.Sprintf("%d restarts", tc.restarts), func(t *testing.T) {
			job := newJob("a", started(start), func(j *batchv1.Job) {
				j.Spec.BackoffLimit = ptr.To[int32](2)
				j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			})
			f := newFixture(t, job, newPodOf(job, "a-1", func(p *corev1.Pod) {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "work", RestartCount: tc.restarts}}
			}))
			f.sync(job)
			c := condition(f.job("a"), batchv1.JobFailureTarget)
			if (c != nil) != tc.fail || c != nil && c.Reason != batchv1.JobReasonBackoffLimitExceeded {
				t.Errorf("FailureTarget = %+v, want failing %v", c, tc.fail)
			}
		})
	}
}

func TestSuccessPolicyEndsTheJobEarly(t *testing.T) {
	job := newJob("idx", counts(3, 3), started(start), func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
			{SucceededIndexes: ptr.To("1-2")},
			{SucceededIndexes: ptr.To("0-2"), SucceededCount: ptr.To[int32](1)},
		}}
	})
	leader := newPodOf(job, "idx-0", index(0), podPhase(corev1.PodSucceeded, start))
	worker := newPodOf(job, "idx-1", index(1))
	f := newFixture(t, job, leader, worker)
	f.sync(job)
	if got := f.deleted("pods"); !slices.Equal(got, []string{"idx-1"}) {
		t.Fatalf("deleted %v, want the lingering worker", got)
	}
	got := f.job("idx")
	if c := condition(got, batchv1.JobSuccessCriteriaMet); c == nil || c.Reason != batchv1.JobReasonSuccessPolicy || c.Message != "Matched rules at index 1" {
		t.Fatalf("SuccessCriteriaMet = %+v", c)
	}
	if condition(got, batchv1.JobComplete) != nil {
		t.Fatalf("Complete while a pod still terminates")
	}
	f.uncache(worker)
	f.sync(got)
	got = f.job("idx")
	if c := condition(got, batchv1.JobComplete); c == nil || c.Reason != batchv1.JobReasonSuccessPolicy {
		t.Errorf("Complete = %+v", c)
	}
	if got.Status.Failed != 0 || got.Status.Succeeded != 1 {
		t.Errorf("failed %d succeeded %d, want 0 and 1", got.Status.Failed, got.Status.Succeeded)
	}
}

func TestOrphanOfARunningJobKeepsFinalizer(t *testing.T) {
	job := newJob("a")
	pod := newPodOf(job, "a-1", podPhase(corev1.PodSucceeded, start))
	// The job exists in the API but not yet in the cache.
	f := newFixture(t, pod)
	if _, err := f.client.BatchV1().Jobs("batch").Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.c.sync(context.Background(), orphanPrefix+"batch/a-1"); err != nil {
		t.Fatal(err)
	}
	if p := f.pod("a-1"); !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Errorf("finalizer removed while its job still runs")
	}
}

func TestBackoffLimitPerIndex(t *testing.T) {
	perIndexJob := func(opts ...jobOption) *batchv1.Job {
		return newJob("idx", append([]jobOption{counts(2, 2), started(start.Add(-time.Hour)), func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
			j.Spec.BackoffLimit = ptr.To[int32](math.MaxInt32)
		}}, opts...)...)
	}
	failedBefore := func(n int) podOption {
		return func(p *corev1.Pod) { p.Annotations[indexFailureCountAnnotation] = fmt.Sprint(n) }
	}
	failed := podPhase(corev1.PodFailed, start.Add(-time.Minute))

	t.Run("first failure retries the index", func(t *testing.T) {
		job := perIndexJob()
		f := newFixture(t, job, newPodOf(job, "idx-0-a", index(0), failedBefore(0), failed), newPodOf(job, "idx-1-a", index(1)))
		f.sync(job)
		c := f.created()
		if len(c) != 1 || c[0].Annotations[batchv1.JobCompletionIndexAnnotation] != "0" || c[0].Annotations[indexFailureCountAnnotation] != "1" {
			t.Fatalf("created %v, want one pod for index 0 that knows of 1 failure", c)
		}
		if got := f.job("idx"); ptr.Deref(got.Status.FailedIndexes, "?") != "" || got.Status.Failed != 1 {
			t.Errorf("failedIndexes %v failed %d, want none and 1", got.Status.FailedIndexes, got.Status.Failed)
		}
	})
	t.Run("second failure fails the index", func(t *testing.T) {
		job := perIndexJob()
		f := newFixture(t, job, newPodOf(job, "idx-0-b", index(0), failedBefore(1), failed), newPodOf(job, "idx-1-a", index(1)))
		f.sync(job)
		if n := len(f.created()); n != 0 {
			t.Errorf("created %d pods for a failed index", n)
		}
		got := f.job("idx")
		if ptr.Deref(got.Status.FailedIndexes, "") != "0" || len(got.Status.Conditions) != 0 {
			t.Errorf("failedIndexes %v conditions %v, want \"0\" and the job still running", got.Status.FailedIndexes, got.Status.Conditions)
		}
	})
	t.Run("the job fails once every index is done", func(t *testing.T) {
		job := perIndexJob(func(j *batchv1.Job) { j.Status.FailedIndexes = ptr.To("0") })
		f := newFixture(t, job, newPodOf(job, "idx-1-a", index(1), podPhase(corev1.PodSucceeded, start)))
		f.sync(job)
		c := condition(f.job("idx"), batchv1.JobFailed)
		if c == nil || c.Reason != batchv1.JobReasonFailedIndexes || c.Message != "Job has failed indexes" {
			t.Errorf("Failed = %+v", c)
		}
	})
	t.Run("maxFailedIndexes", func(t *testing.T) {
		job := perIndexJob(func(j *batchv1.Job) { j.Spec.MaxFailedIndexes = ptr.To[int32](0) })
		f := newFixture(t, job, newPodOf(job, "idx-0-b", index(0), failedBefore(1), failed), newPodOf(job, "idx-1-a", index(1)))
		f.sync(job)
		if got := f.deleted("pods"); !slices.Equal(got, []string{"idx-1-a"}) {
			t.Errorf("deleted %v, want the running index", got)
		}
		c := condition(f.job("idx"), batchv1.JobFailureTarget)
		if c == nil || c.Reason != batchv1.JobReasonMaxFailedIndexesExceeded {
			t.Errorf("FailureTarget = %+v", c)
		}
	})
	t.Run("an index backs off on its own", func(t *testing.T) {
		job := perIndexJob()
		// Index 0 failed 1s ago after one earlier failure: 20s to wait.
		f := newFixture(t, job, newPodOf(job, "idx-0-a", index(0), func(p *corev1.Pod) {
			p.Annotations[indexIgnoredFailureCountAnnotation] = "1"
		}, podPhase(corev1.PodFailed, start.Add(-time.Second))))
		f.sync(job)
		c := f.created()
		if len(c) != 1 || c[0].Annotations[batchv1.JobCompletionIndexAnnotation] != "1" {
			t.Errorf("created %v, want index 1 alone while index 0 backs off", c)
		}
	})
}
