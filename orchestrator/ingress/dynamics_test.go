package ingress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// waitChan waits for a value from ch for up to 10s.
func waitChan[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type result struct {
	r   response
	err error
}

func TestFollowsChanges(t *testing.T) {
	old, next := newBackend(t, "old"), newBackend(t, "new")
	s := start(t, nil,
		service("default", "app"),
		slice("default", "app-1", "app", "http", old.port(), endpoint("127.0.0.1", true)),
		ingress("app", withRule("app.example.com", prefix("/", "app"))),
	)
	ctx := context.Background()
	if err := requireBackend(s, t, "app.example.com", "/", "old"); err != nil {
		t.Fatal(err)
	}

	inflight := make(chan result, 1)
	go func() {
		r, err := s.try(client(t, nil), http.MethodGet, "http", "app.example.com", "/slow", "")
		inflight <- result{r, err}
	}()
	waitChan(t, "the slow request to reach the old endpoint", old.arrived)

	// The old endpoint goes, a new one comes.
	es := slice("default", "app-1", "app", "http", next.port(), endpoint("127.0.0.1", true))
	if _, err := s.client.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "requests to go to the new endpoint", func() error {
		return requireBackend(s, t, "app.example.com", "/", "new")
	})
	hitsBefore := old.hits.Load()
	for range 4 {
		if err := requireBackend(s, t, "app.example.com", "/", "new"); err != nil {
			t.Fatal(err)
		}
	}
	if n := old.hits.Load() - hitsBefore; n != 0 {
		t.Errorf("the removed endpoint got %d more requests", n)
	}

	// The request in flight keeps its endpoint.
	close(old.release)
	res := waitChan(t, "the slow request", inflight)
	if res.err != nil || res.r.status != http.StatusOK || res.r.backend != "old" {
		t.Errorf("request in flight during the change: %v, status %d from %q; want 200 from old", res.err, res.r.status, res.r.backend)
	}

	// New Ingresses are served, deleted ones no longer.
	late := ingress("late", withRule("late.example.com", prefix("/", "app")))
	if _, err := s.client.NetworkingV1().Ingresses("default").Create(ctx, late, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new Ingress to be served", func() error {
		return requireBackend(s, t, "late.example.com", "/", "new")
	})
	if err := s.client.NetworkingV1().Ingresses("default").Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted Ingress to be gone", func() error {
		if r := s.get(t, "app.example.com", "/"); r.status != http.StatusNotFound {
			return fmt.Errorf("status %d from %q, want 404", r.status, r.backend)
		}
		return nil
	})
}

// closedPort returns a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := int32(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

func TestRetriesOnAnotherEndpointWhenDialFails(t *testing.T) {
	live := newBackend(t, "live")
	s := start(t, nil,
		service("default", "app"),
		backendSlice("default", "app", live, true),
		slice("default", "app-dead", "app", "http", closedPort(t), endpoint("127.0.0.1", true)),
		ingress("app", withRule("app.example.com", prefix("/", "app"))),
	)
	c := client(t, nil)
	// Round robin sends every other request to the dead endpoint first.
	for i := range 6 {
		method, body := http.MethodGet, ""
		if i%2 == 1 {
			method, body = http.MethodPost, fmt.Sprintf("payload-%d", i)
		}
		r := s.do(t, c, method, "http", "app.example.com", "/", body)
		if r.status != http.StatusOK || r.body != "live:"+body {
			t.Errorf("%s %d: status %d, body %q; want 200, %q", method, i, r.status, r.body, "live:"+body)
		}
	}
	if n := live.hits.Load(); n != 6 {
		t.Errorf("the live endpoint got %d requests, want 6", n)
	}
}

func TestDoesNotRetryRequestsThatWereSent(t *testing.T) {
	live := newBackend(t, "live")
	var aborted atomic.Int64
	abort := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aborted.Add(1)
		io.ReadAll(r.Body)
		panic(http.ErrAbortHandler) // drop the connection without answering
	}))
	t.Cleanup(abort.Close)
	abortPort := int32(abort.Listener.Addr().(*net.TCPAddr).Port)
	s := start(t, nil,
		service("default", "app"),
		backendSlice("default", "app", live, true),
		slice("default", "app-abort", "app", "http", abortPort, endpoint("127.0.0.1", true)),
		ingress("app", withRule("app.example.com", prefix("/", "app"))),
	)
	c := client(t, nil)
	var statuses []int
	for range 2 {
		statuses = append(statuses, s.do(t, c, http.MethodPost, "http", "app.example.com", "/", "once").status)
	}
	slices.Sort(statuses)
	if !slices.Equal(statuses, []int{http.StatusOK, http.StatusBadGateway}) {
		t.Errorf("statuses %v, want one 200 and one 502", statuses)
	}
	if a, l := aborted.Load(), live.hits.Load(); a != 1 || l != 1 {
		t.Errorf("the aborting endpoint got %d requests and the live one %d, want 1 each", a, l)
	}
}

func TestUpgrade(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade to echo expected", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo:" + line)
		brw.Flush()
	}))
	t.Cleanup(up.Close)
	s := start(t, nil,
		service("default", "ws"),
		slice("default", "ws-1", "ws", "http", int32(up.Listener.Addr().(*net.TCPAddr).Port), endpoint("127.0.0.1", true)),
		ingress("ws", withRule("ws.example.com", prefix("/", "ws"))),
	)
	conn, err := net.Dial("tcp", s.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	fmt.Fprint(conn, "ping\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo:ping\n" {
		t.Errorf("read %q, %v over the upgraded connection; want %q", line, err, "echo:ping\n")
	}
}

func TestShutdownLetsRequestsFinish(t *testing.T) {
	b := newBackend(t, "web")
	s := start(t, nil, append(serviceWith("web", b),
		ingress("web", withRule("web.example.com", prefix("/", "web"))))...)

	inflight := make(chan result, 1)
	go func() {
		r, err := s.try(client(t, nil), http.MethodGet, "http", "web.example.com", "/slow", "")
		inflight <- result{r, err}
	}()
	waitChan(t, "the slow request to arrive", b.arrived)
	s.cancel()
	eventually(t, "new connections to be refused", func() error {
		conn, err := net.Dial("tcp", s.HTTPAddr().String())
		if err != nil {
			return nil
		}
		conn.Close()
		return errors.New("still accepting connections")
	})
	select {
	case err := <-s.done:
		s.done <- err
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}
	close(b.release)
	res := waitChan(t, "the slow request", inflight)
	if res.err != nil || res.r.status != http.StatusOK || res.r.body != "web:" {
		t.Errorf("request in flight at shutdown: %v, status %d, body %q; want 200 from web", res.err, res.r.status, res.r.body)
	}
	err := waitChan(t, "Run to return", s.done)
	s.done <- err // for the cleanup
}

// TestRoutes: Routes tells the kubelet whether the table still sends new
// requests to a pod's address, so that a stopping pod waits for it.
func TestRoutes(t *testing.T) {
	ready, notReady := netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("10.1.0.6")
	s := start(t, nil,
		service("default", "app"),
		slice("default", "app-1", "app", "http", 8080, endpoint(ready.String(), true), endpoint(notReady.String(), false)),
		ingress("app", withRule("app.example.com", prefix("/", "app"))),
	)
	eventually(t, "the ready endpoint to be routed", func() error {
		if !s.Routes(ready) {
			return fmt.Errorf("Routes(%s) is false", ready)
		}
		return nil
	})
	if s.Routes(notReady) {
		t.Errorf("Routes(%s) is true for an endpoint that is not ready", notReady)
	}
	es := slice("default", "app-1", "app", "http", 8080, endpoint(ready.String(), false), endpoint(notReady.String(), false))
	if _, err := s.client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), es, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the endpoint that stopped being ready to be unrouted", func() error {
		if s.Routes(ready) {
			return fmt.Errorf("Routes(%s) is still true", ready)
		}
		return nil
	})
}
