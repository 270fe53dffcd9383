package kube

import (
	"context"
	"errors"
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
	if err := e.kc.InstallCRDs(ctx, crds); err != nil {
		t.Fatal(err)
	}
	// Installing again leaves the CRD alone.
	if err := e.kc.InstallCRDs(ctx, crds); err != nil {
		t.Fatalf("installing an existing CRD: %v", err)
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
	if err := e.kc.InstallCRDs(ctx, objs); err == nil {
		t.Error("InstallCRDs accepted a Widget")
	}
}

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj, fields...)
}
