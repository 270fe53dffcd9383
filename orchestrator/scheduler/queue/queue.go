// Package queue orders the pods waiting to be scheduled as upstream's
// scheduling queue does: an active queue by priority then age, a backoff
// queue for pods that failed recently (1 s doubling to 10 s), and a pool of
// unschedulable pods that cluster events which could help move back, and
// that is flushed after at most five minutes. It holds pods it is given and
// must not talk to the API.
package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// Upstream's defaults.
const (
	DefaultInitialBackoff     = time.Second
	DefaultMaxBackoff         = 10 * time.Second
	DefaultMaxInUnschedulable = 5 * time.Minute
)

// ErrClosed is returned by Pop once the queue is closed.
var ErrClosed = errors.New("scheduling queue is closed")

// Config tunes the queue; zero fields take upstream's defaults.
type Config struct {
	InitialBackoff     time.Duration
	MaxBackoff         time.Duration
	MaxInUnschedulable time.Duration
	// Clock is the real clock unless a test gives a fake one.
	Clock clock.WithTicker
}

type location uint8

const (
	inActive location = iota
	inBackoff
	inUnschedulable
	inFlight
)

type queuedPod struct {
	info *framework.PodInfo
	// timestamp is when the pod last entered the queue or was last tried.
	timestamp      time.Time
	initialAttempt time.Time
	attempts       int
	rejectedBy     framework.Plugin
	where          location
	index          int
}

// Popped is a pod handed out for one scheduling cycle.
type Popped struct {
	Info *framework.PodInfo
	// Attempts counts this one; Cycle is the queue's scheduling cycle.
	Attempts       int
	Cycle          int64
	InitialAttempt time.Time
}

// Queue is safe for concurrent use.
type Queue struct {
	cfg  Config
	mu   sync.Mutex
	cond *sync.Cond

	pods          map[types.UID]*queuedPod
	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*queuedPod
	// rejected counts the unschedulable pods by the plugins that rejected
	// them (bit i of the set at index i; index len-1 for none), so that
	// an event no parked pod cares about costs no walk over them.
	rejected [33]int
	// cycle counts pops. eventsInFlight gathers the plugins of the events
	// that arrived since the last pop: the scheduling loop has one pod in
	// flight at a time, and a pod that fails while an event that might
	// help it arrives must not be parked with that event missed.
	cycle          int64
	eventsInFlight framework.Plugin
	closed         bool
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = DefaultInitialBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxInUnschedulable <= 0 {
		cfg.MaxInUnschedulable = DefaultMaxInUnschedulable
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	q := &Queue{cfg: cfg, pods: map[types.UID]*queuedPod{}, unschedulable: map[types.UID]*queuedPod{}}
	q.cond = sync.NewCond(&q.mu)
	q.active.less = func(a, b *queuedPod) bool {
		if a.info.Priority != b.info.Priority {
			return a.info.Priority > b.info.Priority
		}
		return a.timestamp.Before(b.timestamp)
	}
	q.backoff.less = func(a, b *queuedPod) bool { return q.backoffExpiry(a).Before(q.backoffExpiry(b)) }
	return q
}

// backoffDuration doubles from the initial backoff with each attempt, up to
// the maximum.
func (q *Queue) backoffDuration(p *queuedPod) time.Duration {
	d := q.cfg.InitialBackoff
	for i := 1; i < p.attempts; i++ {
		if d >= q.cfg.MaxBackoff/2 {
			return q.cfg.MaxBackoff
		}
		d *= 2
	}
	return min(d, q.cfg.MaxBackoff)
}

func (q *Queue) backoffExpiry(p *queuedPod) time.Time {
	return p.timestamp.Add(q.backoffDuration(p))
}

// Add queues a new pending pod, or records a new version of a queued one. A
// pod parked as unschedulable is tried again when its spec or labels
// changed: the change may be what makes it fit.
func (q *Queue) Add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.pods[pod.UID]; ok {
		q.update(p, pod)
		return
	}
	now := q.cfg.Clock.Now()
	p := &queuedPod{info: framework.NewPodInfo(pod), timestamp: now, initialAttempt: now}
	q.pods[pod.UID] = p
	q.toActive(p)
}

func (q *Queue) update(p *queuedPod, pod *corev1.Pod) {
	old := p.info.Pod
	changed := !equality.Semantic.DeepEqual(old.Spec, pod.Spec) || !equality.Semantic.DeepEqual(old.Labels, pod.Labels)
	p.info = framework.NewPodInfo(pod)
	switch p.where {
	case inActive:
		q.active.fix(p)
	case inBackoff:
		q.backoff.fix(p)
	case inUnschedulable:
		if changed {
			q.unpark(p)
			q.requeue(p)
		}
	}
}

// Delete forgets a pod: deleted, or bound by someone else.
func (q *Queue) Delete(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pods[uid]
	if !ok {
		return
	}
	delete(q.pods, uid)
	switch p.where {
	case inActive:
		q.active.remove(p)
	case inBackoff:
		q.backoff.remove(p)
	case inUnschedulable:
		q.unpark(p)
	}
}

// Pop waits for the next pod to schedule until ctx ends or the queue closes.
func (q *Queue) Pop(ctx context.Context) (Popped, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 {
		if q.closed {
			return Popped{}, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return Popped{}, err
		}
		q.cond.Wait()
	}
	p := q.active.pop()
	p.where = inFlight
	p.attempts++
	q.cycle++
	q.eventsInFlight = 0
	return Popped{Info: p.info, Attempts: p.attempts, Cycle: q.cycle, InitialAttempt: p.initialAttempt}, nil
}

// Done forgets a pod whose cycle ended with it assumed on a node.
func (q *Queue) Done(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.pods[uid]; ok && p.where == inFlight {
		delete(q.pods, uid)
	}
}

// AddUnschedulable returns a pod that fits no node, rejected by the plugins
// in rejectedBy (none known: 0), from the cycle it was popped in. If an
// event that could help it arrived meanwhile it goes to backoff, else it
// waits for one as unschedulable.
func (q *Queue) AddUnschedulable(uid types.UID, rejectedBy framework.Plugin, cycle int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.returning(uid)
	if p == nil {
		return
	}
	p.rejectedBy = rejectedBy
	if cycle == q.cycle && helps(q.eventsInFlight, rejectedBy) {
		q.requeue(p)
		return
	}
	p.where = inUnschedulable
	q.unschedulable[uid] = p
	q.count(rejectedBy, 1)
}

// helps says whether events of plugins may help a pod rejectedBy.
func helps(plugins, rejectedBy framework.Plugin) bool {
	return plugins != 0 && (rejectedBy == 0 || plugins&rejectedBy != 0)
}

func (q *Queue) count(rejectedBy framework.Plugin, delta int) {
	if rejectedBy == 0 {
		q.rejected[len(q.rejected)-1] += delta
		return
	}
	for i := range len(q.rejected) - 1 {
		if rejectedBy&(1<<i) != 0 {
			q.rejected[i] += delta
		}
	}
}

// unpark takes p out of the unschedulable pods.
func (q *Queue) unpark(p *queuedPod) {
	delete(q.unschedulable, p.info.Pod.UID)
	q.count(p.rejectedBy, -1)
}

// AddBackoff returns a pod whose cycle failed for a reason other than fit
// (an API error): it is retried after its backoff.
func (q *Queue) AddBackoff(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p := q.returning(uid); p != nil {
		q.toBackoff(p)
	}
}

// returning is the in-flight pod uid coming back from its cycle, stamped
// with the time of its attempt; nil when it was deleted meanwhile.
func (q *Queue) returning(uid types.UID) *queuedPod {
	p, ok := q.pods[uid]
	if !ok || p.where != inFlight {
		return nil
	}
	p.timestamp = q.cfg.Clock.Now()
	return p
}

// Requeue puts a pod the scheduler has forgotten back as new: its binding
// failed after Done.
func (q *Queue) Requeue(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pods[pod.UID]; ok {
		return
	}
	now := q.cfg.Clock.Now()
	p := &queuedPod{info: framework.NewPodInfo(pod), timestamp: now, initialAttempt: now, attempts: 1}
	q.pods[pod.UID] = p
	q.toBackoff(p)
}

// MoveAll moves the unschedulable pods that a cluster event could help (any
// rejected by one of plugins, or by none recorded) to the active queue, or
// to backoff while they are still backing off.
func (q *Queue) MoveAll(plugins framework.Plugin) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.eventsInFlight |= plugins
	interested := q.rejected[len(q.rejected)-1] > 0
	for i := 0; i < len(q.rejected)-1 && !interested; i++ {
		interested = plugins&(1<<i) != 0 && q.rejected[i] > 0
	}
	if !interested {
		return
	}
	for _, p := range q.unschedulable {
		if helps(plugins, p.rejectedBy) {
			q.unpark(p)
			q.requeue(p)
		}
	}
}

// requeue puts p in backoff while it is backing off, else in active.
func (q *Queue) requeue(p *queuedPod) {
	if q.backoffExpiry(p).After(q.cfg.Clock.Now()) {
		q.toBackoff(p)
		return
	}
	q.toActive(p)
}

func (q *Queue) toActive(p *queuedPod) {
	p.where = inActive
	q.active.push(p)
	q.cond.Broadcast()
}

func (q *Queue) toBackoff(p *queuedPod) {
	p.where = inBackoff
	q.backoff.push(p)
}

// flush moves pods whose backoff ended to active, and pods unschedulable
// for longer than MaxInUnschedulable back into the queue.
func (q *Queue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.cfg.Clock.Now()
	for q.backoff.Len() > 0 && !q.backoffExpiry(q.backoff.peek()).After(now) {
		q.toActive(q.backoff.pop())
	}
	for _, p := range q.unschedulable {
		if now.Sub(p.timestamp) > q.cfg.MaxInUnschedulable {
			q.unpark(p)
			q.requeue(p)
		}
	}
}

// Run flushes the queue every second, as upstream flushes its backoff
// queue, until ctx ends; then it closes the queue.
func (q *Queue) Run(ctx context.Context) {
	t := q.cfg.Clock.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			q.Close()
			return
		case <-t.C():
			q.flush()
		}
	}
}

// Close wakes Pop for good.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// Len counts the pods in the active, backoff and unschedulable queues.
func (q *Queue) Len() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}
