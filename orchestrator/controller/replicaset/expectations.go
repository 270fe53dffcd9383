package replicaset

import (
	"sync"
	"time"
)

// expectationsTimeout is how long the controller waits to see the pods it
// created or deleted before it stops trusting its count and syncs anyway (a
// watch event can be lost).
const expectationsTimeout = 5 * time.Minute

// expectations remember, per controller key, the pod creations and deletions
// the controller has asked for and not yet seen in its cache. While some are
// outstanding the cache is known to be stale, and counting pods in it would
// create or delete too many, so the controller waits.
type expectations struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	creations int
	// deletions are the keys (namespace/name) of the pods being deleted: a pod
	// counts once, whether its deletion shows as a deletion timestamp, as the
	// delete itself, or both.
	deletions map[string]bool
	at        time.Time
}

func newExpectations(now func() time.Time) *expectations {
	return &expectations{now: now, m: map[string]*expectation{}}
}

// satisfied reports whether the cache has caught up with key's last changes,
// or they have been outstanding too long to wait for.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	return x == nil || x.creations <= 0 && len(x.deletions) == 0 || e.now().Sub(x.at) > expectationsTimeout
}

func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{creations: n, at: e.now()}
}

func (e *expectations) expectDeletions(key string, pods []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{deletions: map[string]bool{}, at: e.now()}
	for _, p := range pods {
		x.deletions[p] = true
	}
	e.m[key] = x
}

// created records that a pod of key showed up, or that a creation was not
// attempted or failed and never will.
func (e *expectations) created(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		x.creations--
	}
}

// deleted records that pod of key is going away, or that its deletion failed.
func (e *expectations) deleted(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.deletions, pod)
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
