package kube

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testDiff(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	old := e.apply(t, docs(
		configMapYAML("settings", map[string]string{"color": "blue"}),
		configMapYAML("same", map[string]string{"k": "v"}),
		configMapYAML("old", map[string]string{"k": "v"}),
		configMapYAML("kept", nil, ResourcePolicyAnnotation, KeepPolicy),
	), ns, owner)
	next := e.build(t, docs(
		configMapYAML("settings", map[string]string{"color": "green"}),
		configMapYAML("same", map[string]string{"k": "v"}),
		configMapYAML("fresh", map[string]string{"k": "v"}),
	), ns)

	got, err := e.kc.Diff(ctx, old, next, owner)
	if err != nil {
		t.Fatal(err)
	}
	want := `--- live v1 ConfigMap ` + ns + `/settings
+++ applied v1 ConfigMap ` + ns + `/settings
@@ -1,6 +1,6 @@
 apiVersion: v1
 data:
-  color: blue
+  color: green
 kind: ConfigMap
 metadata:
   annotations:
--- /dev/null
+++ applied v1 ConfigMap ` + ns + `/fresh
@@ -0,0 +1,12 @@
+apiVersion: v1
+data:
+  k: v
+kind: ConfigMap
+metadata:
+  annotations:
+    meta.helm.sh/release-name: shop
+    meta.helm.sh/release-namespace: ` + ns + `
+  labels:
+    app.kubernetes.io/managed-by: Helm
+  name: fresh
+  namespace: ` + ns + `
--- live v1 ConfigMap ` + ns + `/old
+++ /dev/null
@@ -1,12 +0,0 @@
-apiVersion: v1
-data:
-  k: v
-kind: ConfigMap
-metadata:
-  annotations:
-    meta.helm.sh/release-name: shop
-    meta.helm.sh/release-namespace: ` + ns + `
-  labels:
-    app.kubernetes.io/managed-by: Helm
-  name: old
-  namespace: ` + ns + `
`
	if got != want {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, want)
	}
	if e.configMap(t, ns, "settings").Data["color"] != "blue" || e.configMapExists(t, ns, "fresh") {
		t.Error("Diff changed the cluster")
	}

	same, err := e.kc.Diff(ctx, old, old, owner)
	if err != nil || same != "" {
		t.Errorf("Diff of the applied revision: %q, %v; want no change", same, err)
	}

	// A diff tells of an object apply would refuse to take over.
	other := Owner{ReleaseName: "other", ReleaseNamespace: ns}
	if _, err := e.kc.Diff(ctx, nil, next[:1], other); err == nil || !strings.Contains(err.Error(), "cannot be imported") {
		t.Errorf("Diff for another release: %v", err)
	}
}

// testDiffIgnore: fields changed behind berth's back show in a diff unless
// an ignore rule matching the object names them; an object missing from the
// cluster or dropped shows whatever the rules say.
func testDiffIgnore(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	manifest := strings.Replace(deploymentYAML("web", 2), "  name: web\n", "  name: web\n  annotations:\n    example.com/note: a\n", 1)
	objs := e.apply(t, manifest, ns, owner)

	deployments := e.s.Client.AppsV1().Deployments(ns)
	change := func(f func(*appsv1.Deployment)) {
		t.Helper()
		d, err := deployments.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(d)
		if _, err := deployments.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	change(func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To[int32](5)
		d.Annotations["example.com/note"] = "b"
	})

	replicas := []string{"-  replicas: 5\n", "+  replicas: 2\n"}
	note := []string{"-    example.com/note: b\n", "+    example.com/note: a\n"}
	for _, tt := range []struct {
		name           string
		ignore         []IgnoreRule
		shown, omitted []string
	}{
		{"NoRules", nil, append(replicas, note...), nil},
		{"Replicas", []IgnoreRule{{Kind: "Deployment", Paths: []string{"/spec/replicas"}}}, note, replicas},
		{"OtherName", []IgnoreRule{{Kind: "Deployment", Name: "api", Paths: []string{"/spec/replicas"}}}, append(replicas, note...), nil},
		{"OtherKind", []IgnoreRule{{Kind: "StatefulSet", Paths: []string{"/spec/replicas"}}}, append(replicas, note...), nil},
		{"EscapedKey", []IgnoreRule{{Name: "web", Paths: []string{"/metadata/annotations/example.com~1note"}}}, replicas, note},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.kc.DiffWithOptions(ctx, objs, objs, owner, DiffOptions{Ignore: tt.ignore})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.shown {
				if !strings.Contains(got, s) {
					t.Errorf("diff lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tt.omitted {
				if strings.Contains(got, s) {
					t.Errorf("diff shows ignored %q:\n%s", s, got)
				}
			}
		})
	}

	all := []IgnoreRule{
		{Kind: "Deployment", Name: "web", Paths: []string{"/spec/replicas"}},
		{Paths: []string{"/metadata/annotations/example.com~1note", "/spec/template/spec/containers/0/image"}},
	}
	change(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "example.com/app:2" })
	if got, err := e.kc.DiffWithOptions(ctx, objs, objs, owner, DiffOptions{Ignore: all}); err != nil || got != "" {
		t.Errorf("every change ignored: %q, %v; want no change", got, err)
	}

	for _, p := range []string{"spec/replicas", "/metadata/annotations/example.com~2note", ""} {
		_, err := e.kc.DiffWithOptions(ctx, objs, objs, owner, DiffOptions{Ignore: []IgnoreRule{{Paths: []string{p}}}})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("ignoring %q: %v; want an error naming it", p, err)
		}
	}

	// Ignoring all of metadata and spec hides neither a dropped object nor
	// one deleted from the cluster.
	wide := DiffOptions{Ignore: []IgnoreRule{{Paths: []string{"/metadata", "/spec"}}}}
	got, err := e.kc.DiffWithOptions(ctx, objs, nil, owner, wide)
	if err != nil || !strings.Contains(got, "--- live apps/v1 Deployment "+ns+"/web\n+++ /dev/null\n") {
		t.Errorf("dropped object: %q, %v; want it shown", got, err)
	}
	if err := deployments.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err = e.kc.DiffWithOptions(ctx, objs, objs, owner, wide)
	if err != nil || !strings.Contains(got, "--- /dev/null\n+++ applied apps/v1 Deployment "+ns+"/web\n") || !strings.Contains(got, "+  replicas: 2\n") {
		t.Errorf("deleted object: %q, %v; want it shown whole", got, err)
	}
}
