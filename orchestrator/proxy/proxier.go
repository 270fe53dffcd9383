package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	// DefaultTable is the name of the proxier's nftables table (inet family).
	DefaultTable = "berth-proxy"
	// DefaultMinSyncInterval is how long changes are gathered into one write.
	DefaultMinSyncInterval = 100 * time.Millisecond
	// retryInterval is how long a failed write waits before the whole table
	// is written again.
	retryInterval = time.Second
)

// Config says what a Proxier serves and where.
type Config struct {
	// NodeName is this node's; endpoints on it are local for the Local
	// traffic policies.
	NodeName string
	// NodeIPs are the addresses NodePorts answer on, besides 127.0.0.1,
	// which they always answer on for the node's own processes (IPv4 only,
	// as upstream's iptables mode). Those connections leave masqueraded and
	// need route_localnet on the pod bridge (the pod network sets it);
	// since that lets the bridge's neighbours reach the node's loopback, the
	// table drops connections to 127.0.0.0/8 from other sources that were
	// not DNATed (CVE-2020-8558).
	NodeIPs []net.IP
	// ServiceCIDRs are the ranges ClusterIPs come from; addresses in them
	// that no Service holds are rejected here instead of routed out.
	ServiceCIDRs []*net.IPNet
	// Table is the nftables table's name (family inet), DefaultTable if empty.
	Table string
	// NetNS is an open file descriptor of the network namespace to program;
	// 0 means this process's.
	NetNS int
	// MinSyncInterval is the least time between two writes,
	// DefaultMinSyncInterval if zero.
	MinSyncInterval time.Duration
	// TeardownOnExit deletes the table when Run returns; otherwise it stays
	// and keeps serving until the next Proxier rewrites it.
	TeardownOnExit bool
	// Log receives the proxier's logs, slog.Default() if nil.
	Log *slog.Logger
}

// Proxier keeps the node's service rules in step with the API.
type Proxier struct {
	log      *slog.Logger
	minSync  time.Duration
	tearDown bool
	node     string
	table    *table
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	kick     chan struct{}
	// applied is the ruleset in the table, nil when the table must be
	// written whole (at start and after a failed write). Only Run uses it.
	applied *ruleset
	// routed holds the addresses the table sends new connections to as
	// ready endpoints, for Routes.
	routed atomic.Pointer[map[netip.Addr]bool]
}

// New returns a Proxier for cfg; it registers Service and EndpointSlice
// informers with f: start f after New. It checks cfg and touches nothing.
func New(cfg Config, f informers.SharedInformerFactory) (*Proxier, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if len(cfg.Table) > 200 {
		return nil, fmt.Errorf("nftables table name %q is too long", cfg.Table)
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = DefaultMinSyncInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	var static staticConfig
	for _, ip := range cfg.NodeIPs {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return nil, fmt.Errorf("node IP %q is not an IP address", ip)
		}
		if a = a.Unmap(); a.IsLoopback() || a.IsUnspecified() {
			return nil, fmt.Errorf("node IP %s: give the node's own addresses (NodePorts answer on 127.0.0.1 anyway), not loopback or unspecified ones", a)
		}
		static.nodeIPs = append(static.nodeIPs, a)
	}
	for _, n := range cfg.ServiceCIDRs {
		if n == nil {
			continue
		}
		a, ok := netip.AddrFromSlice(n.IP)
		ones, bits := n.Mask.Size()
		if !ok || bits == 0 {
			return nil, fmt.Errorf("service CIDR %q is not a CIDR", n)
		}
		if a = a.Unmap(); a.BitLen() != bits {
			return nil, fmt.Errorf("service CIDR %s mixes address families", n)
		}
		static.serviceCIDRs = append(static.serviceCIDRs, netip.PrefixFrom(a, ones).Masked())
	}
	services := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()
	p := &Proxier{
		log:      cfg.Log.With("component", "proxy", "table", cfg.Table),
		minSync:  cfg.MinSyncInterval,
		tearDown: cfg.TeardownOnExit,
		node:     cfg.NodeName,
		table:    &table{name: cfg.Table, netns: cfg.NetNS, static: static},
		services: services.Lister(),
		slices:   slices.Lister(),
		kick:     make(chan struct{}, 1),
	}
	changed := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.changed() },
		UpdateFunc: func(any, any) { p.changed() },
		DeleteFunc: func(any) { p.changed() },
	}
	for _, inf := range []cache.SharedIndexInformer{services.Informer(), slices.Informer()} {
		if _, err := inf.AddEventHandler(changed); err != nil {
			return nil, fmt.Errorf("watching services: %w", err)
		}
		p.synced = append(p.synced, inf.HasSynced)
	}
	return p, nil
}

// changed asks Run for a sync; changes that come during one make one more.
func (p *Proxier) changed() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run writes the table once the informers have synced, then keeps it in
// step with Services and EndpointSlices until ctx ends. Writes are at least
// MinSyncInterval apart; a failed write is retried with the whole table.
func (p *Proxier) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return p.stop()
	}
	for {
		var retry <-chan time.Time
		if err := p.sync(); err != nil {
			p.log.Error("writing service rules", "err", err)
			t := time.NewTimer(retryInterval)
			retry = t.C
			defer t.Stop()
		}
		last := time.Now()
		select {
		case <-ctx.Done():
			return p.stop()
		case <-p.kick:
		case <-retry:
		}
		if wait := time.Until(last.Add(p.minSync)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return p.stop()
			case <-t.C:
			}
		}
	}
}

func (p *Proxier) stop() error {
	if !p.tearDown {
		return nil
	}
	return p.table.deleteTable()
}

// sync writes what the listers hold into the table.
func (p *Proxier) sync() error {
	start := time.Now()
	sps, err := p.desired()
	if err != nil {
		return err
	}
	rs := buildRuleset(sps)
	if p.applied == nil {
		if err := p.table.writeAll(rs); err != nil {
			return err
		}
		p.log.Info("wrote service rules", "chains", len(rs.chains), "elements", len(rs.elems), "took", time.Since(start))
	} else {
		c, err := p.table.update(p.applied, rs)
		if err != nil {
			p.applied = nil
			return err
		}
		if !c.empty() {
			p.log.Debug("updated service rules", "took", time.Since(start))
		}
		// The table is right without this: a failure only keeps clients of
		// removed endpoints from sticking to a new one until their entries
		// time out.
		if err := p.table.forget(c.staleAffinity, rs); err != nil {
			p.log.Warn("forgetting session affinities to removed endpoints", "err", err)
		}
	}
	p.applied = rs
	p.routed.Store(readyAddrs(sps))
	return nil
}

// Routes reports whether the rules written last send new connections to addr
// as a ready endpoint (not as a terminating one kept because no ready one is
// left). The kubelet holds a deleted pod's SIGTERM until it is false.
func (p *Proxier) Routes(addr netip.Addr) bool {
	m := p.routed.Load()
	return m != nil && (*m)[addr.Unmap()]
}

func readyAddrs(sps []*servicePort) *map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, sp := range sps {
		for _, eps := range [][]endpoint{sp.cluster, sp.external} {
			for _, e := range eps {
				if !e.terminating {
					m[e.addr.Addr()] = true
				}
			}
		}
	}
	return &m
}

// desired computes the service ports to program from the listers.
func (p *Proxier) desired() ([]*servicePort, error) {
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing services: %w", err)
	}
	all, err := p.slices.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing endpoint slices: %w", err)
	}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range all {
		if name := s.Labels[discoveryv1.LabelServiceName]; name != "" {
			bySvc[s.Namespace+"/"+name] = append(bySvc[s.Namespace+"/"+name], s)
		}
	}
	return servicePortsOf(svcs, bySvc, p.node), nil
}

func servicePortsOf(svcs []*corev1.Service, slices map[string][]*discoveryv1.EndpointSlice, node string) []*servicePort {
	var sps []*servicePort
	for _, svc := range svcs {
		sps = append(sps, servicePorts(svc, slices[svc.Namespace+"/"+svc.Name], node)...)
	}
	return sps
}

// staticConfig is the part of the table that follows from the Config alone.
type staticConfig struct {
	nodeIPs      []netip.Addr
	serviceCIDRs []netip.Prefix
}

// Teardown deletes the nftables table named table (DefaultTable if empty)
// from this process's network namespace, if it is there; for berth killall.
func Teardown(table string) error {
	if table == "" {
		table = DefaultTable
	}
	return teardown(table, 0)
}

func teardown(name string, netns int) error {
	if err := (&table{name: name, netns: netns}).deleteTable(); err != nil {
		return fmt.Errorf("tearing down the service proxy: %w", err)
	}
	return nil
}
