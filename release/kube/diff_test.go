package kube

import (
	"context"
	"strings"
	"testing"
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
