package cronjob

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

// TestRunSeesItsJobFinish runs the controller with live informers: the Job it
// starts finishing must wake it to update the CronJob's status.
func TestRunSeesItsJobFinish(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cj := newCronJob("0 * * * *", lastScheduled(noon.Add(-time.Hour)))
	client := fake.NewClientset(cj)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, record.NewFakeRecorder(100), WithClock(func() time.Time { return noon.Add(time.Second) }))
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 1)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})

	poll := func(what string, ok func(*batchv1.CronJob) bool) {
		t.Helper()
		var last *batchv1.CronJob
		// The timeout only bounds a failing test.
		err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			var err error
			last, err = client.BatchV1().CronJobs("ops").Get(ctx, "backup", metav1.GetOptions{})
			return err == nil && ok(last), err
		})
		if err != nil {
			t.Fatalf("waiting for %s: %v; status %+v", what, err, last.Status)
		}
	}
	poll("the job to start", func(cj *batchv1.CronJob) bool { return len(cj.Status.Active) == 1 })

	name := fmt.Sprintf("backup-%d", noon.Unix()/60)
	job, err := client.BatchV1().Jobs("ops").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	end := metav1.NewTime(noon.Add(time.Minute))
	job.Status.StartTime = &metav1.Time{Time: noon}
	job.Status.CompletionTime = &end
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	// The fake API keeps resourceVersions as given; informers drop an update
	// that keeps it as a mere resync.
	job.ResourceVersion = "2"
	if _, err := client.BatchV1().Jobs("ops").UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("the finished job to leave status.active", func(cj *batchv1.CronJob) bool {
		return len(cj.Status.Active) == 0 && cj.Status.LastSuccessfulTime != nil && cj.Status.LastSuccessfulTime.Equal(&end)
	})
}
