package noderoutes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Protocol marks the routes this package makes (the rtm_protocol of
// `ip route`, shown as "proto 190"): only routes with it are ever changed
// or deleted.
const Protocol = 190

// DefaultResync is how often the routes are checked against the Nodes
// without a change to the Nodes, putting back what someone removed.
const DefaultResync = 30 * time.Second

// Config configures the routes of one node.
type Config struct {
	// NodeName is this node's: its own pod ranges are on its bridge.
	NodeName string
	// NetNS is an open file descriptor of the network namespace to route
	// in; 0 means this process's.
	NetNS int
	// Resync is DefaultResync if zero.
	Resync time.Duration
	// Log is slog.Default() if nil.
	Log *slog.Logger
}

// Routes keeps the routes in step with the Nodes.
type Routes struct {
	cfg     Config
	log     *slog.Logger
	nodes   corelisters.NodeLister
	synced  cache.InformerSynced
	changed chan struct{}
	// unreachable remembers the nodes already logged as not reachable
	// directly, so that each is logged once per change of its address.
	unreachable map[string]netip.Addr
}

// New makes the routes of cfg.NodeName, following nodes.
func New(cfg Config, nodes coreinformers.NodeInformer) (*Routes, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("noderoutes: the node name is required")
	}
	if cfg.Resync == 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	r := &Routes{
		cfg:         cfg,
		log:         cfg.Log.With("component", "node-routes"),
		nodes:       nodes.Lister(),
		synced:      nodes.Informer().HasSynced,
		changed:     make(chan struct{}, 1),
		unreachable: map[string]netip.Addr{},
	}
	poke := func(any) {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
	if _, err := nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    poke,
		UpdateFunc: func(_, obj any) { poke(obj) },
		DeleteFunc: poke,
	}); err != nil {
		return nil, fmt.Errorf("noderoutes: watching nodes: %w", err)
	}
	return r, nil
}

// Run keeps the routes until ctx ends. The routes stay when it returns:
// pods keep reaching other nodes while the agent restarts. Clean removes
// them.
func (r *Routes) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), r.synced) {
		return ctx.Err()
	}
	tick := time.NewTicker(r.cfg.Resync)
	defer tick.Stop()
	for {
		if err := r.sync(); err != nil {
			r.log.Error("syncing routes to other nodes' pods", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.changed:
		case <-tick.C:
		}
	}
}

// route is one wanted route: a pod range through a node's address.
type route struct {
	dst netip.Prefix
	via netip.Addr
}

// wanted lists the routes to the other nodes' pod ranges, logging the nodes
// that cannot have one.
func (r *Routes) wanted() ([]route, error) {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []route
	for _, n := range nodes {
		if n.Name == r.cfg.NodeName {
			continue
		}
		for _, c := range n.Spec.PodCIDRs {
			dst, err := netip.ParsePrefix(c)
			if err != nil {
				continue
			}
			if via, ok := internalIP(n, dst.Addr().Is4()); ok {
				out = append(out, route{dst.Masked(), via})
			}
		}
	}
	return out, nil
}

// internalIP is n's first InternalIP of the family.
func internalIP(n *corev1.Node, v4 bool) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err == nil && ip.Unmap().Is4() == v4 {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// sync adds or changes the wanted routes and deletes the other routes of
// Protocol.
func (r *Routes) sync() error {
	want, err := r.wanted()
	if err != nil {
		return err
	}
	h, have, err := ourRoutes(r.cfg.NetNS)
	if err != nil {
		return err
	}
	defer h.close()
	var errs []error
	for _, w := range want {
		if slices.Contains(have, w) {
			continue
		}
		err := h.replace(w)
		switch {
		case errors.Is(err, errUnreachable):
			if r.unreachable[w.dst.String()] != w.via {
				r.unreachable[w.dst.String()] = w.via
				r.log.Warn("a node's pods are out of reach: its address is not on this node's network segment, which needs an overlay", "podCIDR", w.dst, "nodeIP", w.via)
			}
		case err != nil:
			errs = append(errs, err)
		default:
			delete(r.unreachable, w.dst.String())
			r.log.Info("routed a node's pods", "podCIDR", w.dst, "via", w.via)
		}
	}
	for _, old := range have {
		if !slices.ContainsFunc(want, func(w route) bool { return w.dst == old.dst }) {
			if err := h.delete(old); err != nil {
				errs = append(errs, err)
			} else {
				r.log.Info("removed the route to a node's pods", "podCIDR", old.dst, "via", old.via)
			}
		}
	}
	return errors.Join(errs...)
}

// Clean deletes every route of Protocol in the network namespace of the
// open file descriptor netNS, 0 for this process's: for berth killall.
func Clean(netNS int) error {
	h, have, err := ourRoutes(netNS)
	if err != nil {
		return err
	}
	defer h.close()
	var errs []error
	for _, rt := range have {
		errs = append(errs, h.delete(rt))
	}
	return errors.Join(errs...)
}

// ourRoutes opens the routing table of the network namespace netNS and
// lists the routes of Protocol in it; the caller closes the handle.
func ourRoutes(netNS int) (routeHandle, []route, error) {
	h, err := handle(netNS)
	if err != nil {
		return h, nil, err
	}
	have, err := h.list()
	if err != nil {
		h.close()
		return h, nil, err
	}
	return h, have, nil
}

// errUnreachable says a route's gateway is not directly reachable.
var errUnreachable = errors.New("gateway not on a directly connected network")

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
