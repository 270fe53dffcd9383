package probe

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type fakeExec struct {
	output string
	code   int
	err    error
	block  bool
}

func (f fakeExec) Exec(ctx context.Context, _ string, _ []string) ([]byte, int, error) {
	if f.block {
		<-ctx.Done()
		return nil, -1, ctx.Err()
	}
	return []byte(f.output), f.code, f.err
}

func hostPort(t *testing.T, rawURL string) (string, int) {
	t.Helper()
	u := strings.TrimPrefix(strings.TrimPrefix(rawURL, "http://"), "https://")
	h, p, err := net.SplitHostPort(u)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestHTTPProbe(t *testing.T) {
	var lastUA, lastHeader, lastHost string
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		lastUA, lastHeader, lastHost = r.UserAgent(), r.Header.Get("X-Probe"), r.Host
		_, _ = w.Write([]byte("fine"))
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/missing", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/local-redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	host, port := hostPort(t, srv.URL)
	_, tlsPort := hostPort(t, tlsSrv.URL)
	mux.HandleFunc("/remote-redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+strconv.Itoa(port)+"/ok", http.StatusFound)
	})

	ctr := &corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}
	tests := []struct {
		name       string
		get        corev1.HTTPGetAction
		timeout    int32
		want       Result
		wantOutput string
		wantErr    string
		check      func(t *testing.T)
	}{
		{
			name: "200 with default user agent", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(port))},
			want: Success, wantOutput: "fine",
			check: func(t *testing.T) {
				if lastUA != "kube-probe/1.37" {
					t.Errorf("User-Agent = %q", lastUA)
				}
			},
		},
		{
			name: "named port, headers and Host",
			get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("web"), HTTPHeaders: []corev1.HTTPHeader{
				{Name: "X-Probe", Value: "yes"}, {Name: "User-Agent", Value: "mine"}, {Name: "Host", Value: "example.test"},
			}},
			want: Success, wantOutput: "fine",
			check: func(t *testing.T) {
				if lastUA != "mine" || lastHeader != "yes" || lastHost != "example.test" {
					t.Errorf("User-Agent %q, X-Probe %q, Host %q", lastUA, lastHeader, lastHost)
				}
			},
		},
		{name: "https, certificate not checked", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(int32(tlsPort)), Scheme: corev1.URISchemeHTTPS}, want: Success, wantOutput: "fine"},
		{name: "500", get: corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt32(int32(port))}, want: Failure, wantOutput: "HTTP probe failed with statuscode: 500"},
		{name: "404", get: corev1.HTTPGetAction{Path: "/missing", Port: intstr.FromInt32(int32(port))}, want: Failure, wantOutput: "HTTP probe failed with statuscode: 404"},
		{name: "same-host redirect followed", get: corev1.HTTPGetAction{Path: "/local-redirect", Port: intstr.FromInt32(int32(port))}, want: Success, wantOutput: "fine"},
		{
			name: "other-host redirect not followed", get: corev1.HTTPGetAction{Path: "/remote-redirect", Port: intstr.FromInt32(int32(port))},
			want: Warning, wantOutput: "Probe terminated redirects, Response body: ",
		},
		{name: "redirect loop", get: corev1.HTTPGetAction{Path: "/loop", Port: intstr.FromInt32(int32(port))}, want: Failure, wantOutput: "stopped after 10 redirects"},
		{name: "timeout", get: corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt32(int32(port))}, timeout: 1, want: Failure, wantOutput: "(Client.Timeout exceeded while awaiting headers)"},
		{name: "unknown port name", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("nope")}, wantErr: "port nope not found"},
		{name: "closed port", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(1)}, want: Failure, wantOutput: "connection refused"},
	}
	pr := NewProber(nil, UserAgent("v1.37.2"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			get := tc.get
			res, out, err := pr.Probe(context.Background(), &corev1.Probe{
				ProbeHandler: corev1.ProbeHandler{HTTPGet: &get}, TimeoutSeconds: tc.timeout,
			}, Target{PodIP: host, Container: ctr})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want || !strings.Contains(out, tc.wantOutput) {
				t.Errorf("got %v %q, want %v containing %q", res, out, tc.want, tc.wantOutput)
			}
			if tc.check != nil {
				tc.check(t)
			}
		})
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, open := hostPort(t, "http://"+l.Addr().String())
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, shut := hostPort(t, "http://"+closed.Addr().String())
	closed.Close()
	defer l.Close()

	tests := []struct {
		name       string
		port       int
		host       string
		want       Result
		wantOutput string
	}{
		{name: "open", port: open, want: Success},
		{name: "explicit host", port: open, host: "127.0.0.1", want: Success},
		{name: "closed", port: shut, want: Failure, wantOutput: "connection refused"},
	}
	pr := NewProber(nil, "kube-probe/1.37")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, out, err := pr.Probe(context.Background(), &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(tc.port), Host: tc.host},
			}}, Target{PodIP: "127.0.0.1", Container: &corev1.Container{Name: "c"}})
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want || !strings.Contains(out, tc.wantOutput) {
				t.Errorf("got %v %q, want %v containing %q", res, out, tc.want, tc.wantOutput)
			}
		})
	}
}

func TestGRPCProbe(t *testing.T) {
	serve := func(withHealth bool) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		if withHealth {
			h := health.NewServer()
			h.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
			h.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
			healthpb.RegisterHealthServer(s, h)
		}
		go func() { _ = s.Serve(l) }()
		t.Cleanup(s.Stop)
		return l.Addr().(*net.TCPAddr).Port
	}
	healthy, bare := serve(true), serve(false)
	tests := []struct {
		name       string
		port       int
		service    *string
		want       Result
		wantOutput string
	}{
		{name: "server overall", port: healthy, want: Success, wantOutput: "service is serving"},
		{name: "serving service", port: healthy, service: ptr("up"), want: Success},
		{name: "not serving", port: healthy, service: ptr("down"), want: Failure, wantOutput: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", port: healthy, service: ptr("nope"), want: Failure, wantOutput: "error: health rpc probe failed"},
		{name: "no health service", port: bare, want: Failure, wantOutput: "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)"},
		{name: "nothing listening", port: 1, want: Failure, wantOutput: `error: failed to connect service at "127.0.0.1:1"`},
	}
	pr := NewProber(nil, "kube-probe/1.37")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, out, err := pr.Probe(context.Background(), &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				GRPC: &corev1.GRPCAction{Port: int32(tc.port), Service: tc.service},
			}}, Target{PodIP: "127.0.0.1", Container: &corev1.Container{Name: "c"}})
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want || !strings.Contains(out, tc.wantOutput) {
				t.Errorf("got %v %q, want %v containing %q", res, out, tc.want, tc.wantOutput)
			}
		})
	}
}

func TestExecProbe(t *testing.T) {
	tests := []struct {
		name       string
		exec       fakeExec
		want       Result
		wantOutput string
		wantErr    bool
	}{
		{name: "exit 0", exec: fakeExec{output: "ok"}, want: Success, wantOutput: "ok"},
		{name: "exit 1", exec: fakeExec{output: "cat: /tmp/healthy: No such file or directory\n", code: 1}, want: Failure, wantOutput: "cat: /tmp/healthy: No such file or directory\n"},
		{name: "timeout", exec: fakeExec{block: true}, want: Failure, wantOutput: `command "cat /tmp/healthy" timed out`},
		{name: "runtime error", exec: fakeExec{err: errors.New("container not running")}, want: Unknown, wantErr: true},
		{name: "long output truncated", exec: fakeExec{output: strings.Repeat("x", 20000)}, want: Success, wantOutput: strings.Repeat("x", maxOutput)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := NewProber(tc.exec, "kube-probe/1.37")
			res, out, err := pr.Probe(context.Background(), &corev1.Probe{
				ProbeHandler:   corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
				TimeoutSeconds: 1,
			}, Target{ContainerID: "abc", Container: &corev1.Container{Name: "c"}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v", err)
			}
			if res != tc.want || out != tc.wantOutput {
				t.Errorf("got %v %q, want %v %q", res, out, tc.want, tc.wantOutput)
			}
		})
	}
}

func TestUserAgent(t *testing.T) {
	for in, want := range map[string]string{"v1.37.2": "kube-probe/1.37", "1.30.0": "kube-probe/1.30", "garbage": "kube-probe"} {
		if got := UserAgent(in); got != want {
			t.Errorf("UserAgent(%q) = %q, want %q", in, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// redirectDial is a Target.Dial that records what it was asked for and
// connects to to instead.
type redirectDial struct {
	to string
	mu sync.Mutex
	// asked holds the "network address" of each call.
	asked []string
}

func (d *redirectDial) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.asked = append(d.asked, network+" "+address)
	d.mu.Unlock()
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", d.to)
}

func (d *redirectDial) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

// TestProbesUseTargetDial gives each probe a pod IP nothing answers on
// (192.0.2.1 is reserved for documentation) and a Dial that reaches the real
// server: the probe passes only through Dial.
func TestProbesUseTargetDial(t *testing.T) {
	const podIP = "192.0.2.1"
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("fine")) })
	httpSrv := httptest.NewServer(mux)
	defer httpSrv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()

	grpcL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcSrv := grpc.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, health.NewServer())
	go func() { _ = grpcSrv.Serve(grpcL) }()
	defer grpcSrv.Stop()

	tests := []struct {
		name    string
		to      string
		handler corev1.ProbeHandler
		want    string // the dial asked for
		output  string
	}{
		{
			name:    "httpGet",
			to:      strings.TrimPrefix(httpSrv.URL, "http://"),
			handler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt(8080)}},
			want:    "tcp " + podIP + ":8080", output: "fine",
		},
		{
			name:    "httpGet https",
			to:      strings.TrimPrefix(tlsSrv.URL, "https://"),
			handler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt(8443), Scheme: corev1.URISchemeHTTPS}},
			want:    "tcp " + podIP + ":8443", output: "fine",
		},
		{
			name:    "httpGet host",
			to:      strings.TrimPrefix(httpSrv.URL, "http://"),
			handler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt(80), Host: "127.0.0.1"}},
			want:    "tcp 127.0.0.1:80", output: "fine",
		},
		{
			name:    "tcpSocket",
			to:      strings.TrimPrefix(httpSrv.URL, "http://"),
			handler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(9000)}},
			want:    "tcp " + podIP + ":9000",
		},
		{
			name:    "grpc",
			to:      grpcL.Addr().String(),
			handler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}},
			want:    "tcp " + podIP + ":9090", output: "service is serving",
		},
	}
	pr := NewProber(nil, "kube-probe/1.37")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &redirectDial{to: tc.to}
			res, out, err := pr.Probe(context.Background(), &corev1.Probe{ProbeHandler: tc.handler, TimeoutSeconds: 5},
				Target{PodIP: podIP, Container: &corev1.Container{Name: "c"}, Dial: d.dial})
			if err != nil {
				t.Fatal(err)
			}
			if res != Success || out != tc.output {
				t.Errorf("got %v %q, want success %q", res, out, tc.output)
			}
			calls := d.calls()
			if len(calls) == 0 {
				t.Fatal("Dial was not called")
			}
			for _, c := range calls {
				if c != tc.want {
					t.Errorf("Dial(%s), want Dial(%s)", c, tc.want)
				}
			}
		})
	}
}

// TestProbesReportDialErrors checks that a failing Target.Dial fails each
// probe with its error rather than falling back to the host's network.
func TestProbesReportDialErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port // open on the host, so a host dial would pass
	dial := func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no route into the pod")
	}
	handlers := map[string]corev1.ProbeHandler{
		"httpGet":   {HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt(port)}},
		"tcpSocket": {TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}},
		"grpc":      {GRPC: &corev1.GRPCAction{Port: int32(port)}},
	}
	pr := NewProber(nil, "kube-probe/1.37")
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			res, out, err := pr.Probe(context.Background(), &corev1.Probe{ProbeHandler: h, TimeoutSeconds: 2},
				Target{PodIP: "127.0.0.1", Container: &corev1.Container{Name: "c"}, Dial: dial})
			if err != nil {
				t.Fatal(err)
			}
			if res != Failure || !strings.Contains(out, "no route into the pod") {
				t.Errorf("got %v %q, want failure quoting the dial error", res, out)
			}
		})
	}
}
