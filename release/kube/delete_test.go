package kube

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testDelete(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	objs := e.apply(t, docs(
		configMapYAML("one", nil),
		configMapYAML("kept", nil, ResourcePolicyAnnotation, KeepPolicy),
		configMapYAML("two", nil),
		configMapYAML("kept-live", nil),
	), ns, owner)
	// Someone marks an object keep in the cluster only.
	live := e.configMap(t, ns, "kept-live")
	live.Annotations[ResourcePolicyAnnotation] = KeepPolicy
	if _, err := e.s.Client.CoreV1().ConfigMaps(ns).Update(ctx, live, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// One is gone already: not an error.
	if err := e.s.Client.CoreV1().ConfigMaps(ns).Delete(ctx, "two", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	kept, err := e.kc.Delete(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 2 || kept[0].GetName() != "kept" || kept[1].GetName() != "kept-live" {
		t.Errorf("kept %v, want kept and kept-live", kept)
	}
	for name, want := range map[string]bool{"one": false, "two": false, "kept": true, "kept-live": true} {
		if got := e.configMapExists(t, ns, name); got != want {
			t.Errorf("%s exists: %v, want %v", name, got, want)
		}
	}
	if err := e.kc.WaitForDelete(ctx, objs[:1], 10*time.Second); err != nil {
		t.Errorf("WaitForDelete: %v", err)
	}
}

// testDeleteCascade: a bad policy deletes nothing; Foreground leaves the object
// in place, marked for deletion, for the garbage collector (which this API
// server does not run) to remove after its dependents.
func testDeleteCascade(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	objs := e.apply(t, configMapYAML("parent", nil), ns, Owner{ReleaseName: "shop", ReleaseNamespace: ns})

	if _, err := e.kc.Delete(ctx, objs, Cascade("Sideways")); err == nil || !strings.Contains(err.Error(), `"Sideways"`) {
		t.Errorf("Delete with an unknown propagation: %v, want an error naming it", err)
	}
	if cm := e.configMap(t, ns, "parent"); cm.DeletionTimestamp != nil {
		t.Fatal("a refused option deleted the object")
	}

	if _, err := e.kc.Delete(ctx, objs, Cascade(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	cm := e.configMap(t, ns, "parent")
	if cm.DeletionTimestamp == nil || !slices.Contains(cm.Finalizers, metav1.FinalizerDeleteDependents) {
		t.Errorf("after a foreground delete: deletionTimestamp %v, finalizers %v; want set and %s",
			cm.DeletionTimestamp, cm.Finalizers, metav1.FinalizerDeleteDependents)
	}
}

func testDrop(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	old := e.apply(t, docs(
		configMapYAML("stays", nil),
		configMapYAML("kept", nil, ResourcePolicyAnnotation, KeepPolicy),
		configMapYAML("goes", nil),
	), ns, owner)
	// The new revision has "stays" only.
	next := e.apply(t, configMapYAML("stays", map[string]string{"v": "2"}), ns, owner)
	if err := e.kc.Drop(ctx, old, next); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"stays": true, "kept": true, "goes": false} {
		if got := e.configMapExists(t, ns, name); got != want {
			t.Errorf("%s exists: %v, want %v", name, got, want)
		}
	}
}
