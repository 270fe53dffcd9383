package ingress

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"time"
)

// dialTimeout bounds connecting to an endpoint, as ingress-nginx's
// proxy-connect-timeout does; an endpoint that does not answer in time is
// treated as down and the request tried on another.
const dialTimeout = 5 * time.Second

// newTransport returns the transport to endpoints: plain HTTP/1.1 straight
// to pod addresses, never through an HTTP proxy from the environment, and
// without asking for compression the client did not ask for.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// pickKey is the request context key of the pick a request is proxied by.
type pickKey struct{}

// pick is the backend and endpoint a request was given. It holds the
// backend of the table the request started with, so that a table swapped in
// meanwhile does not change where the request goes.
type pick struct {
	backend *backend
	addr    string
}

// handler routes requests by the current table and proxies them.
type handler struct {
	c     *Controller
	proxy *httputil.ReverseProxy
}

func newHandler(c *Controller) *handler {
	return &handler{
		c: c,
		proxy: &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				p := pr.In.Context().Value(pickKey{}).(*pick)
				pr.Out.URL.Scheme = "http"
				pr.Out.URL.Host = p.addr
				// pr.Out.Host stays the client's Host, as backends of
				// virtual hosts need.
				pr.SetXForwarded()
			},
			Transport:    &retryTransport{base: c.transport, log: c.log},
			ErrorHandler: c.proxyError,
			ErrorLog:     slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
		},
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	b := h.c.table.Load().route(requestHost(r.Host), r.URL.Path)
	var p *pick
	if h.c.log.Enabled(r.Context(), slog.LevelDebug) {
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer func() { h.c.accessLog(r, sw, p, start) }()
	}
	if b == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	addr, ok := b.pick()
	if !ok {
		h.c.log.Debug("no endpoint to send to", "backend", b.name, "why", b.why)
		http.Error(w, "503 service unavailable", http.StatusServiceUnavailable)
		return
	}
	p = &pick{backend: b, addr: addr}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pickKey{}, p)))
}

// proxyError answers a request whose backend failed.
func (c *Controller) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	p := r.Context().Value(pickKey{}).(*pick)
	level := slog.LevelWarn
	if r.Context().Err() != nil {
		level = slog.LevelDebug // the client went away
	}
	c.log.Log(r.Context(), level, "proxying to endpoint", "backend", p.backend.name, "endpoint", p.addr,
		"host", r.Host, "path", r.URL.Path, "err", err)
	w.WriteHeader(http.StatusBadGateway)
}

func (c *Controller) accessLog(r *http.Request, sw *statusWriter, p *pick, start time.Time) {
	attrs := []any{"method", r.Method, "host", r.Host, "path", r.URL.Path, "remote", r.RemoteAddr,
		"status", sw.status, "bytes", sw.bytes, "took", time.Since(start)}
	if p != nil {
		attrs = append(attrs, "backend", p.backend.name, "endpoint", p.addr)
	}
	c.log.Debug("request", attrs...)
}

// statusWriter notes the status and size of a response for the access log.
// Unwrap lets http.ResponseController (which ReverseProxy uses to flush and
// to hijack for upgrades) reach the connection.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status < 200 { // 1xx may come before the final status
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// retryTransport sends a request once more, to another endpoint of its
// backend, when connecting to the first failed. Nothing of the request has
// left then, so it is safe whatever the method; a request that reached an
// endpoint is never sent again.
type retryTransport struct {
	base http.RoundTripper
	log  *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, _ := req.Context().Value(pickKey{}).(*pick)
	if p == nil || len(p.backend.addrs) < 2 {
		return t.base.RoundTrip(req)
	}
	first := req
	if req.Body != nil {
		// The transport closes the body when it fails; keep it open for
		// the second try. The server closes it after the handler.
		first = req.WithContext(req.Context())
		first.Body = keepOpen{req.Body}
	}
	resp, err := t.base.RoundTrip(first)
	if err == nil || !isDialError(err) || req.Context().Err() != nil {
		if err != nil && req.Body != nil {
			req.Body.Close()
		}
		return resp, err
	}
	addr, ok := p.backend.other(req.URL.Host)
	if !ok {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	t.log.Debug("connecting to endpoint failed; trying another", "backend", p.backend.name,
		"failed", req.URL.Host, "endpoint", addr, "err", err)
	second := req.WithContext(req.Context())
	u := *req.URL
	u.Host = addr
	second.URL = &u
	return t.base.RoundTrip(second)
}

// isDialError reports whether err is a failure to connect, which leaves
// the request unsent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// keepOpen is a request body whose Close does nothing.
type keepOpen struct{ io.Reader }

func (keepOpen) Close() error { return nil }
