package kube

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
)

func testBuild(t *testing.T, e *env) {
	t.Run("documents", func(t *testing.T) {
		manifest := `---
# Source: shop/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: "1"
---
# Source: shop/templates/empty.yaml
# nothing rendered here
---
# Source: shop/templates/elsewhere.yaml
apiVersion: v1
kind: Secret
metadata:
  name: token
  namespace: other
---
# Source: shop/templates/rbac.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
  namespace: shop
rules: []
---
# Source: shop/templates/list.yaml
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata:
    name: one
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: two
`
		objs, err := e.kc.Build(manifest, "shop")
		if err != nil {
			t.Fatal(err)
		}
		type want struct{ kind, namespace, name, source, resource string }
		wants := []want{
			{"ConfigMap", "shop", "settings", "shop/templates/config.yaml", "configmaps"},
			{"Secret", "other", "token", "shop/templates/elsewhere.yaml", "secrets"},
			{"ClusterRole", "", "reader", "shop/templates/rbac.yaml", "clusterroles"},
			{"ServiceAccount", "shop", "one", "shop/templates/list.yaml", "serviceaccounts"},
			{"Deployment", "shop", "two", "shop/templates/list.yaml", "deployments"},
		}
		if len(objs) != len(wants) {
			t.Fatalf("got %d objects, want %d: %v", len(objs), len(wants), objs)
		}
		for i, w := range wants {
			o := objs[i]
			got := want{o.GetKind(), o.GetNamespace(), o.GetName(), o.Source, o.Mapping.Resource.Resource}
			if got != w {
				t.Errorf("object %d = %+v, want %+v", i, got, w)
			}
		}
		if got, want := objs[0].String(), `ConfigMap "settings" in namespace "shop"`; got != want {
			t.Errorf("String() = %s, want %s", got, want)
		}
		if got, want := objs[2].String(), `ClusterRole "reader"`; got != want {
			t.Errorf("String() = %s, want %s", got, want)
		}
	})

	t.Run("unknown kind", func(t *testing.T) {
		manifest := "---\n# Source: shop/templates/gadget.yaml\napiVersion: example.com/v1\nkind: Gadget\nmetadata:\n  name: g\n"
		_, err := e.kc.Build(manifest, "shop")
		var uk *UnknownKindError
		if !errors.As(err, &uk) {
			t.Fatalf("Build: %v, want an UnknownKindError", err)
		}
		if uk.Kind != "Gadget" || uk.Source != "shop/templates/gadget.yaml" || !meta.IsNoMatchError(err) {
			t.Errorf("error %+v", uk)
		}
		for _, s := range []string{`"Gadget"`, "shop/templates/gadget.yaml", "CustomResourceDefinition"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %s", err, s)
			}
		}
	})

	for name, tc := range map[string]struct{ manifest, want string }{
		"no name":     {"# Source: c/templates/x.yaml\napiVersion: v1\nkind: ConfigMap\n", "c/templates/x.yaml: ConfigMap has no metadata.name"},
		"no kind":     {"apiVersion: v1\nmetadata:\n  name: x\n", `document 1: object "x" has no kind`},
		"not mapping": {"---\n- a\n- b\n", "document 1: the document is not a YAML mapping"},
		"bad yaml":    {"# Source: c/templates/y.yaml\nkind: [\n", "parsing c/templates/y.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.kc.Build(tc.manifest, "shop")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
