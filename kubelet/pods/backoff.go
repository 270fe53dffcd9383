package pods

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// backoff is the kubelet's exponential back-off per key (a pod's container,
// or an image a pod pulls): initial, doubled on each failure up to max, and
// forgotten after twice max without failures, as upstream's.
type backoff struct {
	clock        clock.PassiveClock
	initial, max time.Duration

	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time
}

func newBackoff(c clock.PassiveClock, initial, max time.Duration) *backoff {
	return &backoff{clock: c, initial: initial, max: max, entries: map[string]*backoffEntry{}}
}

// next records a failure (a restart, a failed pull) now.
func (b *backoff) next(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	e := b.entries[key]
	switch {
	case e == nil || now.Sub(e.last) > 2*b.max:
		e = &backoffEntry{delay: b.initial}
		b.entries[key] = e
	default:
		e.delay = min(2*e.delay, b.max)
	}
	e.last = now
}

// remaining is how long the key still backs off after an event at since (0
// when it does not).
func (b *backoff) remaining(key string, since time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil {
		return 0
	}
	if since.Before(e.last) {
		since = e.last
	}
	return max(since.Add(e.delay).Sub(b.clock.Now()), 0)
}

// delay is the key's current back-off.
func (b *backoff) delay(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[key]; e != nil {
		return e.delay
	}
	return 0
}

// forget drops every key of a pod.
func (b *backoff) forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.entries, k)
		}
	}
}

func backoffKey(pod *corev1.Pod, name string) string { return string(pod.UID) + "/" + name }
