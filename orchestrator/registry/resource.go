package registry

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/apis"
	"berth.dev/berth/orchestrator/apis/printers"
)

// resource describes one built-in resource: its names, its scope and the hooks in
// which its kind differs from the common behaviour of strategy.
type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	singular   string
	namespaced bool
	shortNames []string
	categories []string

	// status says the resource serves a status subresource; updates of the main
	// resource then keep the stored status.
	status bool
	// keepStatusOnCreate keeps a status given on create (nodes register with one).
	keepStatusOnCreate  bool
	allowCreateOnUpdate bool
	// ttlSeconds, when set, makes etcd expire the object (events).
	ttlSeconds uint64
	// indexedField, when set, names a field the watch cache indexes objects
	// by (indexedFieldValue reads it) and routes their changes with: a list
	// or watch selecting one value (a kubelet's pods) reads only the objects
	// of that value, and other watches get buffers of up to 1,000 events
	// instead of 100, past which the server closes them as unresponsive and
	// their clients list again.
	indexedField      string
	indexedFieldValue func(runtime.Object) string

	// gracefulDelete, when set, decides the grace period of a delete (pods).
	gracefulDelete func(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool

	prepareForCreate       func(ctx context.Context, obj runtime.Object)
	prepareForUpdate       func(ctx context.Context, obj, old runtime.Object)
	prepareForStatusUpdate func(ctx context.Context, obj, old runtime.Object)
}

func (r *resource) groupResource() schema.GroupResource { return r.gvr.GroupResource() }

// REST is the storage of a resource, answering discovery's questions about it too.
type REST struct {
	*genericregistry.Store
	shortNames []string
	categories []string
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
)

func (r *REST) ShortNames() []string { return r.shortNames }
func (r *REST) Categories() []string { return r.categories }

// newStore builds the generic etcd-backed store of a resource.
func newStore(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, res *resource) (*genericregistry.Store, error) {
	gvk := res.gvr.GroupVersion().WithKind(res.kind)
	if _, err := scheme.New(gvk); err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.gvr, err)
	}
	listGVK := res.gvr.GroupVersion().WithKind(res.kind + "List")
	if _, err := scheme.New(listGVK); err != nil {
		return nil, fmt.Errorf("resource %s: %w", res.gvr, err)
	}
	st := newStrategy(scheme, res)
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { obj, _ := scheme.New(gvk); return obj },
		NewListFunc:               func() runtime.Object { obj, _ := scheme.New(listGVK); return obj },
		DefaultQualifiedResource:  res.groupResource(),
		SingularQualifiedResource: schema.GroupResource{Group: res.gvr.Group, Resource: res.singular},
		PredicateFunc:             matcher(res.indexedField),
		CreateStrategy:            st,
		UpdateStrategy:            st,
		DeleteStrategy:            st,
		ResetFieldsStrategy:       st,
		TableConvertor:            printers.For(res.groupResource()),
	}
	if res.ttlSeconds > 0 {
		store.TTLFunc = func(runtime.Object, uint64, bool) (uint64, error) { return res.ttlSeconds, nil }
	}
	opts := &generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: attrs}
	if res.indexedField != "" {
		value := res.indexedFieldValue
		opts.TriggerFunc = map[string]storage.IndexerFunc{res.indexedField: value}
		opts.Indexers = &cache.Indexers{storage.FieldIndex(res.indexedField): func(obj any) ([]string, error) {
			o, ok := obj.(runtime.Object)
			if !ok {
				return nil, fmt.Errorf("indexing by %s: %T is not an API object", res.indexedField, obj)
			}
			return []string{value(o)}, nil
		}}
	}
	if err := store.CompleteWithOptions(opts); err != nil {
		return nil, fmt.Errorf("setting up storage of %s: %w", res.gvr, err)
	}
	return store, nil
}

// statusStore returns a copy of store that updates the status subresource.
func statusStore(store *genericregistry.Store) *genericregistry.Store {
	s := *store
	st := statusStrategy{store.UpdateStrategy.(strategy)}
	s.CreateStrategy = nil
	s.DeleteStrategy = nil
	s.UpdateStrategy = st
	s.ResetFieldsStrategy = st
	return &s
}

// matcher selects objects by labels and fields; a selector of the indexed
// field (if any) is answered from the watch cache's index.
func matcher(indexedField string) func(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return func(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
		p := storage.SelectionPredicate{Label: label, Field: field, GetAttrs: attrs}
		if indexedField != "" {
			p.IndexFields = []string{indexedField}
		}
		return p
	}
}

func attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m := mustAccessor(obj)
	f, ok := apis.SelectableFields(obj)
	if !ok {
		return nil, nil, fmt.Errorf("%T is not a served kind", obj)
	}
	return labels.Set(m.GetLabels()), f, nil
}
