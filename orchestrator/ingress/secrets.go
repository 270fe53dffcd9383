package ingress

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// secretGetTimeout bounds the GET of a Secret not yet watched, which holds
// up the rebuild of the routing table.
const secretGetTimeout = 5 * time.Second

// tlsSecrets holds the Secrets that the served Ingresses name in spec.tls,
// each through a watch of its own (a list and watch of its namespace with
// the field selector metadata.name=NAME): the controller runs under its
// node's identity, which may read those Secrets one by one and may not
// list or watch Secrets whole. The kubelet's object cache works the same
// way (kubelet/objectcache), for pods' references; orchestrator must not
// import the kubelet, and this one follows the routing table instead.
type tlsSecrets struct {
	client kubernetes.Interface
	// changed is called when a watched Secret is listed, created, changed
	// or deleted.
	changed func()

	mu      sync.Mutex
	ctx     context.Context // begin's; nil before
	watches map[types.NamespacedName]*secretWatch
	wg      sync.WaitGroup
}

// secretWatch is the watch of one Secret.
type secretWatch struct {
	store  cache.Store
	synced func() bool
	cancel context.CancelFunc
}

func newTLSSecrets(client kubernetes.Interface, changed func()) *tlsSecrets {
	return &tlsSecrets{client: client, changed: changed, watches: map[types.NamespacedName]*secretWatch{}}
}

// begin lets want start watches, which end with ctx; wait waits for them
// to end.
func (s *tlsSecrets) begin(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
}

func (s *tlsSecrets) wait() { s.wg.Wait() }

// want makes the watched Secrets exactly keys: it starts the watches of new
// ones and stops those of Secrets no served Ingress names any more.
func (s *tlsSecrets) want(keys map[types.NamespacedName]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil || s.ctx.Err() != nil {
		return
	}
	for key, w := range s.watches {
		if !keys[key] {
			w.cancel()
			delete(s.watches, key)
		}
	}
	for key := range keys {
		if s.watches[key] == nil {
			s.watches[key] = s.start(key)
		}
	}
}

// start runs the watch of Secret key until begin's context ends or want
// drops it; s.mu is held.
func (s *tlsSecrets) start(key types.NamespacedName) *secretWatch {
	ctx, cancel := context.WithCancel(s.ctx)
	secrets := s.client.CoreV1().Secrets(key.Namespace)
	selector := fields.OneTermEqualSelector(metav1.ObjectNameField, key.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return secrets.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return secrets.Watch(ctx, opts)
		},
	}
	changed := func(any) { s.changed() }
	store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, s.client),
		ObjectType:    &corev1.Secret{},
		// The first list counts too: a build may have found the Secret
		// missing, or not been allowed to read it yet.
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: changed,
			// A relist's updates that change nothing change no certificate.
			UpdateFunc: func(old, cur any) {
				if o, c := old.(*corev1.Secret), cur.(*corev1.Secret); o.ResourceVersion == "" || o.ResourceVersion != c.ResourceVersion {
					s.changed()
				}
			},
			DeleteFunc: changed,
		},
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctrl.RunWithContext(ctx)
	}()
	return &secretWatch{store: store, synced: ctrl.HasSynced, cancel: cancel}
}

// get returns Secret ns/name from its watch once the watch has listed it,
// else with a GET (a Secret an Ingress just named); a missing Secret is a
// NotFound error.
func (s *tlsSecrets) get(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: ns, Name: name}
	s.mu.Lock()
	var store cache.Store
	if w := s.watches[key]; w != nil && w.synced() {
		store = w.store
	}
	s.mu.Unlock()
	if store == nil {
		ctx, cancel := context.WithTimeout(ctx, secretGetTimeout)
		defer cancel()
		return s.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	obj, exists, err := store.GetByKey(key.String())
	if err != nil {
		return nil, err
	}
	secret, ok := obj.(*corev1.Secret)
	if !exists || !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
	}
	return secret, nil
}

// watching lists the watched Secrets.
func (s *tlsSecrets) watching() []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []types.NamespacedName
	for key := range s.watches {
		out = append(out, key)
	}
	return out
}
