// Package job is the controller that runs every Job's pods to completion, as
// upstream's Job controller does: it creates pods from the template (up to
// parallelism, never more than the completions left), replaces failed ones
// after an exponential back-off until backoffLimit, stops at
// activeDeadlineSeconds, applies the pod failure policy (FailJob, FailIndex,
// Ignore, Count), suspends and resumes, gives Indexed jobs one pod per
// completion index (with backoffLimitPerIndex and maxFailedIndexes in
// perindex.go, and the success policy), and writes the status (active, ready,
// terminating, succeeded, failed, completedIndexes, failedIndexes, startTime,
// completionTime and the SuccessCriteriaMet/Complete, FailureTarget/Failed and
// Suspended conditions).
//
// Every pod it creates carries the batch.kubernetes.io/job-tracking finalizer:
// a finished pod is first recorded in status.uncountedTerminatedPods, then its
// finalizer is removed, then it is moved to the succeeded or failed counters,
// so that no pod is counted twice or lost when it is deleted (tracking.go).
// It also deletes finished Jobs once their ttlSecondsAfterFinished has passed
// (ttl.go), which upstream does in a controller of its own.
//
// It writes pods, the finalizers of its own pods, and the status of Jobs; it
// must not change a Job's spec nor touch pods another controller owns.
package job

import (
	"context"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// Upstream's pod failure back-off: 10s, doubled per failure since the last
// success, at most 6 minutes.
const (
	DefaultBackoff    = 10 * time.Second
	DefaultMaxBackoff = 6 * time.Minute
)

// controllerKind is the kind of the owner references on the pods.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs Jobs.
type Controller struct {
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	pods     corelisters.PodLister
	recorder record.EventRecorder
	control  *podcontrol.Control
	queue    workqueue.TypedRateLimitingInterface[string]
	expect   *podcontrol.Expectations
	// removing holds the pods whose finalizer was removed and not yet seen so
	// in the cache.
	removing *uidExpectations
	backoffs *backoffStore
	synced   []cache.InformerSynced

	now        func() time.Time
	backoff    time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
}

// Option configures a Controller.
type Option func(*Controller)

// WithClock makes the controller read the time from now (tests).
func WithClock(now func() time.Time) Option {
	return func(c *Controller) { c.now = now }
}

// WithBackoff sets the delay before a failed pod is replaced, doubled for each
// further failure up to limit.
func WithBackoff(base, limit time.Duration) Option {
	return func(c *Controller) { c.backoff, c.maxBackoff = base, limit }
}

// New returns the Job controller. It registers the informers it needs with f:
// start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) *Controller {
	jobs, pods := f.Batch().V1().Jobs(), f.Core().V1().Pods()
	c := &Controller{
		client:   client,
		jobs:     jobs.Lister(),
		pods:     pods.Lister(),
		recorder: recorder,
		control:  podcontrol.NewControl(client, recorder),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "job"}),
		removing:   newUIDExpectations(),
		backoffs:   newBackoffStore(),
		synced:     []cache.InformerSynced{jobs.Informer().HasSynced, pods.Informer().HasSynced},
		now:        time.Now,
		backoff:    DefaultBackoff,
		maxBackoff: DefaultMaxBackoff,
		log:        slog.Default().With("controller", "job"),
	}
	for _, o := range opts {
		o(c)
	}
	c.expect = podcontrol.NewExpectations(c.now)
	if _, err := jobs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.deleteJob,
	}); err != nil {
		c.log.Error("watching jobs", "err", err)
	}
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		c.log.Error("watching pods", "err", err)
	}
	return c
}

// Run syncs with the given number of workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, "job", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// orphanPrefix marks the queue keys that name a pod whose tracking finalizer
// must go because its Job is gone, rather than a Job.
const orphanPrefix = "orphan-pod:"

func (c *Controller) deleteJob(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	job, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(job)
	c.expect.Forget(key)
	c.removing.forget(key)
	c.backoffs.forget(key)
	// Its pods may still hold the finalizer, and may not change again to
	// tell us so.
	pods, _ := c.pods.Pods(job.Namespace).List(labels.Everything())
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == job.UID && hasFinalizer(p) {
			c.enqueueOrphan(p)
		}
	}
}

func (c *Controller) enqueueOrphan(pod *corev1.Pod) {
	if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
		c.queue.Add(orphanPrefix + key)
	}
}

// owner returns the Job that ref names in namespace, if it exists and is the
// very one (same UID).
func (c *Controller) owner(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	job, _ := podcontrol.ControllerOf(ref, controllerKind, c.jobs.Jobs(namespace).Get)
	return job
}

// matching returns the Jobs whose selector matches an orphan pod.
func (c *Controller) matching(pod *corev1.Pod) []*batchv1.Job {
	all, _ := c.jobs.Jobs(pod.Namespace).List(labels.Everything())
	return podcontrol.Selecting(all, pod.Labels, func(j *batchv1.Job) *metav1.LabelSelector { return j.Spec.Selector })
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		if hasFinalizer(pod) {
			c.enqueueOrphan(pod) // released by its job: nobody counts it
		}
		if pod.DeletionTimestamp == nil {
			for _, j := range c.matching(pod) {
				c.enqueue(j)
			}
		}
		return
	}
	job := c.owner(pod.Namespace, ref)
	if job == nil {
		if hasFinalizer(pod) {
			c.enqueueOrphan(pod)
		}
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(job)
	if pod.DeletionTimestamp != nil {
		// A restarted controller sees pods already being deleted as new.
		podKey, _ := cache.MetaNamespaceKeyFunc(pod)
		c.expect.DeletionObserved(key, podKey)
	} else {
		c.expect.CreationObserved(key)
	}
	c.queue.Add(key)
}

func (c *Controller) updatePod(old, cur any) {
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if oldPod.ResourceVersion == curPod.ResourceVersion {
		return // a resync
	}
	if oldRef := metav1.GetControllerOf(oldPod); oldRef != nil {
		if curRef := metav1.GetControllerOf(curPod); curRef == nil || curRef.UID != oldRef.UID {
			if j := c.owner(oldPod.Namespace, oldRef); j != nil {
				c.enqueue(j)
			}
		}
	}
	ref := metav1.GetControllerOf(curPod)
	if ref == nil {
		if hasFinalizer(curPod) {
			c.enqueueOrphan(curPod)
		}
		for _, j := range c.matching(curPod) {
			c.enqueue(j)
		}
		return
	}
	job := c.owner(curPod.Namespace, ref)
	if job == nil {
		if hasFinalizer(curPod) {
			c.enqueueOrphan(curPod)
		}
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(job)
	if !hasFinalizer(curPod) {
		c.removing.observed(key, curPod.UID)
	}
	if curPod.DeletionTimestamp != nil && oldPod.DeletionTimestamp == nil {
		podKey, _ := cache.MetaNamespaceKeyFunc(curPod)
		c.expect.DeletionObserved(key, podKey)
	}
	c.queue.Add(key)
}

func (c *Controller) deletePod(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	job := c.owner(pod.Namespace, metav1.GetControllerOf(pod))
	if job == nil {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(job)
	podKey, _ := cache.MetaNamespaceKeyFunc(pod)
	c.expect.DeletionObserved(key, podKey)
	c.removing.observed(key, pod.UID)
	c.queue.Add(key)
}
