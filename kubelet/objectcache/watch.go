package objectcache

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// kind reads one kind of namespaced object through the API.
type kind[T runtime.Object] struct {
	resource schema.GroupResource // for NotFound errors, as the API server words them
	object   T                    // an empty one: the type the watches decode
	// client is the clientset, asked whether it can stream a watch's initial
	// list (client-go's fake cannot).
	client any
	get    func(ctx context.Context, namespace, name string) (T, error)
	list   func(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error)
	watch  func(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error)
}

// objects are the watches of one kind, one per referenced object.
type objects[T runtime.Object] struct {
	kind kind[T]

	mu      sync.Mutex
	watches map[types.NamespacedName]*objectWatch
	// ctx is Run's, nil before: watches added earlier start when it is set.
	ctx     context.Context
	changed func(pod types.UID)
	// stopped is set once Run's context ended, before Run waits on wg, so
	// that no watch starts while it waits.
	stopped bool
	wg      *sync.WaitGroup
}

// objectWatch is the watch of one object and the pods that reference it.
type objectWatch struct {
	pods map[types.UID]bool
	// store and synced are nil until the watch starts; store holds at most
	// the one object (the API server honours the field selector).
	store  cache.Store
	synced func() bool
	cancel context.CancelFunc
}

func newObjects[T runtime.Object](k kind[T], wg *sync.WaitGroup) *objects[T] {
	return &objects[T]{kind: k, watches: map[types.NamespacedName]*objectWatch{}, wg: wg}
}

// start starts the watches added so far and every later one under ctx,
// calling changed for the pods referencing an object that changed.
func (o *objects[T]) start(ctx context.Context, changed func(types.UID)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ctx, o.changed = ctx, changed
	for key, w := range o.watches {
		o.startWatch(key, w)
	}
}

// stop keeps watches from starting from now on; those running end with
// Run's context.
func (o *objects[T]) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopped = true
}

// addRef records that pod references key, watching key if it is the first.
func (o *objects[T]) addRef(key types.NamespacedName, pod types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.watches[key]
	if w == nil {
		w = &objectWatch{pods: map[types.UID]bool{}}
		o.watches[key] = w
		if o.ctx != nil {
			o.startWatch(key, w)
		}
	}
	w.pods[pod] = true
}

// removeRef records that pod no longer references key, ending key's watch
// if it was the last.
func (o *objects[T]) removeRef(key types.NamespacedName, pod types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.watches[key]
	if w == nil {
		return
	}
	delete(w.pods, pod)
	if len(w.pods) > 0 {
		return
	}
	if w.cancel != nil {
		w.cancel()
	}
	delete(o.watches, key)
}

// watching lists the objects being watched or waiting for Run.
func (o *objects[T]) watching() []types.NamespacedName {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []types.NamespacedName
	for key := range o.watches {
		out = append(out, key)
	}
	return out
}

// startWatch runs w's informer until Run ends or w is removed; o.mu is held.
func (o *objects[T]) startWatch(key types.NamespacedName, w *objectWatch) {
	if w.cancel != nil || o.stopped {
		return
	}
	ctx, cancel := context.WithCancel(o.ctx)
	selector := fields.OneTermEqualSelector(metav1.ObjectNameField, key.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return o.kind.list(ctx, key.Namespace, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return o.kind.watch(ctx, key.Namespace, opts)
		},
	}
	// Only the watched object's events count: client-go's fake clientset,
	// for one, ignores field selectors.
	notify := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, err := meta.Accessor(obj); err == nil && m.GetName() == key.Name && m.GetNamespace() == key.Namespace {
			o.notify(key)
		}
	}
	store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, o.kind.client),
		ObjectType:    o.kind.object,
		// Every event counts, the first list's too: a pod may be waiting
		// for an object its GET did not find or was not allowed to read.
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: notify,
			UpdateFunc: func(old, cur any) {
				if sameVersion(old, cur) {
					return // a relist, nothing new
				}
				notify(cur)
			},
			DeleteFunc: notify,
		},
	})
	w.store, w.synced, w.cancel = store, ctrl.HasSynced, cancel
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		ctrl.RunWithContext(ctx)
	}()
}

// sameVersion reports whether two copies of an object have the same
// (known) resourceVersion.
func sameVersion(a, b any) bool {
	m, err := meta.Accessor(a)
	if err != nil {
		return false
	}
	n, err := meta.Accessor(b)
	return err == nil && m.GetResourceVersion() != "" && m.GetResourceVersion() == n.GetResourceVersion()
}

// notify tells Run's caller which pods reference key, outside the lock.
func (o *objects[T]) notify(key types.NamespacedName) {
	o.mu.Lock()
	w, changed := o.watches[key], o.changed
	var pods []types.UID
	if w != nil {
		for uid := range w.pods {
			pods = append(pods, uid)
		}
	}
	o.mu.Unlock()
	if changed == nil {
		return
	}
	for _, uid := range pods {
		changed(uid)
	}
}

// get returns the object from its watch once the watch has listed it, else
// through a GET. A missing object is a NotFound error.
func (o *objects[T]) get(ctx context.Context, namespace, name string) (T, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	o.mu.Lock()
	var store cache.Store
	if w := o.watches[key]; w != nil && w.synced != nil && w.synced() {
		store = w.store
	}
	o.mu.Unlock()
	if store == nil {
		return o.kind.get(ctx, namespace, name)
	}
	var zero T
	obj, exists, err := store.GetByKey(key.String())
	if err != nil {
		return zero, err
	}
	if !exists {
		return zero, apierrors.NewNotFound(o.kind.resource, name)
	}
	t, ok := obj.(T)
	if !ok {
		return o.kind.get(ctx, namespace, name)
	}
	return t, nil
}
