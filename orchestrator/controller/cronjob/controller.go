// Package cronjob is the controller that starts a CronJob's Jobs on its
// schedule, as upstream's CronJob controller (v2) does: at each scheduled time
// (standard cron, in spec.timeZone or a CRON_TZ= prefix) it creates the Job
// "<cronjob>-<scheduled unix minutes>" from the job template, honours suspend,
// startingDeadlineSeconds and the concurrency policy (Allow, Forbid, Replace),
// keeps status.active, lastScheduleTime and lastSuccessfulTime, deletes the
// finished Jobs beyond the history limits, and sleeps until the next
// scheduled time.
//
// It writes Jobs and the status of CronJobs; it must not run pods (that is the
// Job controller's business), change a CronJob's spec, or touch Jobs it does
// not control.
package cronjob

import (
	"context"
	"log/slog"
	"time"
	_ "time/tzdata" // CronJob time zones resolve as validation resolved them, without the host's zoneinfo

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// controllerKind is the kind of the owner references on the Jobs.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller starts the Jobs of CronJobs.
type Controller struct {
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	recorder record.EventRecorder
	queue    workqueue.TypedRateLimitingInterface[string]
	synced   []cache.InformerSynced
	now      func() time.Time
	log      *slog.Logger
}

// Option configures a Controller.
type Option func(*Controller)

// WithClock makes the controller read the time from now (tests).
func WithClock(now func() time.Time) Option {
	return func(c *Controller) { c.now = now }
}

// New returns the CronJob controller. It registers the informers it needs
// with f: start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) *Controller {
	cronJobs, jobs := f.Batch().V1().CronJobs(), f.Batch().V1().Jobs()
	c := &Controller{
		client:   client,
		cronJobs: cronJobs.Lister(),
		jobs:     jobs.Lister(),
		recorder: recorder,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob"}),
		synced: []cache.InformerSynced{cronJobs.Informer().HasSynced, jobs.Informer().HasSynced},
		now:    time.Now,
		log:    slog.Default().With("controller", "cronjob"),
	}
	for _, o := range opts {
		o(c)
	}
	if _, err := cronJobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.queue.Add(key)
			}
		},
	}); err != nil {
		c.log.Error("watching cronjobs", "err", err)
	}
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueOwner,
		UpdateFunc: func(old, cur any) {
			oldRef, curRef := metav1.GetControllerOf(old.(*batchv1.Job)), metav1.GetControllerOf(cur.(*batchv1.Job))
			if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
				c.enqueueOwner(old)
			}
			c.enqueueOwner(cur)
		},
		DeleteFunc: c.enqueueOwner,
	}); err != nil {
		c.log.Error("watching jobs", "err", err)
	}
	return c
}

// Run syncs with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "cronjob", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// enqueueOwner wakes the CronJob that controls a Job.
func (c *Controller) enqueueOwner(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(job)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return
	}
	cj, err := c.cronJobs.CronJobs(job.Namespace).Get(ref.Name)
	if err != nil || cj.UID != ref.UID {
		return
	}
	c.enqueue(cj)
}
