package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// progressLog records what Wait reports.
type progressLog struct {
	mu    sync.Mutex
	calls [][]ObjectStatus
}

func (p *progressLog) record(sts []ObjectStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, sts)
}

func (p *progressLog) seen(status Status, msg string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, call := range p.calls {
		for _, s := range call {
			if s.Status == status && s.Message == msg {
				return true
			}
		}
	}
	return false
}

func testWaitReady(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	objs := e.apply(t, docs(
		configMapYAML("settings", nil),
		serviceYAML("web"),
		deploymentYAML("web", 2),
		"apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n",
	), ns, owner)

	var log progressLog
	done := make(chan error, 1)
	go func() { done <- e.kc.Wait(ctx, objs, WaitOptions{Timeout: time.Minute}, log.record) }()

	// Wait reports the Deployment not ready yet, then the controller's work
	// arrives.
	eventually(t, func() error {
		if !log.seen(InProgress, "Deployment web: waiting for the controller to observe generation 1") {
			return errors.New("no progress report of the Deployment")
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("Wait returned before the objects were ready: %v", err)
	default:
	}
	setDeploymentStatus(t, e, ns, "web", 2, 1)
	eventually(t, func() error {
		if !log.seen(InProgress, "Deployment web: 1 of 2 replicas available") {
			return errors.New("no progress report of the Deployment's status")
		}
		return nil
	})
	setDeploymentStatus(t, e, ns, "web", 2, 2)
	addEndpoint(t, e, ns, "web")

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Wait did not return once the objects were ready")
	}
	log.mu.Lock()
	last := log.calls[len(log.calls)-1]
	log.mu.Unlock()
	for _, s := range last {
		if s.Status != Current {
			t.Errorf("last progress report: %s", s.Message)
		}
	}
	if !log.seen(Current, "Job once: exists") {
		t.Error("a Job was waited for without WaitForJobs")
	}
}

func testWaitTimeout(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	objs := e.apply(t, docs(configMapYAML("settings", nil), deploymentYAML("slow", 3)), ns, owner)
	setDeploymentStatus(t, e, ns, "slow", 3, 1)

	err := e.kc.Wait(ctx, objs, WaitOptions{Timeout: 500 * time.Millisecond}, nil)
	var nr *NotReadyError
	if !errors.As(err, &nr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want a NotReadyError at the deadline", err)
	}
	want := "timed out after 500ms waiting for 1 object to be ready: Deployment slow: 1 of 3 replicas available"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
}

func testWaitFailed(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	objs := e.apply(t, "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n", ns, owner)
	setJobCondition(t, e, ns, "migrate", batchv1.JobFailed, "BackoffLimitExceeded")

	start := time.Now()
	err := e.kc.Wait(ctx, objs, WaitOptions{Timeout: time.Minute, WaitForJobs: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "Job migrate: failed: BackoffLimitExceeded") {
		t.Fatalf("Wait: %v, want the Job's failure", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 30*time.Second {
		t.Errorf("Wait did not fail as soon as the Job failed: %v", err)
	}
}

// setJobCondition writes what the Job controller writes when a Job ends.
func setJobCondition(t *testing.T, e *env, ns, name string, cond batchv1.JobConditionType, reason string) {
	t.Helper()
	if err := writeJobCondition(context.Background(), e, ns, name, cond, reason); err != nil {
		t.Fatal(err)
	}
}

// endJobOnceCreated plays the Job controller in the background: it ends the
// Job with cond as soon as the Job exists.
func endJobOnceCreated(t *testing.T, e *env, ns, name string, cond batchv1.JobConditionType, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		for {
			_, err := e.s.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Errorf("Job %s was never created", name)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The test may end, cancelling ctx, as soon as the write lands and
		// before its answer does.
		if err := writeJobCondition(ctx, e, ns, name, cond, reason); err != nil && ctx.Err() == nil {
			t.Error(err)
		}
	}()
}

func writeJobCondition(ctx context.Context, e *env, ns, name string, cond batchv1.JobConditionType, reason string) error {
	j, err := e.s.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	j.Status.StartTime = &now
	if cond == batchv1.JobComplete {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now})
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: now})
	}
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: now})
	_, err = e.s.Client.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{})
	return err
}

// TestWaitTargets checks what Wait watches: the objects, and the pods of the
// namespaces of workloads whose messages tell of their pods.
func TestWaitTargets(t *testing.T) {
	object := func(kind, resource, namespace, name string) Object {
		gvk := schema.GroupVersionKind{Version: "v1", Kind: kind}
		if kind == "Deployment" {
			gvk.Group = "apps"
		}
		if kind == "Job" {
			gvk.Group = "batch"
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		u.SetNamespace(namespace)
		u.SetName(name)
		return Object{Unstructured: u, Mapping: &meta.RESTMapping{
			Resource:         gvk.GroupVersion().WithResource(resource),
			GroupVersionKind: gvk,
			Scope:            meta.RESTScopeNamespace,
		}}
	}
	web := object("Deployment", "deployments", "a", "web")
	pod := object("Pod", "pods", "a", "x")
	job := object("Job", "jobs", "b", "migrate")
	show := func(ts []watchTarget) []string {
		var out []string
		for _, t := range ts {
			out = append(out, fmt.Sprintf("%s %s/%s", t.resource.Resource, t.namespace, t.name))
		}
		return out
	}
	tests := []struct {
		name string
		got  []watchTarget
		want []string
	}{
		{"a pod alone", waitTargets([]Object{pod}, statusRules{}), []string{"pods a/x"}},
		{"a deployment's pods", waitTargets([]Object{web}, statusRules{}), []string{"deployments a/web", "pods a/"}},
		// The pod's own watch widens to its namespace's pods: one watch.
		{"a pod beside a deployment", waitTargets([]Object{pod, web}, statusRules{}), []string{"pods a/", "deployments a/web"}},
		{"a job not waited for", waitTargets([]Object{job}, statusRules{}), []string{"jobs b/migrate"}},
		{"a job waited for", waitTargets([]Object{job}, statusRules{jobs: true}), []string{"jobs b/migrate", "pods b/"}},
		{"hooks and deletions watch the object only", watchTargets([]Object{web}), []string{"deployments a/web"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := show(tc.got); !slices.Equal(got, tc.want) {
				t.Errorf("targets %q, want %q", got, tc.want)
			}
		})
	}
}
