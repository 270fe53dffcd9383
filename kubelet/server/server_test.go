package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"

	"berth.dev/berth/orchestrator/pki"
)

const apiserverName = "kube-apiserver-kubelet-client"

// fake is a Runtime with one pod, default/web, with one container, app.
type fake struct {
	mu       sync.Mutex
	logOpts  *corev1.PodLogOptions
	execCmd  []string
	execPod  Pod
	attached Streams
}

func (f *fake) find(pod Pod, container string) error {
	if pod.Namespace != "default" || pod.Name != "web" {
		return fmt.Errorf("pod %s: %w", pod, ErrNotFound)
	}
	if container == "waiting" {
		return fmt.Errorf("container %q in pod %q is waiting to start: ContainerCreating: %w", container, pod.Name, ErrNotRunning)
	}
	if container != "app" {
		return fmt.Errorf("container %s: %w", container, ErrNotFound)
	}
	return nil
}

func (f *fake) Logs(ctx context.Context, pod Pod, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	if err := f.find(pod, container); err != nil {
		return err
	}
	f.mu.Lock()
	f.logOpts = opts
	f.mu.Unlock()
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
			return err
		}
		if !opts.Follow && i == 2 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (f *fake) Exec(ctx context.Context, pod Pod, container string, cmd []string, s Streams) error {
	if err := f.find(pod, container); err != nil {
		return err
	}
	f.mu.Lock()
	f.execCmd, f.execPod = cmd, pod
	f.mu.Unlock()
	switch cmd[0] {
	case "cat":
		_, err := io.Copy(s.Stdout, s.Stdin)
		return err
	case "fail":
		fmt.Fprintln(s.Stderr, "failing")
		return ExitCode(3)
	}
	_, err := fmt.Fprintln(s.Stdout, strings.Join(cmd, " "))
	return err
}

func (f *fake) Attach(ctx context.Context, pod Pod, container string, s Streams) error {
	if err := f.find(pod, container); err != nil {
		return err
	}
	f.mu.Lock()
	f.attached = s
	f.mu.Unlock()
	_, err := io.WriteString(s.Stdout, "attached\n")
	return err
}

func (f *fake) PortForward(ctx context.Context, pod Pod, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	if err := f.find(pod, "app"); err != nil {
		return err
	}
	fmt.Fprintf(stream, "port %d: ", port)
	_, err := io.Copy(stream, stream)
	return err
}

// setup runs a server with the fake runtime and returns it with client
// configurations for the allowed client and for another the CA signed.
func setup(t *testing.T) (*fake, *Server, *rest.Config, *rest.Config) {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.ServingTLS(pki.Leaf{Name: "kubelet", CommonName: "kubelet", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	rt := &fake{}
	s, err := New(Config{Addr: "127.0.0.1:0", TLS: serving, ClientNames: []string{apiserverName}, Runtime: rt})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	client := func(name string) *rest.Config {
		issued, err := ca.Ensure(pki.Leaf{Name: name, CommonName: name})
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := os.ReadFile(issued.CertFile)
		key, _ := os.ReadFile(issued.KeyFile)
		return &rest.Config{Host: "https://" + s.Addr().String(), TLSClientConfig: rest.TLSClientConfig{CAData: caPEM, CertData: cert, KeyData: key}}
	}
	return rt, s, client(apiserverName), client("someone-else")
}

func get(t *testing.T, cfg *rest.Config, path string) (int, string) {
	t.Helper()
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: transport, Timeout: 10 * time.Second}).Get(cfg.Host + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestLogs(t *testing.T) {
	rt, _, allowed, other := setup(t)
	since := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cases := []struct {
		name     string
		path     string
		code     int
		body     string
		wantOpts *corev1.PodLogOptions
	}{
		{name: "plain", path: "/containerLogs/default/web/app", code: 200, body: "line 0\nline 1\nline 2\n", wantOpts: &corev1.PodLogOptions{}},
		{name: "options reach the runtime",
			path: "/containerLogs/default/web/app?timestamps=true&tailLines=5&sinceTime=2026-01-02T03:04:05Z&previous=1&stream=Stdout",
			code: 200, body: "line 0\nline 1\nline 2\n",
			wantOpts: &corev1.PodLogOptions{Timestamps: true, TailLines: new(int64(5)), SinceTime: &since, Previous: true, Stream: new("Stdout")}},
		{name: "limitBytes cuts a followed log and ends it", path: "/containerLogs/default/web/app?follow=true&limitBytes=10", code: 200, body: "line 0\nlin",
			wantOpts: &corev1.PodLogOptions{Follow: true, LimitBytes: new(int64(10))}},
		{name: "unknown pod", path: "/containerLogs/default/nope/app", code: 404, body: "pod default/nope: not found"},
		{name: "waiting container", path: "/containerLogs/default/web/waiting", code: 400, body: `container "waiting" in pod "web" is waiting to start`},
		{name: "malformed option", path: "/containerLogs/default/web/app?tailLines=many", code: 400, body: "tailLines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt.mu.Lock()
			rt.logOpts = nil
			rt.mu.Unlock()
			code, body := get(t, allowed, c.path)
			if code != c.code || !strings.Contains(body, c.body) || code == 200 && body != c.body {
				t.Fatalf("GET %s: %d %q; want %d %q", c.path, code, body, c.code, c.body)
			}
			rt.mu.Lock()
			defer rt.mu.Unlock()
			if diff := cmp.Diff(c.wantOpts, rt.logOpts); c.wantOpts != nil && diff != "" {
				t.Errorf("options the runtime saw (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("a client the CA signed but not named is forbidden", func(t *testing.T) {
		code, body := get(t, other, "/containerLogs/default/web/app")
		if code != http.StatusForbidden || !strings.Contains(body, "user=someone-else") {
			t.Fatalf("got %d %q", code, body)
		}
	})
	t.Run("a client without a certificate is refused", func(t *testing.T) {
		anonymous := rest.CopyConfig(allowed)
		anonymous.CertData, anonymous.KeyData = nil, nil
		transport, err := rest.TransportFor(anonymous)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: transport}).Get(allowed.Host + "/containerLogs/default/web/app")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("answered %s without a client certificate", resp.Status)
		}
	})
}

func TestExec(t *testing.T) {
	rt, _, allowed, _ := setup(t)
	execURL := func(container string, cmd ...string) *url.URL {
		u, _ := url.Parse(allowed.Host + "/exec/default/web/" + container)
		q := url.Values{"command": cmd, "input": {"1"}, "output": {"1"}, "error": {"1"}}
		u.RawQuery = q.Encode()
		return u
	}
	spdyExec := func(u *url.URL) (remotecommand.Executor, error) {
		return remotecommand.NewSPDYExecutor(allowed, "POST", u)
	}
	// The kubelet speaks WebSocket up to v4; the API server translates v5.
	wsExec := func(u *url.URL) (remotecommand.Executor, error) {
		return remotecommand.NewWebSocketExecutorForProtocols(allowed, "GET", u.String(), "v4.channel.k8s.io")
	}
	for name, newExec := range map[string]func(*url.URL) (remotecommand.Executor, error){"SPDY": spdyExec, "WebSocket v4": wsExec} {
		t.Run(name, func(t *testing.T) {
			cases := []struct {
				name           string
				cmd            []string
				container      string
				stdin          string
				stdout, stderr string
				code           int
				errContains    string
			}{
				{name: "output", cmd: []string{"echo", "hi", "there"}, container: "app", stdout: "echo hi there\n"},
				{name: "stdin", cmd: []string{"cat"}, container: "app", stdin: "ping\n", stdout: "ping\n"},
				{name: "exit code", cmd: []string{"fail"}, container: "app", stderr: "failing\n", code: 3},
				{name: "unknown container", cmd: []string{"echo"}, container: "nope", errContains: "container nope: not found"},
			}
			for _, c := range cases {
				if c.stdin != "" && name != "SPDY" {
					continue // before v5, a WebSocket cannot say stdin ended
				}
				t.Run(c.name, func(t *testing.T) {
					e, err := newExec(execURL(c.container, c.cmd...))
					if err != nil {
						t.Fatal(err)
					}
					var stdout, stderr bytes.Buffer
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					err = e.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(c.stdin), Stdout: &stdout, Stderr: &stderr})
					var exit exec.CodeExitError
					switch {
					case c.code != 0:
						if !errors.As(err, &exit) || exit.Code != c.code {
							t.Fatalf("err %v; want exit code %d", err, c.code)
						}
					case c.errContains != "":
						if err == nil || !strings.Contains(err.Error(), c.errContains) {
							t.Fatalf("err %v; want one saying %q", err, c.errContains)
						}
					case err != nil:
						t.Fatal(err)
					}
					if stdout.String() != c.stdout || stderr.String() != c.stderr {
						t.Fatalf("stdout %q stderr %q; want %q %q", stdout.String(), stderr.String(), c.stdout, c.stderr)
					}
				})
			}
		})
	}
	rt.mu.Lock()
	if rt.execPod != (Pod{Namespace: "default", Name: "web"}) {
		t.Errorf("runtime saw pod %+v", rt.execPod)
	}
	rt.mu.Unlock()

	t.Run("attach passes only the streams asked for", func(t *testing.T) {
		u, _ := url.Parse(allowed.Host + "/attach/default/web/app?output=1")
		e, err := remotecommand.NewSPDYExecutor(allowed, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		var stdout bytes.Buffer
		if err := e.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &stdout}); err != nil {
			t.Fatal(err)
		}
		rt.mu.Lock()
		defer rt.mu.Unlock()
		if stdout.String() != "attached\n" || rt.attached.Stdin != nil || rt.attached.Stderr != nil || rt.attached.Stdout == nil {
			t.Fatalf("stdout %q, streams %+v", stdout.String(), rt.attached)
		}
	})
}

func TestPortForward(t *testing.T) {
	_, _, allowed, _ := setup(t)
	transport, upgrader, err := spdy.RoundTripperFor(allowed)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(allowed.Host + "/portForward/default/web")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, []string{"127.0.0.1"}, []string{"0:8080"}, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("port-forward never became ready")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "echo me")
	want := "port 8080: echo me"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
	cancel()
	<-done
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no TLS":          {Addr: "127.0.0.1:0", ClientNames: []string{apiserverName}, Runtime: &fake{}},
		"no client CA":    {Addr: "127.0.0.1:0", TLS: &tls.Config{Certificates: []tls.Certificate{{}}}, ClientNames: []string{apiserverName}, Runtime: &fake{}},
		"no client names": {Addr: "127.0.0.1:0", Runtime: &fake{}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
