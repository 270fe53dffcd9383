package cronjob

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// noon is a Friday, in May (Paris is UTC+2).
var noon = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type cronOption func(*batchv1.CronJob)

func newCronJob(schedule string, opts ...cronOption) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{
			Name: "backup", Namespace: "ops", UID: "uid-backup", ResourceVersion: "1",
			CreationTimestamp: metav1.NewTime(noon.Add(-90 * time.Minute)),
		},
		Spec: batchv1.CronJobSpec{
			Schedule:                   schedule,
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptr.To(false),
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "backup"}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyOnFailure,
					Containers:    []corev1.Container{{Name: "dump", Image: "busybox"}},
				}}},
			},
		},
	}
	for _, o := range opts {
		o(cj)
	}
	return cj
}

func lastScheduled(t time.Time) cronOption {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: t} }
}

func policy(p batchv1.ConcurrencyPolicy) cronOption {
	return func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = p }
}

// jobOf is a Job cj started at scheduled, running unless finished says how it ended.
func jobOf(cj *batchv1.CronJob, scheduled time.Time, finished batchv1.JobConditionType) *batchv1.Job {
	name := jobName(cj, scheduled)
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace, UID: types.UID("uid-" + name), ResourceVersion: "1",
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: scheduled}},
	}
	if finished != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: finished, Status: corev1.ConditionTrue}}
		if finished == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: scheduled.Add(time.Minute)}
		}
	}
	return j
}

// active lists jobs in cj's status.active.
func active(jobs ...*batchv1.Job) cronOption {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, reference(j))
		}
	}
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
}

func newFixture(t *testing.T, now time.Time, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := &fixture{t: t, client: client, factory: informers.NewSharedInformerFactory(client, 0), recorder: record.NewFakeRecorder(100)}
	f.c = New(client, f.factory, f.recorder, WithClock(func() time.Time { return now }))
	t.Cleanup(f.c.queue.ShutDown)
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *batchv1.CronJob:
			err = f.factory.Batch().V1().CronJobs().Informer().GetIndexer().Add(o)
		case *batchv1.Job:
			err = f.factory.Batch().V1().Jobs().Informer().GetIndexer().Add(o)
		default:
			t.Fatalf("no informer for %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	client.ClearActions()
	return f
}

func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "ops/backup"); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

func (f *fixture) cronJob() *batchv1.CronJob {
	f.t.Helper()
	cj, err := f.client.BatchV1().CronJobs("ops").Get(context.Background(), "backup", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cj
}

func (f *fixture) created() []*batchv1.Job {
	var out []*batchv1.Job
	for _, a := range f.client.Actions() {
		if c, ok := a.(core.CreateAction); ok && a.GetResource().Resource == "jobs" {
			out = append(out, c.GetObject().(*batchv1.Job))
		}
	}
	return out
}

func (f *fixture) deleted() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if d, ok := a.(core.DeleteAction); ok && a.GetResource().Resource == "jobs" {
			if p := d.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
				f.t.Errorf("job %s deleted without background propagation", d.GetName())
			}
			out = append(out, d.GetName())
		}
	}
	slices.Sort(out)
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

func hasEvent(events []string, prefix string) bool {
	return slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, prefix) })
}

func TestCreatesTheJobAtItsScheduledTime(t *testing.T) {
	t.Run("due", func(t *testing.T) {
		cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)))
		f := newFixture(t, noon.Add(30*time.Second), cj)
		f.sync()
		created := f.created()
		if len(created) != 1 {
			t.Fatalf("created %d jobs, want 1", len(created))
		}
		j := created[0]
		if want := fmt.Sprintf("backup-%d", noon.Unix()/60); j.Name != want {
			t.Errorf("job name %q, want %q", j.Name, want)
		}
		if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-05-01T12:00:00Z" {
			t.Errorf("scheduled-timestamp annotation %q", got)
		}
		if ref := metav1.GetControllerOf(j); ref == nil || ref.UID != cj.UID || j.Labels["app"] != "backup" {
			t.Errorf("owner %v labels %v", j.OwnerReferences, j.Labels)
		}
		got := f.cronJob()
		if len(got.Status.Active) != 1 || got.Status.Active[0].Name != j.Name || !got.Status.LastScheduleTime.Time.Equal(noon) {
			t.Errorf("status %+v", got.Status)
		}
		if ev := f.events(); !slices.Contains(ev, "Normal SuccessfulCreate Created job "+j.Name) {
			t.Errorf("events %q", ev)
		}
		if f.c.queue.Len() != 0 {
			t.Errorf("queue holds a key now; want it requeued for 13:00 only")
		}
	})
	t.Run("not yet", func(t *testing.T) {
		cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)))
		f := newFixture(t, noon.Add(-time.Second), cj)
		f.sync()
		if n := len(f.created()); n != 0 {
			t.Errorf("created %d jobs a second early", n)
		}
	})
	t.Run("already started", func(t *testing.T) {
		cj := newCronJob("0 * * * *", lastScheduled(noon))
		f := newFixture(t, noon.Add(time.Minute), cj)
		f.sync()
		if n := len(f.created()); n != 0 {
			t.Errorf("created %d jobs for a time already served", n)
		}
	})
	t.Run("suspended", func(t *testing.T) {
		cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)), func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) })
		f := newFixture(t, noon.Add(time.Minute), cj)
		f.sync()
		if n := len(f.created()); n != 0 {
			t.Errorf("a suspended cronjob created %d jobs", n)
		}
	})
}

func TestConcurrencyPolicy(t *testing.T) {
	cj := newCronJob("0 * * * *")
	running := jobOf(cj, noon.Add(-time.Hour), "")
	t.Run("Forbid skips while a job runs", func(t *testing.T) {
		cj := newCronJob("0 * * * *", policy(batchv1.ForbidConcurrent), lastScheduled(noon.Add(-time.Hour)), active(running))
		f := newFixture(t, noon.Add(time.Second), cj, running)
		f.sync()
		if n := len(f.created()); n != 0 {
			t.Errorf("created %d jobs while one runs", n)
		}
		if ev := f.events(); !hasEvent(ev, "Normal JobAlreadyActive") {
			t.Errorf("events %q", ev)
		}
	})
	t.Run("Allow runs side by side", func(t *testing.T) {
		cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)), active(running))
		f := newFixture(t, noon.Add(time.Second), cj, running)
		f.sync()
		if n := len(f.created()); n != 1 {
			t.Errorf("created %d jobs, want 1", n)
		}
		if got := f.cronJob(); len(got.Status.Active) != 2 {
			t.Errorf("active %v, want both jobs", got.Status.Active)
		}
	})
	t.Run("Replace deletes the running job", func(t *testing.T) {
		cj := newCronJob("0 * * * *", policy(batchv1.ReplaceConcurrent), lastScheduled(noon.Add(-time.Hour)), active(running))
		f := newFixture(t, noon.Add(time.Second), cj, running)
		f.sync()
		if got := f.deleted(); !slices.Equal(got, []string{running.Name}) {
			t.Errorf("deleted %v, want %s", got, running.Name)
		}
		if n := len(f.created()); n != 1 {
			t.Errorf("created %d jobs, want 1", n)
		}
		got := f.cronJob()
		if len(got.Status.Active) != 1 || got.Status.Active[0].Name != jobName(cj, noon) {
			t.Errorf("active %v, want the new job alone", got.Status.Active)
		}
		if ev := f.events(); !slices.Contains(ev, "Normal SuccessfulDelete Deleted job "+running.Name) {
			t.Errorf("events %q", ev)
		}
	})
}

func TestFinishedJobsLeaveActiveAndHistoryIsTrimmed(t *testing.T) {
	var objs []runtime.Object
	cj := newCronJob("0 * * * *", lastScheduled(noon), func(cj *batchv1.CronJob) {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2)
		cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](0)
	})
	var jobs []*batchv1.Job
	for h := 5; h >= 1; h-- {
		end := batchv1.JobComplete
		if h == 3 {
			end = batchv1.JobFailed
		}
		jobs = append(jobs, jobOf(cj, noon.Add(-time.Duration(h)*time.Hour), end))
	}
	latest := jobOf(cj, noon, batchv1.JobComplete)
	jobs = append(jobs, latest)
	active(latest)(cj)
	objs = append(objs, cj)
	for _, j := range jobs {
		objs = append(objs, j)
	}
	f := newFixture(t, noon.Add(10*time.Minute), objs...)
	f.sync()
	// Successes at 7, 8, 10, 11 and 12 o'clock keep the last two; the failure at 9 goes.
	want := []string{jobs[0].Name, jobs[1].Name, jobs[2].Name, jobs[3].Name}
	slices.Sort(want)
	if got := f.deleted(); !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	got := f.cronJob()
	if len(got.Status.Active) != 0 {
		t.Errorf("active %v, want the finished job gone", got.Status.Active)
	}
	if got.Status.LastSuccessfulTime == nil || !got.Status.LastSuccessfulTime.Time.Equal(noon.Add(time.Minute)) {
		t.Errorf("lastSuccessfulTime %v", got.Status.LastSuccessfulTime)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal SawCompletedJob Saw completed job: "+latest.Name+", condition: Complete") {
		t.Errorf("events %q", ev)
	}
}

func TestStartingDeadline(t *testing.T) {
	deadline := func(s int64) cronOption {
		return func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To(s) }
	}
	t.Run("missed", func(t *testing.T) {
		cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)), deadline(60))
		f := newFixture(t, noon.Add(5*time.Minute), cj)
		f.sync()
		if n := len(f.created()); n != 0 {
			t.Errorf("created %d jobs five minutes late with a one-minute deadline", n)
		}
		if ev := f.events(); !slices.Contains(ev, "Warning MissSchedule Missed scheduled time to start a job: Fri, 01 May 2026 12:00:00 +0000") {
			t.Errorf("events %q", ev)
		}
		if got := f.cronJob(); !got.Status.LastScheduleTime.Time.Equal(noon.Add(-time.Hour)) {
			t.Errorf("lastScheduleTime moved to %v", got.Status.LastScheduleTime)
		}
	})
	t.Run("within", func(t *testing.T) {
		cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)), deadline(600))
		f := newFixture(t, noon.Add(5*time.Minute), cj)
		f.sync()
		if n := len(f.created()); n != 1 {
			t.Errorf("created %d jobs five minutes late with a ten-minute deadline, want 1", n)
		}
	})
}

func TestTooManyMissedStartTimes(t *testing.T) {
	cj := newCronJob("* * * * *", lastScheduled(noon.Add(-72*time.Hour)))
	f := newFixture(t, noon.Add(30*time.Second), cj)
	f.sync()
	if ev := f.events(); !hasEvent(ev, "Warning TooManyMissedTimes too many missed start times") {
		t.Errorf("events %q", ev)
	}
	// It still starts the most recent one only.
	if c := f.created(); len(c) != 1 || c[0].Name != jobName(cj, noon) {
		t.Errorf("created %v, want the noon job alone", c)
	}
}

func TestTimeZone(t *testing.T) {
	for _, tc := range []struct {
		name string
		cj   *batchv1.CronJob
	}{
		{name: "timeZone", cj: newCronJob("0 9 * * *", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Europe/Paris") })},
		{name: "CRON_TZ", cj: newCronJob("CRON_TZ=Europe/Paris 0 9 * * *")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cj.CreationTimestamp = metav1.NewTime(noon.Add(-24 * time.Hour))
			nineParis := time.Date(2026, 5, 1, 7, 0, 0, 0, time.UTC)
			f := newFixture(t, nineParis.Add(-time.Minute), tc.cj)
			f.sync()
			if n := len(f.created()); n != 0 {
				t.Fatalf("created %d jobs at 08:59 Paris time", n)
			}
			f = newFixture(t, nineParis.Add(time.Minute), tc.cj)
			f.sync()
			c := f.created()
			if len(c) != 1 || c[0].Name != jobName(tc.cj, nineParis) {
				t.Fatalf("created %v, want %s", c, jobName(tc.cj, nineParis))
			}
			want := "2026-05-01T07:00:00Z"
			if tc.cj.Spec.TimeZone != nil {
				want = "2026-05-01T09:00:00+02:00"
			}
			if got := c[0].Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != want {
				t.Errorf("annotation %q, want %q", got, want)
			}
		})
	}
}

func TestUnknownTimeZoneStartsNothing(t *testing.T) {
	cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)), func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus") })
	f := newFixture(t, noon.Add(time.Minute), cj)
	f.sync()
	if n := len(f.created()); n != 0 {
		t.Errorf("created %d jobs", n)
	}
	if ev := f.events(); !hasEvent(ev, "Warning UnknownTimeZone") {
		t.Errorf("events %q", ev)
	}
}

func TestMissingActiveJobIsForgotten(t *testing.T) {
	cj := newCronJob("0 * * * *")
	gone := jobOf(cj, noon.Add(-time.Hour), "")
	cj = newCronJob("0 * * * *", lastScheduled(noon), active(gone))
	f := newFixture(t, noon.Add(time.Minute), cj)
	f.sync()
	if got := f.cronJob(); len(got.Status.Active) != 0 {
		t.Errorf("active %v, want the vanished job dropped", got.Status.Active)
	}
	if _, err := f.client.BatchV1().Jobs("ops").Get(context.Background(), gone.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("test setup: %v", err)
	}
}

func TestUnmetScheduleWalksBackFromNow(t *testing.T) {
	cj := newCronJob("30 6-16/4 * * 1-5", lastScheduled(noon.Add(-365*24*time.Hour)))
	sched, err := schedule(cj)
	if err != nil {
		t.Fatal(err)
	}
	m, err := unmetSchedule(cj, sched, noon)
	if err != nil {
		t.Fatal(err)
	}
	// Friday 1 May 2026: 06:30 and 10:30 have passed, 14:30 has not.
	if want := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC); m.latest == nil || !m.latest.Equal(want) || m.count <= tooManyMissed {
		t.Errorf("latest %v count %d, want %v and more than %d", m.latest, m.count, want, tooManyMissed)
	}
}

func TestUnexpectedJob(t *testing.T) {
	cj := newCronJob("0 * * * *", lastScheduled(noon))
	stray := jobOf(cj, noon.Add(-time.Hour), "")
	f := newFixture(t, noon.Add(time.Minute), cj, stray)
	f.sync()
	if ev := f.events(); !slices.Contains(ev, "Warning UnexpectedJob Saw a job that the controller did not create or forgot: "+stray.Name) {
		t.Errorf("events %q", ev)
	}
}
