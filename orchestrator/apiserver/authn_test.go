package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
)

// fakeAuthn answers what its fields say and counts the requests it sees.
type fakeAuthn struct {
	calls int
	ok    bool
	err   error
}

func (f *fakeAuthn) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	f.calls++
	if !f.ok || f.err != nil {
		return nil, f.ok, f.err
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: "alice", Groups: []string{"devs"}}}, true, nil
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func plainRequest() *http.Request {
	return httptest.NewRequest(http.MethodGet, "http://berth/api", nil)
}

// requestWith is a request over TLS whose client presented chain, leaf first.
func requestWith(chain ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "https://berth/api", nil)
	req.TLS = &tls.ConnectionState{}
	for _, raw := range chain {
		req.TLS.PeerCertificates = append(req.TLS.PeerCertificates, &x509.Certificate{Raw: []byte(raw)})
	}
	return req
}

func TestCertCache(t *testing.T) {
	const ttl = 10 * time.Second
	type step struct {
		req *http.Request
		// advance moves the clock before the request.
		advance time.Duration
		// ok and err are what the wrapped authenticator answers, if asked.
		ok  bool
		err error
	}
	good := func(req *http.Request, advance time.Duration) step { return step{req: req, advance: advance, ok: true} }
	cases := []struct {
		name      string
		steps     []step
		wantCalls int
	}{
		{
			name:      "the same chain again is answered from the cache",
			steps:     []step{good(requestWith("leaf", "ca"), 0), good(requestWith("leaf", "ca"), time.Second), good(requestWith("leaf", "ca"), ttl-time.Second-time.Nanosecond)},
			wantCalls: 1,
		},
		{
			name:      "another leaf is authenticated",
			steps:     []step{good(requestWith("leaf-a"), 0), good(requestWith("leaf-b"), 0)},
			wantCalls: 2,
		},
		{
			name:      "the same leaf with another chain is authenticated",
			steps:     []step{good(requestWith("leaf"), 0), good(requestWith("leaf", "intermediate"), 0)},
			wantCalls: 2,
		},
		{
			name:      "an entry expires after the ttl",
			steps:     []step{good(requestWith("leaf"), 0), good(requestWith("leaf"), ttl)},
			wantCalls: 2,
		},
		{
			name:      "a renewed entry lasts another ttl",
			steps:     []step{good(requestWith("leaf"), 0), good(requestWith("leaf"), ttl), good(requestWith("leaf"), ttl-time.Nanosecond)},
			wantCalls: 2,
		},
		{
			name:      "a rejected chain is not cached",
			steps:     []step{{req: requestWith("leaf")}, good(requestWith("leaf"), 0), good(requestWith("leaf"), 0)},
			wantCalls: 2,
		},
		{
			name:      "an error is not cached",
			steps:     []step{{req: requestWith("leaf"), err: errors.New("verifying certificate: expired")}, good(requestWith("leaf"), 0)},
			wantCalls: 2,
		},
		{
			name:      "requests without TLS pass through",
			steps:     []step{good(plainRequest(), 0), good(plainRequest(), 0)},
			wantCalls: 2,
		},
		{
			name:      "TLS without a client certificate passes through",
			steps:     []step{good(requestWith(), 0), good(requestWith(), 0)},
			wantCalls: 2,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next := &fakeAuthn{}
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			cache := newCertCache(next)
			cache.now = clock.now
			if cache.ttl != ttl {
				t.Fatalf("ttl = %s, want %s", cache.ttl, ttl)
			}
			for i, s := range c.steps {
				clock.t = clock.t.Add(s.advance)
				next.ok, next.err = s.ok, s.err
				resp, ok, err := cache.AuthenticateRequest(s.req)
				if ok != s.ok || !errors.Is(err, s.err) {
					t.Errorf("step %d: AuthenticateRequest = %v, %v; want %v, %v", i, ok, err, s.ok, s.err)
				}
				if ok && (resp == nil || resp.User.GetName() != "alice") {
					t.Errorf("step %d: response %+v, want user alice", i, resp)
				}
			}
			if next.calls != c.wantCalls {
				t.Errorf("the wrapped authenticator was asked %d times, want %d", next.calls, c.wantCalls)
			}
		})
	}
}

func TestCertCacheResponseIsACopy(t *testing.T) {
	next := &fakeAuthn{ok: true}
	cache := newCertCache(next)
	first, _, _ := cache.AuthenticateRequest(requestWith("leaf"))
	first.User = &user.DefaultInfo{Name: "mallory"}
	second, ok, err := cache.AuthenticateRequest(requestWith("leaf"))
	if !ok || err != nil || second.User.GetName() != "alice" {
		t.Errorf("after a caller changed its response, the cache answers %+v, %v, %v; want alice", second, ok, err)
	}
	if next.calls != 1 {
		t.Errorf("the wrapped authenticator was asked %d times, want 1", next.calls)
	}
}
