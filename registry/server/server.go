// Package server is berth's OCI distribution registry: it serves charts and
// images from a directory over the OCI Distribution Specification v1.1 and
// collects the garbage that deleting them leaves.
//
// The protocol and the storage are distribution's (github.com/distribution/
// distribution/v3, the registry behind Docker Hub) with its filesystem driver:
// blobs are content-addressed and an upload becomes visible only when its
// digest checks out and it is renamed into place. This package adds what
// berth needs around it: explicit configuration, htpasswd auth, TLS, a
// lifecycle bound to a context, logs in slog, the referrers API (which
// distribution does not serve), strict repository-name checks, and a garbage
// collector that keeps referrers and reports what it freed.
//
// It must not know about charts, releases or the cluster, and must not touch
// process-wide state (logrus's standard logger, default HTTP muxes).
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/gofrs/flock"

	// Registered by name with distribution's auth registry, which NewApp
	// looks the configured controller up in.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
)

// Config configures a registry server.
type Config struct {
	// Root is the storage directory, created if missing. Its layout is
	// distribution's, so a docker-registry can serve it too.
	Root string
	// Addr is the host:port to listen on; port 0 picks a free one.
	Addr string
	// TLS, when set, serves HTTPS with it; nil serves plain HTTP.
	TLS *tls.Config
	// Htpasswd is the path of an htpasswd file of bcrypt entries; every
	// request must then carry one of its users' credentials. "" means no
	// auth.
	Htpasswd string
	// Log receives the server's and distribution's logs; nil means
	// slog.Default().
	Log *slog.Logger
}

const (
	// realm is the Basic auth realm clients are challenged with.
	realm = "berth-registry"
	// shutdownGrace is how long Run lets in-flight requests finish once its
	// context ends; longer uploads are cut off and stay resumable.
	shutdownGrace = 10 * time.Second
	// uploadMaxAge is how old an unfinished upload must be before the server
	// deletes it, and uploadPurgeInterval how often it looks. A day leaves a
	// client plenty of time to resume a paused push.
	uploadMaxAge        = 24 * time.Hour
	uploadPurgeInterval = time.Hour
)

// Server is a running registry: New binds its listener and Run serves it.
type Server struct {
	log      *slog.Logger
	root     string
	tls      *tls.Config
	ln       net.Listener
	lock     *flock.Flock
	app      *handlers.App
	driver   storagedriver.StorageDriver
	handler  http.Handler
	appCtx   context.Context
	started  atomic.Bool
	released atomic.Bool
}

// New validates cfg, prepares the storage under cfg.Root and binds the
// listener. Nothing is served until Run, which must be called to release the
// listener and the lock on Root.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if cfg.Root == "" {
		return nil, errors.New("registry: a storage directory (Root) is required")
	}
	if cfg.Addr == "" {
		return nil, errors.New("registry: an address to listen on (Addr) is required, e.g. 127.0.0.1:5000")
	}
	if cfg.TLS != nil && len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil && cfg.TLS.GetConfigForClient == nil {
		return nil, errors.New("registry: the TLS config has no certificate")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("registry: resolving storage directory %q: %w", cfg.Root, err)
	}
	if cfg.Htpasswd != "" {
		// Distribution rereads the file when it changes, by this path.
		if cfg.Htpasswd, err = filepath.Abs(cfg.Htpasswd); err != nil {
			return nil, fmt.Errorf("registry: resolving htpasswd path: %w", err)
		}
		if err := checkHtpasswd(cfg.Htpasswd); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("registry: creating storage directory: %w", err)
	}
	lock, err := lockRoot(root, false)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer func() {
		if err != nil {
			_ = lock.Unlock()
		}
	}()

	s := &Server{log: log, root: root, tls: cfg.TLS, lock: lock}
	// The app lives as long as the server, not as long as New's context.
	s.appCtx = withSlog(context.WithoutCancel(ctx), log)
	if s.app, err = newApp(s.appCtx, appConfig(root, cfg.Htpasswd)); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer func() {
		if err != nil {
			_ = s.app.Shutdown()
		}
	}()
	// The referrers API and the upload purger reach storage through a
	// namespace and driver of their own: the app's are not exported.
	ns, driver, err := namespace(s.appCtx, root)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	s.driver = driver
	var access auth.AccessController
	if cfg.Htpasswd != "" {
		if access, err = auth.GetAccessController("htpasswd", htpasswdParams(cfg.Htpasswd)); err != nil {
			return nil, fmt.Errorf("registry: configuring htpasswd auth: %w", err)
		}
	}
	s.handler = &front{app: s.app, driver: driver, log: log, referrers: &referrers{ns: ns, access: access, cache: newSummaryCache(), log: log}}

	var lc net.ListenConfig
	if s.ln, err = lc.Listen(ctx, "tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("registry: listening on %s: %w", cfg.Addr, err)
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then stops accepting, lets in-flight requests
// finish for a few seconds and returns. It returns nil after a shutdown
// caused by ctx, and the error otherwise. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("registry: Run called twice")
	}
	defer s.release()

	baseCtx := withSlog(context.WithoutCancel(ctx), s.log)
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		TLSConfig:         s.tls.Clone(),
	}

	purgeCtx, stopPurge := context.WithCancel(ctx)
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		s.purgeUploadsEvery(purgeCtx, uploadPurgeInterval)
	}()
	defer func() {
		stopPurge()
		<-purged
	}()

	served := make(chan error, 1)
	go func() {
		if s.tls != nil {
			served <- srv.ServeTLS(s.ln, "", "")
		} else {
			served <- srv.Serve(s.ln)
		}
	}()
	s.log.Info("registry serving", "addr", s.ln.Addr().String(), "root", s.root, "tls", s.tls != nil)

	select {
	case err := <-served:
		return fmt.Errorf("registry: serving on %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("registry: requests still running after the grace period were cut off", "grace", shutdownGrace)
		err = srv.Close()
	}
	<-served
	if err != nil {
		return fmt.Errorf("registry: shutting down: %w", err)
	}
	return nil
}

// release frees what New took: the app's background work and the lock on the
// storage directory.
func (s *Server) release() {
	if !s.released.CompareAndSwap(false, true) {
		return
	}
	_ = s.ln.Close()
	if err := s.app.Shutdown(); err != nil {
		s.log.Warn("registry: shutting down distribution's app", "err", err)
	}
	if err := s.lock.Unlock(); err != nil {
		s.log.Warn("registry: releasing the lock on the storage directory", "err", err)
	}
}

// purgeUploadsEvery deletes abandoned uploads every interval until ctx ends.
// Distribution's own purger is off: it logs through logrus's standard logger.
func (s *Server) purgeUploadsEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, _, err := purgeUploads(s.appCtx, s.driver, time.Now().Add(-uploadMaxAge), false)
		if err != nil {
			s.log.Warn("registry: purging abandoned uploads", "err", err)
		}
		if n > 0 {
			s.log.Info("registry: purged abandoned uploads", "count", n, "olderThan", uploadMaxAge)
		}
	}
}

// appConfig is distribution's configuration for a registry on root.
func appConfig(root, htpasswd string) *configuration.Configuration {
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{
		"filesystem":  configuration.Parameters{"rootdirectory": root},
		"delete":      configuration.Parameters{"enabled": true},
		"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
	}
	if htpasswd != "" {
		cfg.Auth = configuration.Auth{"htpasswd": htpasswdParams(htpasswd)}
	}
	// Relative Location headers: clients resolve them against the URL they
	// used, so nothing depends on forwarded-host headers.
	cfg.HTTP.RelativeURLs = true
	cfg.HTTP.Headers = http.Header{"X-Content-Type-Options": {"nosniff"}}
	// The secret signs upload state handed to clients between requests. A
	// fresh one per process means an upload does not survive a restart; the
	// client starts it again.
	cfg.HTTP.Secret = rand.Text()
	return cfg
}

func htpasswdParams(path string) configuration.Parameters {
	return configuration.Parameters{"realm": realm, "path": path}
}

// newApp builds distribution's app, which reports bad configuration by
// panicking.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("configuring distribution: %v", r)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// namespace opens the registry under root for direct storage access.
func namespace(ctx context.Context, root string) (distribution.Namespace, storagedriver.StorageDriver, error) {
	d := filesystem.New(filesystem.DriverParameters{RootDirectory: root, MaxThreads: 100})
	ns, err := storage.NewRegistry(ctx, d, storage.EnableDelete)
	if err != nil {
		return nil, nil, fmt.Errorf("opening registry storage under %s: %w", root, err)
	}
	return ns, d, nil
}
