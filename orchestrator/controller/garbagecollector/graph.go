package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// Index names of every monitor's cache.
const (
	byUID   = "uid"
	byOwner = "owner-uid"
)

// ignored are resources never collected, as upstream ignores them: events come
// and go by the thousand and are never owners.
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// resource is a served resource as discovery names it.
type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// item is an object in the graph and the resource it was read from.
type item struct {
	meta *metav1.PartialObjectMetadata
	res  resource
}

// monitor watches one resource.
type monitor struct {
	res      resource
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
}

// graph is the dependency graph: the caches of one metadata informer per
// deletable resource, each indexed by UID (the nodes) and by owner UID (the
// edges, from owner to dependents).
type graph struct {
	client  metadata.Interface
	handler cache.ResourceEventHandler

	mu       sync.RWMutex
	kinds    map[schema.GroupKind]resource // every served kind, to resolve ownerReferences
	monitors map[schema.GroupVersionResource]*monitor
}

func newGraph(client metadata.Interface, handler cache.ResourceEventHandler) *graph {
	return &graph{
		client:   client,
		handler:  handler,
		kinds:    map[schema.GroupKind]resource{},
		monitors: map[schema.GroupVersionResource]*monitor{},
	}
}

// resync watches the deletable resources of lists and stops watching those no
// longer served. When discovery was incomplete, nothing is stopped: a group that
// did not answer is not a group that went away.
func (g *graph) resync(ctx context.Context, lists []*metav1.APIResourceList, complete bool, log *slog.Logger) {
	kinds := map[schema.GroupKind]resource{}
	want := map[schema.GroupVersionResource]resource{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // a subresource
			}
			res := resource{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced}
			gk := gv.WithKind(r.Kind).GroupKind()
			if _, seen := kinds[gk]; !seen {
				kinds[gk] = res
			}
			if !ignored[res.gvr.GroupResource()] && hasVerbs(r.Verbs, "list", "watch", "delete") {
				want[res.gvr] = res
			}
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if complete {
		g.kinds = kinds
	} else {
		maps.Copy(g.kinds, kinds)
	}
	for gvr := range want {
		if _, ok := g.monitors[gvr]; !ok {
			log.Debug("watching for garbage", "resource", gvr.String())
			g.monitors[gvr] = g.watch(ctx, want[gvr])
		}
	}
	if !complete {
		return
	}
	for gvr, m := range g.monitors {
		if _, ok := want[gvr]; !ok {
			log.Info("no longer served, stopped watching", "resource", gvr.String())
			m.cancel()
			delete(g.monitors, gvr)
		}
	}
}

func hasVerbs(have metav1.Verbs, want ...string) bool {
	for _, v := range want {
		if !slices.Contains(have, v) {
			return false
		}
	}
	return true
}

// watch starts a monitor of gvr that runs until ctx ends or it is cancelled.
func (g *graph) watch(ctx context.Context, res resource) *monitor {
	inf := metadatainformer.NewFilteredMetadataInformer(g.client, res.gvr, metav1.NamespaceAll, 0,
		cache.Indexers{byUID: indexUID, byOwner: indexOwners}, nil).Informer()
	// The collector reads references and finalizers only: managed fields are
	// most of an object's metadata and would double the cache for nothing.
	_ = inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return obj, nil
	})
	_, _ = inf.AddEventHandler(g.handler) // fails only on a stopped informer
	ctx, cancel := context.WithCancel(ctx)
	go inf.RunWithContext(ctx)
	return &monitor{res: res, informer: inf, cancel: cancel}
}

func indexUID(obj any) ([]string, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	return []string{string(m.GetUID())}, nil
}

func indexOwners(obj any) ([]string, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	refs := m.GetOwnerReferences()
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, string(r.UID))
	}
	return out, nil
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("indexing %T: not an object", obj)
	}
	return m, nil
}

// synced reports whether every monitor started so far has filled its cache.
func (g *graph) synced() []cache.InformerSynced {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]cache.InformerSynced, 0, len(g.monitors))
	for _, m := range g.monitors {
		out = append(out, m.informer.HasSynced)
	}
	return out
}

// kind returns the resource that serves gk.
func (g *graph) kind(gk schema.GroupKind) (resource, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	r, ok := g.kinds[gk]
	return r, ok
}

// object returns the cached object with uid.
func (g *graph) object(uid types.UID) (item, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	for _, m := range g.monitors {
		objs, _ := m.informer.GetIndexer().ByIndex(byUID, string(uid))
		for _, o := range objs {
			if pm, ok := o.(*metav1.PartialObjectMetadata); ok {
				return item{meta: pm, res: m.res}, true
			}
		}
	}
	return item{}, false
}

// dependents returns the cached objects that reference uid as an owner.
func (g *graph) dependents(uid types.UID) []item {
	g.mu.RLock()
	defer g.mu.RUnlock()
	var out []item
	for _, m := range g.monitors {
		objs, _ := m.informer.GetIndexer().ByIndex(byOwner, string(uid))
		for _, o := range objs {
			if pm, ok := o.(*metav1.PartialObjectMetadata); ok {
				out = append(out, item{meta: pm, res: m.res})
			}
		}
	}
	return out
}

// cachedOwner returns the owner ref names as the cache holds it, if it is there
// and could own an object in namespace: a namespaced object can only be owned
// from its own namespace or by a cluster-scoped object.
func (g *graph) cachedOwner(namespace string, ref metav1.OwnerReference) (*metav1.PartialObjectMetadata, bool) {
	o, ok := g.object(ref.UID)
	if !ok || o.meta.Name != ref.Name || o.meta.Namespace != "" && o.meta.Namespace != namespace {
		return nil, false
	}
	return o.meta, true
}

// suspect says whether m may be garbage: one of its owners is missing from the
// cache (perhaps gone, perhaps not seen yet) or waits in foreground deletion
// for its dependents to go.
func (g *graph) suspect(m *metav1.PartialObjectMetadata) bool {
	for _, ref := range m.OwnerReferences {
		o, ok := g.cachedOwner(m.Namespace, ref)
		if !ok || o.DeletionTimestamp != nil && hasFinalizer(o, metav1.FinalizerDeleteDependents) {
			return true
		}
	}
	return false
}
