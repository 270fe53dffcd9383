package chart

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/client-go/rest"
)

// fakeDiscovery answers the discovery requests of client-go as a Kubernetes
// v1.31.4 serving v1 Pods and apps/v1 Deployments.
func fakeDiscovery(t *testing.T) *rest.Config {
	t.Helper()
	docs := map[string]string{
		"/version":                     `{"major":"1","minor":"31","gitVersion":"v1.31.4"}`,
		"/api":                         `{"kind":"APIVersions","versions":["v1"]}`,
		"/apis":                        `{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]}`,
		"/api/v1":                      `{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["get","list"]}]}`,
		"/api/v1/namespaces/ns/pods/p": `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"ns","uid":"u-1"}}`,
		"/apis/apps/v1":                `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["get","list"]}]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func TestRenderCapabilities(t *testing.T) {
	cluster := fakeDiscovery(t)
	for _, tc := range []struct {
		name string
		opts RenderOptions
		want []string
	}{
		{"helm template defaults", RenderOptions{ClientOnly: true}, []string{
			`kubeVersion: "v1.` + clientGoMinor + `.0"`, `hasBatchV1: "true"`, `hasDeploymentKind: "false"`, `hasWidgets: "false"`,
		}},
		{"client-only overrides", RenderOptions{ClientOnly: true, KubeVersion: &chartutil.KubeVersion{Version: "v1.28.1", Major: "1", Minor: "28"}, APIVersions: chartutil.VersionSet{"example.io/v1alpha1"}}, []string{
			`kubeVersion: "v1.28.1"`, `hasBatchV1: "true"`, `hasWidgets: "true"`, "kind: Widget",
		}},
		{"discovered from the cluster", RenderOptions{RESTConfig: cluster, APIVersions: chartutil.VersionSet{"example.io/v1alpha1"}}, []string{
			`kubeVersion: "v1.31.4"`, `kubeMinor: "31"`, `hasBatchV1: "false"`, `hasDeploymentKind: "true"`, `hasWidgets: "true"`,
		}},
		{"given by the caller", RenderOptions{RESTConfig: cluster, KubeVersion: &chartutil.KubeVersion{Version: "v1.30.0", Major: "1", Minor: "30"}, APIVersions: chartutil.VersionSet{"batch/v1", "apps/v1/Deployment"}}, []string{
			`kubeVersion: "v1.30.0"`, `hasBatchV1: "true"`, `hasDeploymentKind: "true"`, `hasWidgets: "false"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.ReleaseName = "rel"
			r := renderDir(t, umbrellaDir, nil, tc.opts)
			for _, w := range tc.want {
				if !strings.Contains(r.Manifest, w) {
					t.Errorf("manifest lacks %s", w)
				}
			}
		})
	}
	if chartutil.DefaultVersionSet.Has("example.io/v1alpha1") {
		t.Error("rendering changed Helm's default API versions")
	}
	ch, err := Load(context.Background(), umbrellaDir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Render(context.Background(), ch, nil, RenderOptions{ReleaseName: "rel", RESTConfig: &rest.Config{Host: "http://127.0.0.1:1"}})
	if err == nil || !strings.Contains(err.Error(), "getting the server version from Kubernetes") {
		t.Errorf("rendering for an unreachable cluster: %v", err)
	}
}

func TestRenderLookupAsksTheCluster(t *testing.T) {
	dir := writeChart(t, "lookups", map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: lookups\nversion: 1.0.0\n",
		"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n" +
			"  uid: {{ (lookup \"v1\" \"Pod\" \"ns\" \"p\").metadata.uid | quote }}\n" +
			"  absent: {{ lookup \"v1\" \"Pod\" \"ns\" \"q\" | len | quote }}\n",
	})
	r := renderDir(t, dir, nil, RenderOptions{ReleaseName: "rel", RESTConfig: fakeDiscovery(t)})
	if !strings.Contains(r.Manifest, `uid: "u-1"`) || !strings.Contains(r.Manifest, `absent: "0"`) {
		t.Errorf("lookup against the cluster:\n%s", r.Manifest)
	}
}
