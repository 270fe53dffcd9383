package pods

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Router is a part of the node that sends new connections to pods.
type Router interface {
	// Routes reports whether it sends new connections to addr as a ready
	// endpoint.
	Routes(addr netip.Addr) bool
}

const (
	// maxDrain bounds how long a deleted pod waits to be unrouted: when
	// the endpoints controller or a router is down, the pod still stops.
	maxDrain = 10 * time.Second
	// drainPoll is how often the routers are asked.
	drainPoll = 20 * time.Millisecond
)

// drain returns once no router sends new connections to the pod's
// addresses ips (Services and Ingresses drop a terminating pod from their
// endpoints) and DrainSettle has passed, or at half the grace period (at
// most maxDrain). It returns how long it took. Upstream's kubelet sends
// SIGTERM at once, racing the proxies, which is why charts there carry a
// preStop sleep.
func (k *Kubelet) drain(ctx context.Context, pod *corev1.Pod, ips []string, grace time.Duration) time.Duration {
	if len(k.cfg.Routers) == 0 || pod.Spec.HostNetwork || grace <= 0 {
		return 0
	}
	var addrs []netip.Addr
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return 0
	}
	start := k.clock.Now()
	defer func() { k.log.Debug("drained pod", "pod", klogRef(pod), "took", k.clock.Since(start)) }()
	deadline := start.Add(min(grace/2, maxDrain))
	for k.routed(addrs) {
		if !k.clock.Now().Before(deadline) {
			k.log.Warn("stopping a pod that is still routed to", "pod", klogRef(pod), "waited", k.clock.Since(start))
			return k.clock.Since(start)
		}
		select {
		case <-ctx.Done():
			return k.clock.Since(start)
		case <-k.clock.After(drainPoll):
		}
	}
	if settle := min(k.cfg.DrainSettle, deadline.Sub(k.clock.Now())); settle > 0 {
		select {
		case <-ctx.Done():
		case <-k.clock.After(settle):
		}
	}
	return k.clock.Since(start)
}

func (k *Kubelet) routed(addrs []netip.Addr) bool {
	for _, r := range k.cfg.Routers {
		for _, a := range addrs {
			if r.Routes(a) {
				return true
			}
		}
	}
	return false
}
