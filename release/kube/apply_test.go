package kube

import (
	"context"
	"errors"
	"maps"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testApplyCreateUpdate(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	e.apply(t, configMapYAML("settings", map[string]string{"a": "1", "b": "2"}), ns, owner)

	cm := e.configMap(t, ns, "settings")
	if cm.Labels[ManagedByLabel] != "Helm" || cm.Annotations[ReleaseNameAnnotation] != "shop" || cm.Annotations[ReleaseNamespaceAnnotation] != ns {
		t.Fatalf("ownership metadata missing: labels %v annotations %v", cm.Labels, cm.Annotations)
	}
	if len(cm.ManagedFields) == 0 || cm.ManagedFields[0].Manager != DefaultFieldManager {
		t.Errorf("managed fields %+v, want berth's", cm.ManagedFields)
	}

	// Someone else annotates the object.
	cm.Annotations["example.com/note"] = "hello"
	if _, err := e.s.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-annotate"}); err != nil {
		t.Fatal(err)
	}

	// The next revision changes a, drops b and adds c.
	e.apply(t, configMapYAML("settings", map[string]string{"a": "10", "c": "3"}), ns, owner)
	cm = e.configMap(t, ns, "settings")
	if want := map[string]string{"a": "10", "c": "3"}; !maps.Equal(cm.Data, want) {
		t.Errorf("data %v, want %v", cm.Data, want)
	}
	if cm.Annotations["example.com/note"] != "hello" {
		t.Errorf("another manager's annotation was lost: %v", cm.Annotations)
	}
	if cm.Annotations[ReleaseNameAnnotation] != "shop" {
		t.Errorf("ownership annotation lost: %v", cm.Annotations)
	}
}

func testApplyDryRun(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	e.apply(t, configMapYAML("settings", map[string]string{"a": "1"}), ns, owner)
	objs := e.build(t, docs(configMapYAML("settings", map[string]string{"a": "2"}), configMapYAML("extra", nil)), ns)
	if err := e.kc.Apply(ctx, objs, owner, ApplyOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.configMap(t, ns, "settings").Data["a"]; got != "1" {
		t.Errorf("dry run changed a to %q", got)
	}
	if e.configMapExists(t, ns, "extra") {
		t.Error("dry run created an object")
	}
}

func testApplyForce(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	secret := func(immutableData string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: fixed\nimmutable: true\nstringData:\n  key: " + immutableData + "\n"
	}
	e.apply(t, secret("one"), ns, owner)
	objs := e.build(t, secret("two"), ns)
	err := e.kc.Apply(ctx, objs, owner, ApplyOptions{})
	if err == nil {
		t.Fatal("changing an immutable Secret succeeded without Force")
	}
	if err := e.kc.Apply(ctx, objs, owner, ApplyOptions{Force: true}); err != nil {
		t.Fatalf("Apply with Force: %v", err)
	}
	s, err := e.s.Client.CoreV1().Secrets(ns).Get(ctx, "fixed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(s.Data["key"]); got != "two" {
		t.Errorf("key = %q after a forced apply, want two", got)
	}
}

func testRefuseAdoption(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)

	// An object of release a, and one created by hand.
	e.apply(t, configMapYAML("theirs", map[string]string{"a": "1"}), ns, Owner{ReleaseName: "a", ReleaseNamespace: ns})
	e.apply(t, configMapYAML("handmade", nil), ns, Owner{ReleaseName: "tmp", ReleaseNamespace: ns})
	hand := e.configMap(t, ns, "handmade")
	hand.Labels, hand.Annotations = nil, nil
	if _, err := e.s.Client.CoreV1().ConfigMaps(ns).Update(ctx, hand, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct{ object, want string }{
		"another release": {"theirs",
			`ConfigMap "theirs" in namespace "` + ns + `" exists and cannot be imported into the current release: invalid ownership metadata; ` +
				`annotation validation error: key "meta.helm.sh/release-name" must equal "b": current value is "a"`},
		"no metadata": {"handmade",
			`ConfigMap "handmade" in namespace "` + ns + `" exists and cannot be imported into the current release: invalid ownership metadata; ` +
				`label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; ` +
				`annotation validation error: missing key "meta.helm.sh/release-name": must be set to "b"; ` +
				`annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to "` + ns + `"`},
	} {
		t.Run(name, func(t *testing.T) {
			// A new object comes first: it must not be created either.
			objs := e.build(t, docs(configMapYAML("fresh-"+tc.object, nil), configMapYAML(tc.object, map[string]string{"a": "2"})), ns)
			err := e.kc.Apply(ctx, objs, Owner{ReleaseName: "b", ReleaseNamespace: ns}, ApplyOptions{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Apply error:\n%v\nwant:\n%s", err, tc.want)
			}
			if !errors.Is(err, ErrNotOwned) {
				t.Error("error is not ErrNotOwned")
			}
			if e.configMapExists(t, ns, "fresh-"+tc.object) {
				t.Error("a refused Apply created an object")
			}
			if cm := e.configMap(t, ns, tc.object); cm.Data["a"] == "2" || cm.Annotations[ReleaseNameAnnotation] == "b" {
				t.Errorf("a refused Apply changed the existing object: %v %v", cm.Data, cm.Annotations)
			}
		})
	}
}
