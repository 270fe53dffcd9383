package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

// Defaults for Config fields left empty.
const (
	DefaultClassName       = "berth"
	DefaultControllerName  = "berth.dev/ingress"
	DefaultMinSyncInterval = 100 * time.Millisecond
	DefaultShutdownTimeout = 30 * time.Second
)

// Config says which Ingresses a Controller serves and where.
type Config struct {
	// HTTPAddr and HTTPSAddr are the host:port addresses to serve plain HTTP
	// and TLS on (":80" and ":443", say); port 0 picks a free port. An empty
	// address serves nothing on that scheme; at least one must be set.
	HTTPAddr  string
	HTTPSAddr string
	// ClassName is the IngressClass this controller answers to,
	// DefaultClassName if empty. Ingresses of any IngressClass whose
	// spec.controller is ControllerName are served too.
	ClassName string
	// ControllerName is the spec.controller of the IngressClass created at
	// start, DefaultControllerName if empty.
	ControllerName string
	// StatusAddresses are the IP addresses written into the
	// status.loadBalancer.ingress of every Ingress served, usually the nodes'
	// addresses. If empty, status is left alone. Every controller of one
	// class must be given the same addresses, or they overwrite each other.
	StatusAddresses []string
	// Client writes Ingress status and creates the IngressClass. Required.
	Client kubernetes.Interface
	// Recorder, when set, receives Warning events on Ingresses whose TLS
	// Secret is missing or unusable.
	Recorder record.EventRecorder
	// MinSyncInterval is the least time between two rebuilds of the routing
	// table, DefaultMinSyncInterval if zero; changes within it are gathered
	// into one rebuild.
	MinSyncInterval time.Duration
	// ShutdownTimeout is how long Run lets requests in flight finish once its
	// context is done, DefaultShutdownTimeout if zero. Upgraded connections
	// (WebSockets) are closed when it ends, or at once if nothing else is in
	// flight.
	ShutdownTimeout time.Duration
	// Log receives the controller's logs (access logs at debug level);
	// slog.Default() if nil.
	Log *slog.Logger
}

// Controller serves the Ingresses of its class on the sockets bound by New.
type Controller struct {
	log             *slog.Logger
	client          kubernetes.Interface
	className       string
	controllerName  string
	statusAddrs     []string
	minSync         time.Duration
	shutdownTimeout time.Duration

	ingresses networkinglisters.IngressLister
	classes   networkinglisters.IngressClassLister
	synced    []cache.InformerSynced
	builder   *builder
	// table is the routing table requests are served from; Run replaces it
	// whole, so a request sees one consistent table.
	table atomic.Pointer[table]
	kick  chan struct{}
	// status holds the keys of Ingresses whose status may need writing; nil
	// when StatusAddresses is empty.
	status workqueue.TypedRateLimitingInterface[string]

	fallback  *tls.Certificate
	transport *http.Transport
	handler   *handler
	httpL     net.Listener
	httpsL    net.Listener
	closeOnce sync.Once
}

// New checks cfg, registers the Ingress, IngressClass, Service and
// EndpointSlice informers on f, makes the fallback certificate and binds the
// sockets. The caller starts f after New; Run waits for the caches to sync.
// TLS Secrets are not read through f: Run watches each one the served
// Ingresses name, by name. If Run is never called, Close releases the
// sockets.
func New(cfg Config, f informers.SharedInformerFactory) (*Controller, error) {
	if f == nil {
		return nil, errors.New("ingress: no informer factory")
	}
	if cfg.Client == nil {
		return nil, errors.New("ingress: no API client: set Config.Client, it writes Ingress status and the IngressClass")
	}
	if cfg.HTTPAddr == "" && cfg.HTTPSAddr == "" {
		return nil, errors.New("ingress: no listen address: set Config.HTTPAddr or Config.HTTPSAddr, e.g. :80 and :443")
	}
	if cfg.ClassName == "" {
		cfg.ClassName = DefaultClassName
	}
	if cfg.ControllerName == "" {
		cfg.ControllerName = DefaultControllerName
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = DefaultMinSyncInterval
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "ingress", "class", cfg.ClassName)

	// Sorted, so that controllers given the same addresses in another
	// order write the same status.
	var addrs []netip.Addr
	for _, s := range cfg.StatusAddresses {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ingress: status address %q is not an IP address", s)
		}
		addrs = append(addrs, a.Unmap())
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	var statusAddrs []string
	for _, a := range slices.Compact(addrs) {
		statusAddrs = append(statusAddrs, a.String())
	}

	fallback, err := fallbackCertificate(time.Now())
	if err != nil {
		return nil, fmt.Errorf("ingress: making the fallback certificate: %w", err)
	}

	ingInf := f.Networking().V1().Ingresses()
	classInf := f.Networking().V1().IngressClasses()
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{serviceIndex: indexSliceService}); err != nil {
		return nil, fmt.Errorf("ingress: adding the Service index to the EndpointSlice informer: %w", err)
	}

	c := &Controller{
		log:             log,
		client:          cfg.Client,
		className:       cfg.ClassName,
		controllerName:  cfg.ControllerName,
		statusAddrs:     statusAddrs,
		minSync:         cfg.MinSyncInterval,
		shutdownTimeout: cfg.ShutdownTimeout,
		ingresses:       ingInf.Lister(),
		classes:         classInf.Lister(),
		kick:            make(chan struct{}, 1),
		fallback:        fallback,
		transport:       newTransport(),
	}
	c.builder = &builder{
		classes:   c.classSet,
		ingresses: ingInf.Lister(),
		services:  svcInf.Lister(),
		slices:    sliceInf.Informer().GetIndexer(),
		secrets:   newTLSSecrets(cfg.Client, c.changed),
		recorder:  cfg.Recorder,
		log:       log,
	}
	c.handler = newHandler(c)
	c.table.Store(newTableBuilder().finish())
	if len(statusAddrs) > 0 {
		c.status = workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress-status"})
	}

	changed := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.changed() },
		UpdateFunc: func(any, any) { c.changed() },
		DeleteFunc: func(any) { c.changed() },
	}
	handlers := []struct {
		what string
		inf  cache.SharedIndexInformer
		h    cache.ResourceEventHandler
	}{
		{"Ingresses", ingInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.changed(); c.enqueueStatus(obj) },
			UpdateFunc: func(_, obj any) { c.changed(); c.enqueueStatus(obj) },
			DeleteFunc: func(any) { c.changed() },
		}},
		// A class becoming ours, or default, changes which Ingresses are.
		{"IngressClasses", classInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.changed(); c.enqueueAllStatus() },
			UpdateFunc: func(any, any) { c.changed(); c.enqueueAllStatus() },
			DeleteFunc: func(any) { c.changed(); c.enqueueAllStatus() },
		}},
		{"Services", svcInf.Informer(), changed},
		{"EndpointSlices", sliceInf.Informer(), changed},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("ingress: watching %s: %w", h.what, err)
		}
		c.synced = append(c.synced, h.inf.HasSynced)
	}

	if cfg.HTTPAddr != "" {
		if c.httpL, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return nil, fmt.Errorf("ingress: listening for HTTP on %s: %w", cfg.HTTPAddr, err)
		}
	}
	if cfg.HTTPSAddr != "" {
		if c.httpsL, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			c.Close()
			return nil, fmt.Errorf("ingress: listening for HTTPS on %s: %w", cfg.HTTPSAddr, err)
		}
	}
	return c, nil
}

// HTTPAddr returns the address plain HTTP is served on, nil if none.
func (c *Controller) HTTPAddr() net.Addr {
	if c.httpL == nil {
		return nil
	}
	return c.httpL.Addr()
}

// HTTPSAddr returns the address TLS is served on, nil if none.
func (c *Controller) HTTPSAddr() net.Addr {
	if c.httpsL == nil {
		return nil
	}
	return c.httpsL.Addr()
}

// Close releases the sockets. Run closes them itself when it returns; Close
// is for a Controller whose Run is never called.
func (c *Controller) Close() error {
	var errs []error
	c.closeOnce.Do(func() {
		for _, l := range []net.Listener{c.httpL, c.httpsL} {
			if l == nil {
				continue
			}
			if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// changed asks Run for a rebuild; changes that come during one make one more.
func (c *Controller) changed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run waits for the informer caches, builds the first routing table and
// then serves until ctx is done, rebuilding the table as objects change,
// writing Ingress status and making sure the IngressClass exists. On the
// way out it lets requests in flight finish (for up to ShutdownTimeout) and
// closes the sockets. It returns nil after ctx is done, or the first
// serving error.
func (c *Controller) Run(ctx context.Context) error {
	defer c.Close()
	defer c.transport.CloseIdleConnections()
	if c.status != nil {
		defer c.status.ShutDown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	// The TLS Secrets' watches end with Run, whichever way it returns.
	defer c.builder.secrets.wait()
	secretsCtx, stopSecrets := context.WithCancel(ctx)
	defer stopSecrets()
	c.builder.secrets.begin(secretsCtx)
	c.rebuild(ctx)

	// Requests get a context of their own, cancelled only once shutdown is
	// over, so that ctx ending does not cut off the requests being drained.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	var servers []*http.Server
	g, gctx := errgroup.WithContext(ctx)
	serve := func(l net.Listener, tlsConf *tls.Config) {
		srv := &http.Server{
			Handler:           c.handler,
			TLSConfig:         tlsConf,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return base },
			// TLS handshake failures from scanners would flood the log.
			ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
		}
		servers = append(servers, srv)
		g.Go(func() error {
			var err error
			if tlsConf != nil {
				err = srv.ServeTLS(l, "", "")
			} else {
				err = srv.Serve(l)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("ingress: serving on %s: %w", l.Addr(), err)
			}
			return nil
		})
	}
	if c.httpL != nil {
		serve(c.httpL, nil)
	}
	if c.httpsL != nil {
		serve(c.httpsL, &tls.Config{GetCertificate: c.certificate, MinVersion: tls.VersionTLS12})
	}
	c.log.Info("serving", "http", c.HTTPAddr(), "https", c.HTTPSAddr())

	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			if err := srv.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("ingress: shutting down: %w", err))
			}
		}
		// Whatever is left (upgraded connections, requests past the
		// timeout) ends with the requests' context.
		cancelBase()
		return errors.Join(errs...)
	})
	g.Go(func() error { c.rebuildLoop(gctx); return nil })
	g.Go(func() error { c.ensureClassLoop(gctx); return nil })
	if c.status != nil {
		g.Go(func() error {
			loop.Run(gctx, "ingress-status", c.status, 1, c.syncStatus, c.synced...)
			return nil
		})
	}
	err := g.Wait()
	if ctx.Err() != nil && err != nil {
		c.log.Debug("shut down", "err", err)
		return nil
	}
	return err
}

// Routes reports whether the routing table sends new requests to addr: it
// holds a ready endpoint there. The kubelet holds a deleted pod's SIGTERM
// until it is false.
func (c *Controller) Routes(addr netip.Addr) bool {
	return c.table.Load().routed[addr.Unmap()]
}

// rebuildLoop rebuilds the table on changes, at most once per minSync.
func (c *Controller) rebuildLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		last := time.Now()
		c.rebuild(ctx)
		if wait := time.Until(last.Add(c.minSync)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// rebuild builds a table from the caches and swaps it in.
func (c *Controller) rebuild(ctx context.Context) {
	start := time.Now()
	t := c.builder.build(ctx)
	c.table.Store(t)
	c.log.Debug("rebuilt routing table", "ingresses", t.ingresses, "hosts", len(t.hosts)+len(t.wildcards), "took", time.Since(start))
}

// classSet reads which IngressClasses are this controller's from the cache.
func (c *Controller) classSet() classSet {
	return loadClasses(c.classes, c.className, c.controllerName, c.log)
}
