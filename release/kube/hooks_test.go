package kube

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"helm.sh/helm/v3/pkg/release"
)

func configMapHook(name string, weight int, policies ...release.HookDeletePolicy) *release.Hook {
	return &release.Hook{
		Name: name, Kind: "ConfigMap", Path: "shop/templates/" + name + ".yaml",
		Manifest:       configMapYAML(name, nil),
		Events:         []release.HookEvent{release.HookPreInstall},
		Weight:         weight,
		DeletePolicies: policies,
	}
}

func jobHook(name string, weight int, policies ...release.HookDeletePolicy) *release.Hook {
	return &release.Hook{
		Name: name, Kind: "Job", Path: "shop/templates/" + name + ".yaml",
		Manifest:       "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + name + "\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n",
		Events:         []release.HookEvent{release.HookPreInstall},
		Weight:         weight,
		DeletePolicies: policies,
	}
}

func testHookOrder(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	// A clock that ticks a second per reading shows the order hooks ran in.
	var ticks atomic.Int64
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	kc, err := New(e.s.Config, WithClock(func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Second) }))
	if err != nil {
		t.Fatal(err)
	}
	post := configMapHook("post", -10)
	post.Events = []release.HookEvent{release.HookPostInstall}
	hooks := []*release.Hook{
		configMapHook("e", 5), configMapHook("b", 0), post, configMapHook("z", -5), configMapHook("a", 0),
	}
	if err := kc.RunHooks(ctx, hooks, release.HookPreInstall, ns, time.Minute); err != nil {
		t.Fatal(err)
	}
	ran := slices.Clone(hooks)
	ran = slices.DeleteFunc(ran, func(h *release.Hook) bool { return h == post })
	slices.SortFunc(ran, func(a, b *release.Hook) int { return a.LastRun.StartedAt.Compare(b.LastRun.StartedAt.Time) })
	var order []string
	for _, h := range ran {
		order = append(order, h.Name)
		if h.LastRun.Phase != release.HookPhaseSucceeded || !h.LastRun.CompletedAt.After(h.LastRun.StartedAt) {
			t.Errorf("hook %s LastRun %+v", h.Name, h.LastRun)
		}
	}
	if want := []string{"z", "a", "b", "e"}; !slices.Equal(order, want) {
		t.Errorf("hooks ran in order %v, want %v", order, want)
	}
	if !post.LastRun.StartedAt.IsZero() || e.configMapExists(t, ns, "post") {
		t.Error("a post-install hook ran on pre-install")
	}
}

func testHookJob(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	h := jobHook("migrate", 0)
	endJobOnceCreated(t, e, ns, "migrate", batchv1.JobComplete, "")
	if err := e.kc.RunHooks(ctx, []*release.Hook{h}, release.HookPreInstall, ns, time.Minute); err != nil {
		t.Fatal(err)
	}
	if h.LastRun.Phase != release.HookPhaseSucceeded {
		t.Errorf("LastRun %+v", h.LastRun)
	}
	j, err := e.s.Client.BatchV1().Jobs(ns).Get(ctx, "migrate", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(j.Status.Conditions, func(c batchv1.JobCondition) bool { return c.Type == batchv1.JobComplete }) {
		t.Error("RunHooks returned before the Job completed")
	}
}

func testHookFailed(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	first := configMapHook("first", -1, release.HookSucceeded)
	bad := jobHook("bad", 0, release.HookFailed)
	never := configMapHook("never", 1)
	endJobOnceCreated(t, e, ns, "bad", batchv1.JobFailed, "BackoffLimitExceeded")
	err := e.kc.RunHooks(ctx, []*release.Hook{never, bad, first}, release.HookPreInstall, ns, time.Minute)
	if err == nil {
		t.Fatal("RunHooks succeeded with a failed Job")
	}
	for _, s := range []string{`pre-install hook "bad" (shop/templates/bad.yaml) failed`, "BackoffLimitExceeded"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if bad.LastRun.Phase != release.HookPhaseFailed || first.LastRun.Phase != release.HookPhaseSucceeded || !never.LastRun.StartedAt.IsZero() {
		t.Errorf("LastRun: first %+v, bad %+v, never %+v", first.LastRun, bad.LastRun, never.LastRun)
	}
	if _, err := e.s.Client.BatchV1().Jobs(ns).Get(ctx, "bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the failed hook with hook-failed was not deleted: %v", err)
	}
	if e.configMapExists(t, ns, "first") {
		t.Error("a hook that succeeded before the failure was not deleted (hook-succeeded)")
	}
	if e.configMapExists(t, ns, "never") {
		t.Error("a hook after the failure ran")
	}
}

func testHookDeletePolicies(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	succeeded := configMapHook("succeeded", 0, release.HookSucceeded)
	dflt := configMapHook("default", 1)
	failedOnly := configMapHook("failed-only", 2, release.HookFailed)
	hooks := []*release.Hook{succeeded, dflt, failedOnly}

	if err := e.kc.RunHooks(ctx, hooks, release.HookPreInstall, ns, time.Minute); err != nil {
		t.Fatal(err)
	}
	if e.configMapExists(t, ns, "succeeded") {
		t.Error("hook-succeeded hook still exists")
	}
	if !slices.Equal(dflt.DeletePolicies, []release.HookDeletePolicy{release.HookBeforeHookCreation}) {
		t.Errorf("default delete policies %v, want before-hook-creation", dflt.DeletePolicies)
	}
	firstUID := e.configMap(t, ns, "default").UID
	if !e.configMapExists(t, ns, "failed-only") {
		t.Error("hook-failed hook was deleted after succeeding")
	}

	// Again: before-hook-creation replaces the default hook's object; the
	// hook-failed one is still there and cannot be created again, as in Helm.
	err := e.kc.RunHooks(ctx, hooks, release.HookPreInstall, ns, time.Minute)
	if err == nil || !strings.Contains(err.Error(), `pre-install hook "failed-only"`) || !apierrors.IsAlreadyExists(err) {
		t.Errorf("second run: %v, want failed-only to exist already", err)
	}
	if uid := e.configMap(t, ns, "default").UID; uid == firstUID {
		t.Error("before-hook-creation did not replace the hook's object")
	}
	if failedOnly.LastRun.Phase != release.HookPhaseFailed || dflt.LastRun.Phase != release.HookPhaseSucceeded {
		t.Errorf("LastRun: default %+v failed-only %+v", dflt.LastRun, failedOnly.LastRun)
	}
}
