package kube

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
)

// RunHooks runs the hooks of one event as Helm does. The hooks that fire on
// event run one after another, by weight and then name (stable, so hooks of
// equal weight and name keep the given order). For each:
//
//   - a hook without delete policies gets before-hook-creation, and with it the
//     objects of its previous run are deleted (and gone) first;
//   - its objects are created in the given namespace unless they name one;
//   - a Job must complete and a Pod succeed within timeout; other kinds are
//     done once created;
//   - LastRun records when it started and completed and whether it succeeded.
//
// When all succeed, hooks with hook-succeeded are deleted, last first. When one
// fails, it is deleted if it has hook-failed (unless its objects could not even
// be created: what is in the way may not be the hook's), the hooks that
// succeeded before it are deleted if they have hook-succeeded, and the error
// names the failing hook. CustomResourceDefinitions are never deleted by policy.
//
// Hooks record LastRun in place; callers store the release afterwards.
func (c *Client) RunHooks(ctx context.Context, hooks []*release.Hook, event release.HookEvent, namespace string, timeout time.Duration) error {
	run := hooksFor(hooks, event)
	for i, h := range run {
		if len(h.DeletePolicies) == 0 {
			h.DeletePolicies = []release.HookDeletePolicy{release.HookBeforeHookCreation}
		}
		if err := c.deleteHookByPolicy(ctx, h, release.HookBeforeHookCreation, namespace, timeout); err != nil {
			return fmt.Errorf("%s: deleting the objects of its previous run: %w", describeHook(event, h), err)
		}
		h.LastRun = release.HookExecution{StartedAt: c.helmNow(), Phase: release.HookPhaseRunning}
		created, err := c.runHook(ctx, h, namespace, timeout)
		h.LastRun.CompletedAt = c.helmNow()
		if err == nil {
			h.LastRun.Phase = release.HookPhaseSucceeded
			continue
		}
		h.LastRun.Phase = release.HookPhaseFailed
		err = fmt.Errorf("%s failed: %w", describeHook(event, h), err)
		if created {
			if derr := c.deleteHookByPolicy(ctx, h, release.HookFailed, namespace, timeout); derr != nil {
				err = errors.Join(err, fmt.Errorf("deleting the failed hook: %w", derr))
			}
		}
		for _, prev := range run[:i] {
			if derr := c.deleteHookByPolicy(ctx, prev, release.HookSucceeded, namespace, timeout); derr != nil {
				err = errors.Join(err, fmt.Errorf("deleting %s: %w", describeHook(event, prev), derr))
			}
		}
		return err
	}
	for _, h := range slices.Backward(run) {
		if err := c.deleteHookByPolicy(ctx, h, release.HookSucceeded, namespace, timeout); err != nil {
			return fmt.Errorf("deleting %s after it succeeded: %w", describeHook(event, h), err)
		}
	}
	return nil
}

// hooksFor returns the hooks that fire on event in the order they run.
func hooksFor(hooks []*release.Hook, event release.HookEvent) []*release.Hook {
	var run []*release.Hook
	for _, h := range hooks {
		if slices.Contains(h.Events, event) {
			run = append(run, h)
		}
	}
	slices.SortStableFunc(run, func(a, b *release.Hook) int {
		return cmp.Or(cmp.Compare(a.Weight, b.Weight), cmp.Compare(a.Name, b.Name))
	})
	return run
}

// describeHook names a hook in messages: `pre-install hook "db-init"
// (templates/db-init.yaml)`.
func describeHook(event release.HookEvent, h *release.Hook) string {
	return fmt.Sprintf("%s hook %q (%s)", event, h.Name, h.Path)
}

func (c *Client) helmNow() helmtime.Time { return helmtime.Time{Time: c.now()} }

// runHook creates a hook's objects and waits for them to be done. created
// says whether they were all created: when one could not be, the hook-failed
// policy does not apply (the object in the way may not be the hook's), as in
// Helm.
func (c *Client) runHook(ctx context.Context, h *release.Hook, namespace string, timeout time.Duration) (created bool, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	objs, err := c.build(ctx, h.Manifest, namespace)
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		body := o.DeepCopy()
		stripServerMetadata(body)
		if _, err := c.resource(o).Create(ctx, body, metav1.CreateOptions{FieldManager: c.fieldManager}); err != nil {
			return false, fmt.Errorf("creating %s: %w", o, err)
		}
	}
	for _, o := range objs {
		if err := c.waitHookObject(ctx, o, timeout); err != nil {
			return true, err
		}
	}
	return true, nil
}

// waitHookObject waits for a Job to complete or a Pod to succeed; other kinds
// are done when created.
func (c *Client) waitHookObject(ctx context.Context, o Object, timeout time.Duration) error {
	gk := o.gvk().GroupKind()
	if gk != jobKind && gk != podKind {
		return nil
	}
	var last string
	err := c.until(ctx, watchTargets([]Object{o}), func(ctx context.Context) (bool, error) {
		live, err := c.get(ctx, o)
		if apierrors.IsNotFound(err) {
			return false, fmt.Errorf("%s was deleted before it completed", o)
		}
		if err != nil {
			if ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("reading %s: %w", o, err)
		}
		done, msg, err := hookDone(gk, live)
		last = msg
		if err != nil {
			return false, fmt.Errorf("%s: %w", o, err)
		}
		return done, nil
	})
	if err != nil && ctx.Err() != nil {
		what := "complete"
		if gk == podKind {
			what = "succeed"
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && timeout > 0 {
			return fmt.Errorf("timed out after %s waiting for %s to %s (%s): %w", timeout, o, what, last, ctx.Err())
		}
		return fmt.Errorf("stopped waiting for %s to %s (%s): %w", o, what, last, ctx.Err())
	}
	return err
}

// hookDone reports whether a hook's Job has completed or Pod succeeded, and
// fails when it has failed.
func hookDone(gk schema.GroupKind, live *unstructured.Unstructured) (bool, string, error) {
	if gk == jobKind {
		st, msg, err := judgeAs(live, jobStatus)
		if err == nil && st == Failed {
			err = errors.New(msg)
		}
		return st == Current, msg, err
	}
	var pod corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &pod); err != nil {
		return false, "", fmt.Errorf("decoding: %w", err)
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return true, "succeeded", nil
	case corev1.PodFailed:
		return false, "failed", errors.New("failed" + reasonSuffix(pod.Status.Reason, pod.Status.Message))
	}
	return false, strings.ToLower(string(pod.Status.Phase)), nil
}

// deleteHookByPolicy deletes a hook's objects, and waits until they are gone,
// if the hook has policy.
func (c *Client) deleteHookByPolicy(ctx context.Context, h *release.Hook, policy release.HookDeletePolicy, namespace string, timeout time.Duration) error {
	if h.Kind == crdKind.Kind || !slices.Contains(h.DeletePolicies, policy) {
		return nil
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	objs, err := c.build(ctx, h.Manifest, namespace)
	if err != nil {
		return err
	}
	for _, o := range slices.Backward(objs) {
		if err := c.deleteAndWait(ctx, o); err != nil {
			return err
		}
	}
	return nil
}
