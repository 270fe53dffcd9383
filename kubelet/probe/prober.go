package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Result is the outcome of one probe.
type Result int

const (
	// Unknown is no result yet (or a probe that could not run).
	Unknown Result = iota
	// Success is a passing probe.
	Success
	// Warning is a passing probe with something to say (an HTTP redirect that
	// was not followed).
	Warning
	// Failure is a failing probe.
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Warning:
		return "warning"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// maxOutput is how much of an exec probe's output or an HTTP probe's body is
// kept, as upstream.
const maxOutput = 10 * 1024

// Execer runs a command in a container; the runtime implements it.
type Execer interface {
	// Exec runs cmd in the container and returns its combined output and exit
	// code. It stops the command when ctx ends and then returns ctx's error.
	Exec(ctx context.Context, containerID string, cmd []string) (output []byte, exitCode int, err error)
}

// UserAgent is the User-Agent of HTTP and gRPC probes, "kube-probe/1.37", for a
// Kubernetes version such as "v1.37.2".
func UserAgent(kubeVersion string) string {
	parts := strings.SplitN(strings.TrimPrefix(kubeVersion, "v"), ".", 3)
	if len(parts) < 2 {
		return "kube-probe"
	}
	return "kube-probe/" + parts[0] + "." + parts[1]
}

// Prober runs single probes. It is safe for concurrent use.
type Prober struct {
	exec      Execer
	userAgent string
	transport *http.Transport
}

// NewProber returns a Prober running exec probes through exec and identifying
// itself with userAgent (see UserAgent).
func NewProber(exec Execer, userAgent string) *Prober {
	dialer := &net.Dialer{}
	return &Prober{
		exec:      exec,
		userAgent: userAgent,
		transport: &http.Transport{
			// As upstream: no proxy, no keep-alives (each probe a new
			// connection), certificates not verified, bodies as sent.
			Proxy:              nil,
			DisableKeepAlives:  true,
			DisableCompression: true,
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
			DialContext:        dialer.DialContext,
		},
	}
}

// Target is the container a probe runs against.
type Target struct {
	PodIP       string
	ContainerID string
	Container   *corev1.Container
	// Dial opens the connections of httpGet, tcpSocket and grpc probes, such
	// as a dial from inside the pod's network namespace; nil dials from the
	// host's network.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Probe runs p once against t, within p's timeoutSeconds. It returns the result
// and the output the events quote; an error means the probe could not run (a
// port name the container does not declare, say) and says nothing of health.
func (pr *Prober) Probe(ctx context.Context, p *corev1.Probe, t Target) (Result, string, error) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	switch {
	case p.Exec != nil:
		return pr.probeExec(ctx, t.ContainerID, p.Exec.Command, timeout)
	case p.HTTPGet != nil:
		return pr.probeHTTP(ctx, p.HTTPGet, t, timeout)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, t.Container)
		if err != nil {
			return Unknown, "", err
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = t.PodIP
		}
		return probeTCP(ctx, t.Dial, net.JoinHostPort(host, strconv.Itoa(port)), timeout)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return pr.probeGRPC(ctx, t.Dial, net.JoinHostPort(t.PodIP, strconv.Itoa(int(p.GRPC.Port))), service, timeout)
	}
	return Unknown, "", fmt.Errorf("missing probe handler for %s", t.Container.Name)
}

func (pr *Prober) probeExec(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (Result, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, code, err := pr.exec.Exec(ctx, containerID, cmd)
	if len(out) > maxOutput {
		out = out[:maxOutput]
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Failure, fmt.Sprintf("command %q timed out", strings.Join(cmd, " ")), nil
	case err != nil:
		return Unknown, "", err
	case code != 0:
		return Failure, string(out), nil
	}
	return Success, string(out), nil
}

func (pr *Prober) probeHTTP(ctx context.Context, g *corev1.HTTPGetAction, t Target, timeout time.Duration) (Result, string, error) {
	port, err := resolvePort(g.Port, t.Container)
	if err != nil {
		return Unknown, "", err
	}
	host := g.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Unknown, "", err
	}
	headers := http.Header{}
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", pr.userAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")

	// The client's timeout (rather than a context's) says so as upstream's does:
	// "(Client.Timeout exceeded while awaiting headers)".
	transport := pr.transport
	if t.Dial != nil {
		// Keep-alives are off, so a transport of the probe's own costs no
		// pooled connections.
		transport = pr.transport.Clone()
		transport.DialContext = t.Dial
	}
	client := &http.Client{Transport: transport, CheckRedirect: localRedirectsOnly, Timeout: timeout}
	res, err := client.Do(req)
	if err != nil {
		return Failure, err.Error(), nil
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		return Failure, "", err
	}
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		if res.StatusCode >= http.StatusMultipleChoices {
			return Warning, fmt.Sprintf("Probe terminated redirects, Response body: %v", string(b)), nil
		}
		return Success, string(b), nil
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode), nil
}

// localRedirectsOnly follows redirects to the same host (up to 10) and stops at
// others, whose 3xx response then counts as a warning, as upstream.
func localRedirectsOnly(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// probeTCP connects to addr with dial, or from the host's network when dial is
// nil.
func probeTCP(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string, timeout time.Duration) (Result, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return Failure, err.Error(), nil
	}
	if err := conn.Close(); err != nil {
		return Failure, err.Error(), nil
	}
	return Success, "", nil
}

// probeGRPC checks addr's health service, connecting with dial, or from the
// host's network when dial is nil.
func (pr *Prober) probeGRPC(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr, service string, timeout time.Duration) (Result, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(pr.userAgent),
	}
	if dial != nil {
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dial(ctx, "tcp", addr)
		}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return Failure, fmt.Sprintf("error: failed to connect service at %q: %+v", addr, err), nil
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			switch st.Code() {
			case codes.Unimplemented:
				return Failure, fmt.Sprintf("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message()), nil
			case codes.DeadlineExceeded:
				return Failure, fmt.Sprintf("timeout: health rpc did not complete within %v", timeout), nil
			case codes.Unavailable:
				return Failure, fmt.Sprintf("error: failed to connect service at %q: %s", addr, st.Message()), nil
			}
		}
		return Failure, fmt.Sprintf("error: health rpc probe failed: %+v", err), nil
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Failure, fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String()), nil
	}
	return Success, "service is serving", nil
}

// resolvePort turns a probe's port (a number, or the name of a container port)
// into a number.
func resolvePort(p intstr.IntOrString, ctr *corev1.Container) (int, error) {
	port := p.IntValue()
	if p.Type == intstr.String {
		var found bool
		for _, cp := range ctr.Ports {
			if cp.Name == p.StrVal {
				port, found = int(cp.ContainerPort), true
				break
			}
		}
		if !found {
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return 0, fmt.Errorf("port %s not found", p.StrVal)
			}
			port = n
		}
	}
	if port > 0 && port < 65536 {
		return port, nil
	}
	return 0, fmt.Errorf("invalid port number: %v", port)
}
