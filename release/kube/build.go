package kube

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// UnknownKindError is returned by Build for an object of a kind the API server
// does not serve, most often a custom resource whose CRD is not installed.
type UnknownKindError struct {
	APIVersion, Kind string
	// Source is the template the object came from, if the manifest says.
	Source string
	Err    error
}

func (e *UnknownKindError) Error() string {
	where := ""
	if e.Source != "" {
		where = " in " + e.Source
	}
	return fmt.Sprintf("unknown kind %q of apiVersion %q%s: the API server does not serve it (is its CustomResourceDefinition installed?)",
		e.Kind, e.APIVersion, where)
}

func (e *UnknownKindError) Unwrap() error { return e.Err }

// Build parses rendered YAML (one or more documents, as a release's manifest or
// a hook's) into objects, in the order written. Namespaced objects without a
// namespace get namespace; cluster-scoped objects lose any namespace they were
// given. Documents that are empty or only comments are skipped, and Lists are
// flattened into their items. A kind the server does not serve gives an
// *UnknownKindError naming it and the template it came from.
func (c *Client) Build(manifest, namespace string) ([]Object, error) {
	return c.build(context.Background(), manifest, namespace)
}

func (c *Client) build(ctx context.Context, manifest, namespace string) ([]Object, error) {
	docs, err := splitManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("building objects: %w", err)
	}
	var objs []Object
	for _, d := range docs {
		for _, u := range d.objects {
			o, err := c.object(ctx, u, d.source, namespace)
			if err != nil {
				return nil, fmt.Errorf("building objects: %w", err)
			}
			objs = append(objs, o)
		}
	}
	return objs, nil
}

// object maps one parsed object to its resource and defaults its namespace.
func (c *Client) object(ctx context.Context, u *unstructured.Unstructured, source, namespace string) (Object, error) {
	gvk := u.GroupVersionKind()
	m, err := c.mapping(ctx, gvk)
	if meta.IsNoMatchError(err) {
		return Object{}, &UnknownKindError{APIVersion: u.GetAPIVersion(), Kind: u.GetKind(), Source: source, Err: err}
	}
	if err != nil {
		return Object{}, fmt.Errorf("finding the resource of %s %q%s: %w", u.GetKind(), u.GetName(), inSource(source), err)
	}
	o := Object{Unstructured: u, Mapping: m, Source: source}
	if o.namespaced() {
		if u.GetNamespace() == "" {
			u.SetNamespace(namespace)
		}
	} else {
		u.SetNamespace("")
	}
	return o, nil
}

func inSource(source string) string {
	if source == "" {
		return ""
	}
	return " in " + source
}

// document is one YAML document of a manifest and the objects it holds.
type document struct {
	source  string
	objects []*unstructured.Unstructured
}

// splitManifest parses the documents of a manifest, keeping each one's
// "# Source:" comment.
func splitManifest(manifest string) ([]document, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var docs []document
	for n := 1; ; n++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", n, err)
		}
		src := sourceOf(raw)
		where := src
		if where == "" {
			where = fmt.Sprintf("document %d", n)
		}
		objs, err := parseDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", where, err)
		}
		if len(objs) > 0 {
			docs = append(docs, document{source: src, objects: objs})
		}
	}
}

// sourceOf returns the template named by a document's "# Source:" comment.
func sourceOf(doc []byte) string {
	for line := range strings.SplitSeq(string(doc), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source:"); ok {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// parseDocument decodes one YAML document into objects: none for an empty
// document, the items of a List (kind ending in "List", with items), or the one
// object.
func parseDocument(doc []byte) ([]*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
		return nil, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(js, &obj); err != nil {
		return nil, errors.New("the document is not a YAML mapping")
	}
	u := &unstructured.Unstructured{Object: obj}
	items, isList := obj["items"].([]any)
	if !isList || !strings.HasSuffix(u.GetKind(), "List") {
		if err := checkObject(u); err != nil {
			return nil, err
		}
		return []*unstructured.Unstructured{u}, nil
	}
	var list []unstructured.Unstructured
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d of the %s is not an object", i, u.GetKind())
		}
		list = append(list, unstructured.Unstructured{Object: m})
	}
	objs := make([]*unstructured.Unstructured, 0, len(list))
	for i := range list {
		item := &list[i]
		if err := checkObject(item); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		objs = append(objs, item)
	}
	return objs, nil
}

func checkObject(u *unstructured.Unstructured) error {
	switch {
	case u.GetAPIVersion() == "":
		return fmt.Errorf("object %q has no apiVersion", u.GetName())
	case u.GetKind() == "":
		return fmt.Errorf("object %q has no kind", u.GetName())
	case u.GetName() == "":
		return fmt.Errorf("%s has no metadata.name", u.GetKind())
	}
	return nil
}
