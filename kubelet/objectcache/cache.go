package objectcache

import (
	"context"
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Cache holds the Secrets and ConfigMaps of the pods registered with it. It
// is safe for concurrent use. Create it with New.
type Cache struct {
	secrets    *objects[*corev1.Secret]
	configMaps *objects[*corev1.ConfigMap]

	mu      sync.Mutex
	pods    map[types.UID]podRefs
	running bool
	wg      sync.WaitGroup // the watches' goroutines
}

// New returns a Cache that reads through client; its watches start with Run.
func New(client kubernetes.Interface) (*Cache, error) {
	if client == nil {
		return nil, errors.New("object cache: no API client")
	}
	c := &Cache{pods: map[types.UID]podRefs{}}
	core := client.CoreV1()
	c.secrets = newObjects(kind[*corev1.Secret]{
		resource: corev1.Resource("secrets"),
		object:   &corev1.Secret{},
		client:   client,
		get: func(ctx context.Context, ns, name string) (*corev1.Secret, error) {
			return core.Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		},
		list: func(ctx context.Context, ns string, opts metav1.ListOptions) (runtime.Object, error) {
			return core.Secrets(ns).List(ctx, opts)
		},
		watch: func(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
			return core.Secrets(ns).Watch(ctx, opts)
		},
	}, &c.wg)
	c.configMaps = newObjects(kind[*corev1.ConfigMap]{
		resource: corev1.Resource("configmaps"),
		object:   &corev1.ConfigMap{},
		client:   client,
		get: func(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
			return core.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		},
		list: func(ctx context.Context, ns string, opts metav1.ListOptions) (runtime.Object, error) {
			return core.ConfigMaps(ns).List(ctx, opts)
		},
		watch: func(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
			return core.ConfigMaps(ns).Watch(ctx, opts)
		},
	}, &c.wg)
	return c, nil
}

// Run keeps the registered pods' objects watched until ctx ends, calling
// changed (which must not block) with the UID of each pod that references
// an object that was created, changed or deleted. Pods registered before
// Run have their watches started then; until then reads are GETs.
func (c *Cache) Run(ctx context.Context, changed func(pod types.UID)) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("object cache: already running")
	}
	c.running = true
	c.mu.Unlock()
	if changed == nil {
		changed = func(types.UID) {}
	}
	c.secrets.start(ctx, changed)
	c.configMaps.start(ctx, changed)
	<-ctx.Done()
	c.secrets.stop()
	c.configMaps.stop()
	c.wg.Wait()
	return nil
}

// Register records the Secrets and ConfigMaps pod references now, watching
// those no other pod did and dropping what an earlier version of the pod
// referenced and this one does not. Registering a pod again is cheap.
func (c *Cache) Register(pod *corev1.Pod) {
	now := refsOf(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.pods[pod.UID]
	update(c.secrets, pod.UID, now.namespace, before.secrets, now.secrets)
	update(c.configMaps, pod.UID, now.namespace, before.configMaps, now.configMaps)
	c.pods[pod.UID] = now
}

// Unregister drops the references of the pod with uid, ending the watches
// of objects no other pod references.
func (c *Cache) Unregister(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before, ok := c.pods[uid]
	if !ok {
		return
	}
	update(c.secrets, uid, before.namespace, before.secrets, nil)
	update(c.configMaps, uid, before.namespace, before.configMaps, nil)
	delete(c.pods, uid)
}

// update moves pod's references of one kind from before to now.
func update[T runtime.Object](o *objects[T], pod types.UID, namespace string, before, now map[string]bool) {
	for name := range now {
		if !before[name] {
			o.addRef(types.NamespacedName{Namespace: namespace, Name: name}, pod)
		}
	}
	for name := range before {
		if !now[name] {
			o.removeRef(types.NamespacedName{Namespace: namespace, Name: name}, pod)
		}
	}
}

// Secret returns Secret namespace/name; a missing one is a NotFound error.
// The object is shared: callers must not change it.
func (c *Cache) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return c.secrets.get(ctx, namespace, name)
}

// ConfigMap returns ConfigMap namespace/name; a missing one is a NotFound
// error. The object is shared: callers must not change it.
func (c *Cache) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return c.configMaps.get(ctx, namespace, name)
}
