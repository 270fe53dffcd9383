package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// WaitOptions changes what Wait waits for.
type WaitOptions struct {
	// Timeout bounds the wait; 0 leaves it to ctx.
	Timeout time.Duration
	// WaitForJobs waits for Jobs to complete; otherwise a Job is ready when it
	// exists, as with helm --wait without --wait-for-jobs.
	WaitForJobs bool
}

// NotReadyError is returned by Wait when objects are not ready in time or one
// has failed. It unwraps to context.DeadlineExceeded (or Canceled) on timeout.
type NotReadyError struct {
	// NotReady are the statuses of the objects that were not ready.
	NotReady []ObjectStatus
	// Err is why waiting stopped: the context's error, or nil when an object
	// failed.
	Err error
	// Timeout is the timeout that passed, if that is what happened.
	Timeout time.Duration
	// Pods tell what the pods named in NotReady went through (their last
	// events and log lines), when waiting timed out or an object failed.
	Pods []PodDiagnosis
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	switch {
	case errors.Is(e.Err, context.DeadlineExceeded) && e.Timeout > 0:
		fmt.Fprintf(&b, "timed out after %s waiting for %s to be ready", e.Timeout, plural(len(e.NotReady), "object"))
	case e.Err != nil:
		fmt.Fprintf(&b, "stopped waiting for %s to be ready: %v", plural(len(e.NotReady), "object"), e.Err)
	default:
		fmt.Fprintf(&b, "%s failed", plural(len(e.NotReady), "object"))
	}
	b.WriteString(": ")
	for i, s := range e.NotReady {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s.Message)
	}
	for _, d := range e.Pods {
		b.WriteString("\n")
		b.WriteString(d.String())
	}
	return b.String()
}

func (e *NotReadyError) Unwrap() error { return e.Err }

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Wait returns when every object is ready as helm --wait has it: Deployments,
// StatefulSets and DaemonSets rolled out (generation observed, replicas updated
// and available), ReplicaSets and ReplicationControllers with their replicas
// ready, Pods ready (or succeeded), PersistentVolumeClaims bound, Services with
// a cluster IP, a load balancer ingress when of type LoadBalancer, and a ready
// endpoint when they have a selector; Jobs complete only with WaitForJobs; CRDs
// established; every other kind ready once it exists.
//
// It watches the objects' resources (and the pods of workloads) and re-reads
// the objects on every change, and every 2 s should no change arrive.
// progress, if not nil, is called with all statuses whenever one changes. It
// fails with a *NotReadyError naming each object that is not ready and why, at
// the deadline or as soon as one has Failed (a failed Pod or Job, a Deployment
// past its progress deadline, a workload whose pods have an invalid image
// name); the error then tells the last events and log lines of the pods that
// are the cause.
func (c *Client) Wait(ctx context.Context, objs []Object, opts WaitOptions, progress func([]ObjectStatus)) error {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	rules := statusRules{jobs: opts.WaitForJobs}
	var last []ObjectStatus
	err := c.until(ctx, waitTargets(objs, rules), func(ctx context.Context) (bool, error) {
		sts, _ := c.statuses(ctx, objs, rules)
		if ctx.Err() != nil {
			// Reads cut short by the deadline say nothing about the objects.
			return false, nil
		}
		if progress != nil && changed(last, sts) {
			progress(sts)
		}
		last = sts
		if failed := withStatus(sts, Failed); len(failed) > 0 {
			return false, &NotReadyError{NotReady: failed}
		}
		return len(notReady(sts)) == 0, nil
	})
	var nr *NotReadyError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nr):
		nr.Pods = c.diagnose(ctx, nr.NotReady)
		return err
	case ctx.Err() != nil:
		if last == nil {
			last = unchecked(objs)
		}
		nr = &NotReadyError{NotReady: notReady(last), Err: ctx.Err(), Timeout: opts.Timeout}
		// Stopped by the caller, it is not asked why.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			nr.Pods = c.diagnose(ctx, nr.NotReady)
		}
		return nr
	}
	return fmt.Errorf("waiting for objects to be ready: %w", err)
}

// unchecked are the statuses of objects not read before time ran out.
func unchecked(objs []Object) []ObjectStatus {
	out := make([]ObjectStatus, len(objs))
	for i, o := range objs {
		out[i] = ObjectStatus{Object: o, Status: Unknown, Message: o.short() + ": not checked yet"}
	}
	return out
}

func notReady(sts []ObjectStatus) []ObjectStatus {
	var out []ObjectStatus
	for _, s := range sts {
		if s.Status != Current {
			out = append(out, s)
		}
	}
	return out
}

func withStatus(sts []ObjectStatus, st Status) []ObjectStatus {
	var out []ObjectStatus
	for _, s := range sts {
		if s.Status == st {
			out = append(out, s)
		}
	}
	return out
}

func changed(a, b []ObjectStatus) bool {
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i].Status != b[i].Status || a[i].Message != b[i].Message {
			return true
		}
	}
	return false
}

// watchTarget is a resource in a namespace to watch, narrowed to one object
// when name is set.
type watchTarget struct {
	resource  schema.GroupVersionResource
	namespace string
	name      string
}

// watchTargets returns what to watch to see objs change: each object's
// resource in its namespace (the object alone if it is the only one there), and
// the EndpointSlices and Endpoints of the namespaces of Services.
func watchTargets(objs []Object) []watchTarget {
	var ts targetSet
	ts.addObjects(objs)
	return ts.targets()
}

// waitTargets are the watchTargets of objs and the pods of the namespaces of
// their workloads, whose changes the workloads' messages tell.
func waitTargets(objs []Object, rules statusRules) []watchTarget {
	var ts targetSet
	ts.addObjects(objs)
	for _, o := range objs {
		switch o.gvk().GroupKind() {
		case deploymentKind, statefulSetKind, daemonSetKind, replicaSetKind, rcKind:
		case jobKind:
			if !rules.jobs {
				continue
			}
		default:
			continue
		}
		ts.add(podsResource, o.GetNamespace(), "")
	}
	return ts.targets()
}

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// targetSet gathers watch targets, the names to watch per resource and
// namespace; an empty name stands for all objects there.
type targetSet struct {
	names map[targetGroup][]string
	order []targetGroup
}

type targetGroup struct {
	resource  schema.GroupVersionResource
	namespace string
}

func (s *targetSet) add(resource schema.GroupVersionResource, namespace, name string) {
	g := targetGroup{resource, namespace}
	if s.names == nil {
		s.names = map[targetGroup][]string{}
	}
	if _, ok := s.names[g]; !ok {
		s.order = append(s.order, g)
	}
	s.names[g] = append(s.names[g], name)
}

func (s *targetSet) addObjects(objs []Object) {
	for _, o := range objs {
		if o.Mapping == nil {
			continue
		}
		s.add(o.Mapping.Resource, o.GetNamespace(), o.GetName())
		if o.gvk().GroupKind() == serviceKind {
			s.add(endpointSlicesResource, o.GetNamespace(), "")
			s.add(endpointsResource, o.GetNamespace(), o.GetName())
		}
	}
}

// targets watches each resource and namespace, narrowed to one object when
// only one is wanted there.
func (s *targetSet) targets() []watchTarget {
	targets := make([]watchTarget, 0, len(s.order))
	for _, g := range s.order {
		t := watchTarget{resource: g.resource, namespace: g.namespace}
		if n := s.names[g]; len(n) == 1 {
			t.name = n[0]
		}
		targets = append(targets, t)
	}
	return targets
}

// until calls check now, whenever a watch target changes, and every
// pollInterval, until check reports done or fails, or ctx ends.
func (c *Client) until(ctx context.Context, targets []watchTarget, check func(context.Context) (bool, error)) error {
	watchCtx, stop := context.WithCancel(ctx)
	changes := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() { c.watch(watchCtx, t, changes) })
	}
	defer func() {
		stop()
		wg.Wait()
	}()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		done, err := check(ctx)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changes:
		case <-ticker.C:
		}
	}
}

// watch signals changes on every event of a target until ctx ends, watching
// again whenever a watch ends; when watching fails it retries every
// pollInterval (the caller polls meanwhile).
func (c *Client) watch(ctx context.Context, t watchTarget, changes chan<- struct{}) {
	opts := metav1.ListOptions{}
	if t.name != "" {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", t.name).String()
	}
	for ctx.Err() == nil {
		started := time.Now()
		w, err := c.watcher.Resource(t.resource).Namespace(t.namespace).Watch(ctx, opts)
		if err != nil {
			c.log.DebugContext(ctx, "watch failed", "resource", t.resource.String(), "namespace", t.namespace, "err", err)
		} else {
			for ev := range w.ResultChan() {
				if ev.Type == watch.Bookmark {
					continue
				}
				select {
				case changes <- struct{}{}:
				default:
				}
				if ev.Type == watch.Error {
					break
				}
			}
			w.Stop()
		}
		if time.Since(started) < time.Second {
			sleep(ctx, pollInterval)
		}
	}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
