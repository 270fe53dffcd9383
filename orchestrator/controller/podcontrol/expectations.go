package podcontrol

import (
	"sync"
	"time"
)

// ExpectationsTimeout is how long a controller waits to see the pods it created
// or deleted before it stops trusting its expectations and syncs anyway: a
// watch event can be lost.
const ExpectationsTimeout = 5 * time.Minute

// Expectations remember, per controller key (namespace/name), the creations
// and deletions the controller asked for and has not yet observed. While some
// are outstanding the cache is known to be stale and the controller must not
// act on counts from it. The zero value is not usable: call NewExpectations.
type Expectations struct {
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	creations int
	// deletions are the keys of the pods being deleted: a pod counts once,
	// whether its deletion shows as a deletion timestamp, as the delete, or both.
	deletions map[string]bool
	at        time.Time
}

// NewExpectations returns empty expectations that read the time from now (nil
// is time.Now).
func NewExpectations(now func() time.Time) *Expectations {
	if now == nil {
		now = time.Now
	}
	return &Expectations{now: now, m: map[string]*expectation{}}
}

// Satisfied reports whether the cache has caught up with key's last changes, or
// they have been outstanding too long to wait for.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	return x == nil || x.creations <= 0 && len(x.deletions) == 0 || e.now().Sub(x.at) > ExpectationsTimeout
}

// Expect replaces key's expectations with n creations and the deletion of the
// pods named by podKeys.
func (e *Expectations) Expect(key string, creations int, podKeys ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{creations: creations, deletions: map[string]bool{}, at: e.now()}
	for _, p := range podKeys {
		x.deletions[p] = true
	}
	e.m[key] = x
}

// ExpectCreations adds n creations to key's outstanding expectations.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil || x.creations <= 0 && len(x.deletions) == 0 {
		x = &expectation{deletions: map[string]bool{}}
		e.m[key] = x
	}
	x.creations += n
	x.at = e.now()
}

// ExpectDeletions adds the deletion of the pods named by podKeys to key's
// outstanding expectations.
func (e *Expectations) ExpectDeletions(key string, podKeys ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.m[key]
	if x == nil || x.creations <= 0 && len(x.deletions) == 0 {
		x = &expectation{deletions: map[string]bool{}}
		e.m[key] = x
	}
	for _, p := range podKeys {
		x.deletions[p] = true
	}
	x.at = e.now()
}

// CreationObserved records that a pod of key showed up, or that a creation
// failed or was never attempted and so never will.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		x.creations--
	}
}

// DeletionObserved records that the pod podKey of key is going away, or that
// its deletion failed.
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x := e.m[key]; x != nil {
		delete(x.deletions, podKey)
	}
}

// Forget drops key's expectations, when its controller is gone.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
