package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.berth.dev
spec:
  group: test.berth.dev
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
`

const widget = `# Source: shop/templates/widget.yaml
apiVersion: test.berth.dev/v1
kind: Widget
metadata:
  name: big
spec:
  size: 10
`

func testCRDs(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	// A client made before the CRD exists caches discovery without it.
	if _, err := e.kc.Build(widget, ns); !errors.As(err, new(*UnknownKindError)) {
		t.Fatalf("Build of a Widget before its CRD: %v, want an UnknownKindError", err)
	}
	crds := e.build(t, widgetCRD, ns)
	if err := e.kc.InstallCRDs(ctx, crds, false); err != nil {
		t.Fatal(err)
	}
	// Installing again leaves the CRD alone; with replace, a changed one is
	// updated.
	changed := e.build(t, strings.Replace(widgetCRD, "    kind: Widget\n", "    kind: Widget\n    shortNames: [wd]\n", 1), ns)
	if err := e.kc.InstallCRDs(ctx, changed, false); err != nil {
		t.Fatalf("installing an existing CRD: %v", err)
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	shortNames := func() []string {
		t.Helper()
		live, err := e.kc.dynamic.Resource(crdGVR).Get(ctx, "widgets.test.berth.dev", getOptions)
		if err != nil {
			t.Fatal(err)
		}
		names, _, _ := unstructured.NestedStringSlice(live.Object, "spec", "names", "shortNames")
		return names
	}
	if got := shortNames(); len(got) != 0 {
		t.Errorf("InstallCRDs without replace changed the CRD: shortNames %v", got)
	}
	if err := e.kc.InstallCRDs(ctx, changed, true); err != nil {
		t.Fatalf("replacing an existing CRD: %v", err)
	}
	if got := shortNames(); len(got) != 1 {
		t.Errorf("InstallCRDs with replace left the CRD: shortNames %v", got)
	}
	objs := e.apply(t, widget, ns, Owner{ReleaseName: "shop", ReleaseNamespace: ns})
	gvr := schema.GroupVersionResource{Group: "test.berth.dev", Version: "v1", Resource: "widgets"}
	got, err := e.kc.dynamic.Resource(gvr).Namespace(ns).Get(ctx, "big", getOptions)
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructuredInt(got.Object, "spec", "size"); size != 10 || got.GetAnnotations()[ReleaseNameAnnotation] != "shop" {
		t.Errorf("widget %v", got.Object)
	}
	sts, err := e.kc.Status(ctx, append(crds, objs...))
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].Message != "CustomResourceDefinition widgets.test.berth.dev: established" || sts[1].Status != Current {
		t.Errorf("statuses %v", sts)
	}
	if err := e.kc.InstallCRDs(ctx, objs, false); err == nil {
		t.Error("InstallCRDs accepted a Widget")
	}
}

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj, fields...)
}
