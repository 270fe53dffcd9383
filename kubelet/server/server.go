// Package server owns the kubelet's HTTPS server: the endpoints through which
// the API server streams a container's log (/containerLogs), runs commands in it
// (/exec), attaches to it (/attach) and forwards ports of a pod (/portForward),
// speaking the remotecommand (v1-v4, SPDY and WebSocket) and port-forward
// protocols that kubectl's requests arrive in. It only accepts clients whose
// certificate the configured CA signed and whose name it was told to trust.
//
// What a container logs and how a command runs belong to the Runtime it is
// given; this package must not know about containers, images or the API.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Pod names the pod a request is about; UID is empty unless the caller gave it.
type Pod struct {
	Namespace, Name string
	UID             types.UID
}

func (p Pod) String() string { return p.Namespace + "/" + p.Name }

// TerminalSize is a terminal's size, sent when a client's terminal is resized.
type TerminalSize = remotecommand.TerminalSize

// Streams are the streams of an exec or attach session; a stream the client
// did not ask for is nil.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.WriteCloser
	// TTY says the client allocated a terminal; Resize then carries its sizes.
	TTY    bool
	Resize <-chan TerminalSize
}

// Runtime is what the server asks about pods and containers. Its methods return
// errors wrapping ErrNotFound for a pod or container the node does not have,
// ErrNotRunning for one that cannot answer now, and ExitCode's error from Exec
// for a command that exited with a non-zero code.
type Runtime interface {
	// Logs writes the container's log to w as opts ask (previous, follow,
	// timestamps, sinceSeconds, sinceTime, tailLines; limitBytes is applied by
	// the server), returning when done or, when following, when ctx ends.
	Logs(ctx context.Context, pod Pod, container string, opts *corev1.PodLogOptions, w io.Writer) error
	// Exec runs cmd in the container with the given streams.
	Exec(ctx context.Context, pod Pod, container string, cmd []string, streams Streams) error
	// Attach connects the streams to the container's main process.
	Attach(ctx context.Context, pod Pod, container string, streams Streams) error
	// PortForward copies between stream and port of the pod until either ends.
	PortForward(ctx context.Context, pod Pod, port int32, stream io.ReadWriteCloser) error
}

var (
	// ErrNotFound: the node has no such pod or container (404).
	ErrNotFound = errors.New("not found")
	// ErrNotRunning: the container cannot answer now, e.g. it is waiting to
	// start (400, as the kubelet answers).
	ErrNotRunning = errors.New("not running")
)

// ExitCode is the error Exec returns for a command that exited with code.
func ExitCode(code int) error {
	return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
}

// Defaults of the stream timeouts, upstream's.
const (
	DefaultStreamIdleTimeout     = 4 * time.Hour
	DefaultStreamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// Config is what the server needs.
type Config struct {
	// Addr is where to listen ("127.0.0.1:10250"; port 0 picks one).
	Addr string
	// TLS holds the serving certificate and, in ClientCAs, the CA that signs
	// the certificates of allowed clients; client certificates are required.
	TLS *tls.Config
	// ClientNames are the common names of the clients let in (the API
	// server's kubelet client); a verified certificate with another name is
	// refused with 403.
	ClientNames []string
	Runtime     Runtime
	// StreamIdleTimeout ends an exec, attach or port-forward session idle
	// that long; StreamCreationTimeout bounds how long a client takes to
	// open its streams. Zero picks the defaults.
	StreamIdleTimeout     time.Duration
	StreamCreationTimeout time.Duration
	Log                   *slog.Logger
}

// Server is a listening kubelet server.
type Server struct {
	cfg      Config
	listener net.Listener
	http     *http.Server
}

// New checks cfg and listens on cfg.Addr; Run serves.
func New(cfg Config) (*Server, error) {
	if cfg.TLS == nil || cfg.TLS.ClientCAs == nil || len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil {
		return nil, fmt.Errorf("kubelet server: a serving certificate and a client CA are required")
	}
	if cfg.Runtime == nil || len(cfg.ClientNames) == 0 {
		return nil, fmt.Errorf("kubelet server: a runtime and the names of allowed clients are required")
	}
	if cfg.StreamIdleTimeout == 0 {
		cfg.StreamIdleTimeout = DefaultStreamIdleTimeout
	}
	if cfg.StreamCreationTimeout == 0 {
		cfg.StreamCreationTimeout = DefaultStreamCreationTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	tlsConfig := cfg.TLS.Clone()
	tlsConfig.ClientAuth = tls.RequireAndVerifyClientCert
	tlsConfig.NextProtos = []string{"http/1.1"} // upgrades need HTTP/1.1
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kubelet server: listening on %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, listener: tls.NewListener(l, tlsConfig)}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() *net.TCPAddr { return s.listener.Addr().(*net.TCPAddr) }

// Run serves until ctx ends, then closes every connection.
func (s *Server) Run(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			s.http.Close()
		case <-done:
		}
	}()
	if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("kubelet server on %s: %w", s.Addr(), err)
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.logs)
	for _, p := range []string{"/exec/{namespace}/{pod}/{container}", "/exec/{namespace}/{pod}/{uid}/{container}"} {
		mux.HandleFunc(p, s.exec)
	}
	for _, p := range []string{"/attach/{namespace}/{pod}/{container}", "/attach/{namespace}/{pod}/{uid}/{container}"} {
		mux.HandleFunc(p, s.attach)
	}
	for _, p := range []string{"/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"} {
		mux.HandleFunc(p, s.portForward)
	}
	return s.authorize(mux)
}

// authorize lets in only the clients named in the configuration; the TLS
// handshake has already verified their certificates.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || !slices.Contains(s.cfg.ClientNames, r.TLS.PeerCertificates[0].Subject.CommonName) {
			name := "anonymous"
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				name = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, path=%s)", name, r.Method, r.URL.Path), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func podOf(r *http.Request) Pod {
	return Pod{Namespace: r.PathValue("namespace"), Name: r.PathValue("pod"), UID: types.UID(r.PathValue("uid"))}
}

// httpError answers a failed request with the status the error's category
// calls for.
func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrNotRunning):
		code = http.StatusBadRequest
	}
	http.Error(w, err.Error(), code)
}
