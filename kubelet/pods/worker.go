package pods

import (
	"context"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/kubelet/netns"
)

var everything = labels.Everything()

// dialFunc dials an address as seen from inside a pod.
type dialFunc = func(ctx context.Context, network, address string) (net.Conn, error)

// worker reconciles one pod. Its pod and gone flag are set by informer
// handlers; everything else belongs to its goroutine.
type worker struct {
	k       *Kubelet
	uid     types.UID
	started bool // guarded by k.mu
	wakeup  chan struct{}

	mu   sync.Mutex
	pod  *corev1.Pod // latest from the API; kept after deletion for cleanup
	gone bool        // the pod was deleted from the API (or never seen)
	net  string      // the sandbox's network namespace path, for dialing

	state podState
}

func newWorker(k *Kubelet, uid types.UID) *worker {
	return &worker{k: k, uid: uid, wakeup: make(chan struct{}, 1), gone: true}
}

func (w *worker) setPod(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod, w.gone = pod, false
	w.mu.Unlock()
	w.wake()
}

func (w *worker) setGone() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.wake()
}

func (w *worker) isGone() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone
}

func (w *worker) wake() {
	select {
	case w.wakeup <- struct{}{}:
	default:
	}
}

func (w *worker) current() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.gone
}

func (w *worker) setNetNS(path string) {
	w.mu.Lock()
	w.net = path
	w.mu.Unlock()
}

// dialer dials into the pod's network namespace (the host's for hostNetwork
// pods); nil before the pod has a sandbox.
func (w *worker) dialer() dialFunc {
	w.mu.Lock()
	path := w.net
	w.mu.Unlock()
	if path == "" {
		return nil
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		return netns.Dial(ctx, path, network, address)
	}
}

// run syncs the pod each time something happens to it and at least every
// resync interval, until the pod is gone and cleaned up or ctx ends.
func (w *worker) run(ctx context.Context) {
	timer := w.k.clock.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wakeup:
		case <-timer.C():
		}
		next, done := w.k.sync(ctx, w)
		if done && w.k.retire(w) {
			return
		}
		if next <= 0 || next > w.k.cfg.ResyncInterval {
			next = w.k.cfg.ResyncInterval
		}
		if !timer.Stop() {
			select {
			case <-timer.C():
			default:
			}
		}
		timer.Reset(next)
	}
}

// soonest is the smaller positive of two requeue delays.
func soonest(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0 || a < b:
		return a
	}
	return b
}
