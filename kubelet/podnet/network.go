package podnet

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// Network is a node's pod network. Its methods are safe for concurrent use,
// but for Teardown, which must not run alongside the others.
type Network struct {
	cfg    Config
	ranges []podRange // one per family, in PodCIDRs order
	// cluster holds the ranges whose traffic is not masqueraded.
	cluster []netip.Prefix
	ipam    *allocator
	log     *slog.Logger
	owners  keyedMutex
}

// New checks cfg and returns the network it describes; nothing on the host
// changes until Setup.
func New(cfg Config) (*Network, error) {
	fail := func(format string, args ...any) (*Network, error) {
		return nil, fmt.Errorf("configuring pod network %q: %w: %s", cfg.Bridge, ErrInvalid, fmt.Sprintf(format, args...))
	}
	if err := checkLinkName(cfg.Bridge); err != nil {
		return fail("bridge name: %v", err)
	}
	if cfg.StateDir == "" {
		return fail("no state directory")
	}
	if len(cfg.PodCIDRs) == 0 || len(cfg.PodCIDRs) > 2 {
		return fail("want one or two pod CIDRs (one per family), got %d", len(cfg.PodCIDRs))
	}
	if cfg.MTU != 0 && (cfg.MTU < 1280 || cfg.MTU > 65535) {
		return fail("MTU %d is outside 1280..65535", cfg.MTU)
	}
	n := &Network{cfg: cfg, log: cfg.Log}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range cfg.PodCIDRs {
		r, err := newPodRange(c)
		if err != nil {
			return fail("pod CIDR: %v", err)
		}
		for _, o := range n.ranges {
			if o.prefix.Addr().Is4() == r.prefix.Addr().Is4() {
				return fail("pod CIDRs %s and %s are of the same family", o.prefix, r.prefix)
			}
		}
		n.ranges = append(n.ranges, r)
	}
	cluster := cfg.ClusterCIDRs
	if len(cluster) == 0 {
		cluster = cfg.PodCIDRs
	}
	for _, c := range append(append([]*net.IPNet(nil), cluster...), cfg.ServiceCIDRs...) {
		p, err := prefixOf(c)
		if err != nil {
			return fail("cluster or service CIDR: %v", err)
		}
		n.cluster = append(n.cluster, p)
	}
	if n.cfg.MTU == 0 {
		n.cfg.MTU = defaultMTU()
	}
	n.ipam = &allocator{dir: cfg.StateDir, ranges: n.ranges}
	return n, nil
}

// Allocations returns the addresses held, by owner, as the state directory
// has them: after a restart, the owners that are no longer pods are the ones
// to Remove.
func (n *Network) Allocations() (map[string][]net.IP, error) {
	all, err := n.ipam.all()
	if err != nil {
		return nil, fmt.Errorf("listing pod addresses of network %s: %w", n.cfg.Bridge, err)
	}
	out := make(map[string][]net.IP, len(all))
	for owner, ips := range all {
		for _, ip := range ips {
			out[owner] = append(out[owner], ip.AsSlice())
		}
	}
	return out, nil
}

// keyedMutex serializes the operations on one owner and lets different owners
// proceed together.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedLock)
	}
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
