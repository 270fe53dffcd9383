package reencrypt

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
)

var (
	secrets = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	widgets = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
)

func object(gvr schema.GroupVersionResource, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(gvr.GroupVersion().String())
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func TestEncryptedObjectsRewrite(t *testing.T) {
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{secrets: "SecretList", widgets: "WidgetList"},
		object(secrets, "Secret", "a", "one"), object(secrets, "Secret", "b", "two"),
		object(secrets, "Secret", "b", "changed"), object(widgets, "Widget", "a", "w"))
	// One Secret is written by someone else between the list and the update.
	client.PrependReactor("update", "secrets", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.(clienttesting.UpdateAction).GetObject().(*unstructured.Unstructured).GetName() == "changed" {
			return true, nil, apierrors.NewConflict(secrets.GroupResource(), "changed", nil)
		}
		return false, nil, nil
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(secrets.GroupVersion().WithKind("Secret"), meta.RESTScopeNamespace)
	mapper.Add(widgets.GroupVersion().WithKind("Widget"), meta.RESTScopeNamespace)

	counts, err := Rewrite(context.Background(), client, mapper, []string{"secrets", "widgets.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Count{{Resource: "secrets", Rewritten: 2, Skipped: 1}, {Resource: "widgets.example.com", Rewritten: 1}}
	if !slices.Equal(counts, want) {
		t.Errorf("counts %+v, want %+v", counts, want)
	}
	var updated []string
	for _, a := range client.Actions() {
		if u, ok := a.(clienttesting.UpdateAction); ok {
			updated = append(updated, a.GetResource().Resource+" "+a.GetNamespace()+"/"+u.GetObject().(*unstructured.Unstructured).GetName())
		}
	}
	slices.Sort(updated)
	if want := []string{"secrets a/one", "secrets b/changed", "secrets b/two", "widgets a/w"}; !slices.Equal(updated, want) {
		t.Errorf("updates %v, want %v", updated, want)
	}

	t.Run("refuses a wildcard", func(t *testing.T) {
		if _, err := Rewrite(context.Background(), client, mapper, []string{"*.example.com"}); err == nil || !strings.Contains(err.Error(), "*.example.com") {
			t.Errorf("Rewrite(*.example.com): %v, want an error naming it", err)
		}
	})
	t.Run("names a resource the API lacks", func(t *testing.T) {
		if _, err := Rewrite(context.Background(), client, mapper, []string{"gadgets.example.com"}); err == nil || !strings.Contains(err.Error(), "gadgets.example.com") {
			t.Errorf("Rewrite(gadgets.example.com): %v, want an error naming it", err)
		}
	})
}

func TestEncryptionConfigWaitLoaded(t *testing.T) {
	const loaded = "sha256:aaaa"
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`# HELP apiserver_encryption_config_controller_last_config_info [ALPHA] ...
# TYPE apiserver_encryption_config_controller_last_config_info gauge
apiserver_encryption_config_controller_last_config_info{apiserver_id_hash="sha256:bbbb",hash="` + loaded + `"} 1
`))
	}))
	defer server.Close()
	client, err := rest.RESTClientFor(&rest.Config{Host: server.URL, ContentConfig: rest.ContentConfig{
		GroupVersion: &schema.GroupVersion{}, NegotiatedSerializer: scheme.Codecs.WithoutConversion()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitLoaded(context.Background(), client, loaded, 10*time.Millisecond); err != nil {
		t.Errorf("WaitLoaded(%s): %v", loaded, err)
	}
	// The server's identity hash is no loaded configuration.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := WaitLoaded(ctx, client, "sha256:bbbb", 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "sha256:bbbb") {
		t.Errorf("WaitLoaded(another hash): %v, want an error naming it", err)
	}
}
