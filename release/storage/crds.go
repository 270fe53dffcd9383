package storage

import (
	"context"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// Group is the API group of berth's own resources.
const Group = "berth.dev"

var (
	revisionsResource = schema.GroupVersionResource{Group: Group, Version: "v1", Resource: "releaserevisions"}
	chunksResource    = schema.GroupVersionResource{Group: Group, Version: "v1", Resource: "releaserevisionchunks"}
	indexesResource   = schema.GroupVersionResource{Group: Group, Version: "v1", Resource: "releaseindexes"}
)

// CRDs returns the definitions of the resources releases are stored in:
// revisions, the chunks of large revisions, and each namespace's index.
func CRDs() []*apiextensionsv1.CustomResourceDefinition {
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	integer := apiextensionsv1.JSONSchemaProps{Type: "integer"}
	revisionSpec := apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"release":       str,
			"revision":      integer,
			"status":        str,
			"chart":         str,
			"appVersion":    str,
			"description":   str,
			"firstDeployed": {Type: "string", Format: "date-time"},
			"lastDeployed":  {Type: "string", Format: "date-time"},
			"deleted":       {Type: "string", Format: "date-time"},
			"body":          {Type: "string", Description: "The release, as Helm encodes it in JSON, gzip-compressed, base64-encoded; empty when in chunks."},
			"chunks":        {Type: "integer", Description: "How many ReleaseRevisionChunks hold the body."},
			"bodyHash":      {Type: "string", Description: "SHA-256 of the body, to rewrite it only when it changes."},
		},
		Required: []string{"release", "revision", "status"},
	}
	chunkSpec := apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"index": integer,
			"data":  str,
		},
		Required: []string{"index", "data"},
	}
	entry := apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"revision": integer, "status": str, "chart": str, "appVersion": str, "description": str,
			"updated": {Type: "string", Format: "date-time"},
		},
	}
	indexSpec := apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			// Atomic for field ownership, which berth alone has: the object's
			// managedFields then name the map, not each field of each entry,
			// which made them as large as the entries themselves, and every
			// list of the index twice as large to encode and decode.
			"releases": {Type: "object", Description: "The newest revision of each release, by release name.",
				AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &entry},
				XMapType:             ptr.To("atomic")},
		},
	}
	return []*apiextensionsv1.CustomResourceDefinition{
		crd("releaserevisions", "ReleaseRevision", []string{"rrev"}, revisionSpec, []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Release", Type: "string", JSONPath: ".spec.release"},
			{Name: "Revision", Type: "integer", JSONPath: ".spec.revision"},
			{Name: "Status", Type: "string", JSONPath: ".spec.status"},
			{Name: "Chart", Type: "string", JSONPath: ".spec.chart"},
			{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
		}),
		crd("releaserevisionchunks", "ReleaseRevisionChunk", nil, chunkSpec, nil),
		crd("releaseindexes", "ReleaseIndex", nil, indexSpec, nil),
	}
}

func crd(plural, kind string, shortNames []string, spec apiextensionsv1.JSONSchemaProps, columns []apiextensionsv1.CustomResourceColumnDefinition) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: Group,
			Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: plural, Singular: singular(kind), Kind: kind, ListKind: kind + "List", ShortNames: shortNames,
			},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:       "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": spec},
				}},
				AdditionalPrinterColumns: columns,
			}},
		},
	}
}

func singular(kind string) string {
	out := []byte(kind)
	for i, c := range out {
		if c >= 'A' && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}

// EnsureCRDs creates the definitions that are missing and waits until the API
// serves them. Existing definitions are left as they are. When the API serves
// every resource already it asks nothing more: a user who may only work in a
// namespace may not read definitions, which are cluster-wide.
func EnsureCRDs(ctx context.Context, client apiextensionsclient.Interface) error {
	if Served(client, revisionsResource.GroupVersion().String(), revisionsResource.Resource, chunksResource.Resource, indexesResource.Resource) {
		return nil
	}
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	for _, want := range CRDs() {
		if _, err := crds.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CustomResourceDefinition %s: %w", want.Name, err)
		}
		if err := WaitEstablished(ctx, client, want.Name); err != nil {
			return err
		}
	}
	return nil
}

// Served reports whether the API serves every resource of groupVersion named.
func Served(client apiextensionsclient.Interface, groupVersion string, resources ...string) bool {
	list, err := client.Discovery().ServerResourcesForGroupVersion(groupVersion)
	if err != nil {
		return false
	}
	have := map[string]bool{}
	for _, r := range list.APIResources {
		have[r.Name] = true
	}
	for _, r := range resources {
		if !have[r] {
			return false
		}
	}
	return true
}

// WaitEstablished returns once the API serves the CustomResourceDefinition
// name (its Established condition is true), or fails after a minute.
func WaitEstablished(ctx context.Context, client apiextensionsclient.Interface, name string) error {
	crds := client.ApiextensionsV1().CustomResourceDefinitions()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := crds.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for CustomResourceDefinition %s to be established: %w", name, err)
	}
	return nil
}
