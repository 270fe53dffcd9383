package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// Defaults for Config fields left empty.
const (
	DefaultDomain     = "cluster.local"
	DefaultTTL        = 5
	DefaultResolvConf = "/etc/resolv.conf"
)

// Config says what the server answers and where.
type Config struct {
	// Domain is the cluster domain, "cluster.local" if empty.
	Domain string
	// Listen holds host:port addresses; the server serves UDP and TCP on each.
	// Port 0 picks a free port, the same for UDP and TCP.
	Listen []string
	// Upstreams are the resolvers (host or host:port) that names outside the
	// domain are forwarded to; if empty, the nameservers of /etc/resolv.conf.
	// An upstream that is one of the Listen addresses is dropped (it would loop).
	Upstreams []string
	// TTL of cluster records, 5 seconds if zero.
	TTL uint32
	// Clients, when set, are the source ranges answered (the cluster's pod
	// ranges, say); queries from elsewhere are refused, so that a server
	// listening on a node's address is no open resolver for its network.
	// Loopback is always answered.
	Clients []*net.IPNet
	// Log receives query failures and lifecycle messages; slog.Default if nil.
	Log *slog.Logger
}

// Server answers DNS queries on the sockets bound by New.
type Server struct {
	zone      *zone
	upstreams []string
	clients   []*net.IPNet
	log       *slog.Logger
	synced    []cache.InformerSynced

	conns     []net.PacketConn
	listeners []net.Listener
	closeOnce sync.Once
}

// New validates cfg, registers the Service and EndpointSlice informers (with
// the indexes PTR lookups use) on factory and binds the sockets. The caller
// starts factory after New; Run waits for the caches to sync. If Run is never
// called, Close releases the sockets.
func New(cfg Config, factory informers.SharedInformerFactory) (*Server, error) {
	if factory == nil {
		return nil, errors.New("dns: no informer factory")
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	domain := dns.Fqdn(strings.ToLower(cfg.Domain))
	if errs := validation.IsDNS1123Subdomain(strings.TrimSuffix(domain, ".")); len(errs) > 0 {
		return nil, fmt.Errorf("dns: cluster domain %q: %s", cfg.Domain, strings.Join(errs, "; "))
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("dns: no listen address: set Config.Listen, e.g. 10.0.0.5:53")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "dns")

	upstreams, err := normalizeUpstreams(cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	if len(cfg.Upstreams) == 0 {
		upstreams, err = resolvConfUpstreams(DefaultResolvConf)
		if err != nil {
			log.Warn("no upstream resolvers; names outside the cluster domain will fail", "err", err)
		}
	}

	svcInf := factory.Core().V1().Services()
	epsInf := factory.Discovery().V1().EndpointSlices()
	if err := svcInf.Informer().AddIndexers(cache.Indexers{clusterIPIndex: indexClusterIPs}); err != nil {
		return nil, fmt.Errorf("dns: adding the ClusterIP index to the Service informer: %w", err)
	}
	if err := epsInf.Informer().AddIndexers(cache.Indexers{
		addressIndex: indexEndpointAddresses,
		serviceIndex: indexEndpointSliceService,
	}); err != nil {
		return nil, fmt.Errorf("dns: adding indexes to the EndpointSlice informer: %w", err)
	}

	s := &Server{
		zone: &zone{
			domain:   domain,
			ttl:      cfg.TTL,
			services: svcInf.Lister(),
			svcIndex: svcInf.Informer().GetIndexer(),
			epsIndex: epsInf.Informer().GetIndexer(),
			serial:   uint32(time.Now().Unix()),
		},
		clients: cfg.Clients,
		log:     log,
		synced:  []cache.InformerSynced{svcInf.Informer().HasSynced, epsInf.Informer().HasSynced},
	}
	for _, addr := range cfg.Listen {
		pc, l, err := listen(addr)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.conns = append(s.conns, pc)
		s.listeners = append(s.listeners, l)
	}
	s.upstreams = dropLoops(upstreams, s.Addrs())
	return s, nil
}

// listen binds UDP and TCP on addr; with port 0, both on the same free port.
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	var lastErr error
	for range 10 {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listening on %s/tcp: %w", addr, err)
		}
		udpAddr := net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		pc, err := net.ListenPacket("udp", udpAddr)
		if err == nil {
			return pc, l, nil
		}
		l.Close()
		lastErr = fmt.Errorf("dns: listening on %s/udp: %w", udpAddr, err)
		if port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// Addrs returns the bound addresses: a *net.UDPAddr and a *net.TCPAddr for
// each Listen address.
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for i := range s.conns {
		out = append(out, s.conns[i].LocalAddr(), s.listeners[i].Addr())
	}
	return out
}

// Close releases the sockets. Run closes them itself when it returns; Close
// is for a Server whose Run is never called.
func (s *Server) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		for _, c := range s.conns {
			errs = append(errs, c.Close())
		}
		for _, l := range s.listeners {
			errs = append(errs, l.Close())
		}
	})
	return errors.Join(errs...)
}

// Run waits for the informer caches, serves until ctx is done and then
// closes the sockets. It returns nil after a cancelled ctx, or the first
// serving error.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("dns: waiting for the Service and EndpointSlice caches: %w", ctx.Err())
	}
	h := &handler{ctx: ctx, zone: s.zone, upstreams: s.upstreams, clients: s.clients, log: s.log}

	var servers []*dns.Server
	var started []chan struct{}
	for i := range s.conns {
		servers = append(servers,
			&dns.Server{PacketConn: s.conns[i], Net: "udp", Handler: h},
			&dns.Server{Listener: s.listeners[i], Net: "tcp", Handler: h})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, srv := range servers {
		ch := make(chan struct{})
		started = append(started, ch)
		srv.NotifyStartedFunc = func() { close(ch) }
		g.Go(func() error {
			if err := srv.ActivateAndServe(); err != nil {
				return fmt.Errorf("dns: serving %s: %w", srv.Net, err)
			}
			return nil
		})
	}
	s.log.Info("serving", "addrs", s.Addrs(), "domain", s.zone.domain, "upstreams", s.upstreams)
	g.Go(func() error {
		<-gctx.Done()
		var errs []error
		for i, srv := range servers {
			select {
			case <-started[i]:
			case <-time.After(time.Second):
				continue // never started: its goroutine has already returned an error
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := srv.ShutdownContext(sctx); err != nil {
				errs = append(errs, fmt.Errorf("dns: shutting down %s server: %w", srv.Net, err))
			}
			cancel()
		}
		return errors.Join(errs...)
	})
	err := g.Wait()
	if ctx.Err() != nil && err != nil {
		s.log.Debug("shut down", "err", err)
		return nil
	}
	return err
}
