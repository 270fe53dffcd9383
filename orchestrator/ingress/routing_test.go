package ingress

import (
	"fmt"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestRouting(t *testing.T) {
	names := []string{"web", "api", "exact", "prefix", "longer", "root", "impl", "anyhost", "wild", "named", "foreign"}
	var objs []runtime.Object
	for _, n := range names {
		objs = append(objs, serviceWith(n, newBackend(t, n))...)
		if n == "named" {
			// Reached by the Service port's name ("http", port 8080), whose
			// endpoints listen on another port.
			svc := objs[len(objs)-2].(*corev1.Service)
			svc.Spec.Ports[0].Port = 8080
		}
	}

	exact := networkingv1.PathTypeExact
	objs = append(objs,
		ingress("hosts",
			withRule("web.example.com", prefix("/", "web")),
			withRule("api.example.com", prefix("/", "api"))),
		ingress("paths", withRule("paths.example.com",
			path(exact, "/foo", "exact"),
			prefix("/foo", "prefix"),
			prefix("/foo/bar/", "longer"),
			prefix("/", "root"),
			path(networkingv1.PathTypeImplementationSpecific, "/impl", "impl"))),
		ingress("anyhost", withRule("", prefix("/anyhost", "anyhost"))),
		ingress("only", withRule("only.example.com", path(exact, "/v1", "api"))),
		ingress("wild", withRule("*.wild.example.com", prefix("/", "wild"))),
		ingress("named", withRule("named.example.com", networkingv1.HTTPIngressPath{
			Path: "/", PathType: ptr(networkingv1.PathTypePrefix), Backend: *svcBackend("named", "http"),
		})),
		ingress("legacy", withLegacyClass(DefaultClassName), withRule("legacy.example.com", prefix("/", "web"))),
		// Other classes' Ingresses must change nothing, not even on hosts
		// of ours.
		ingress("other-class", withClass("nginx"),
			withRule("foreign.example.com", prefix("/", "foreign")),
			withRule("web.example.com", prefix("/foreign", "foreign"))),
		ingress("other-legacy", withLegacyClass("nginx"), withRule("foreign2.example.com", prefix("/", "foreign"))),
	)
	s := start(t, nil, objs...)

	tests := []struct {
		name, host, path string
		want             string // backend, or "404"
	}{
		{"first host", "web.example.com", "/", "web"},
		{"first host deeper", "web.example.com", "/a/b?q=1", "web"},
		{"second host", "api.example.com", "/", "api"},
		{"host in another case with port", "WEB.Example.COM:8080", "/", "web"},
		{"host with trailing dot", "api.example.com.", "/", "api"},
		{"exact", "paths.example.com", "/foo", "exact"},
		{"exact needs the same path", "paths.example.com", "/foo/", "prefix"},
		{"prefix below", "paths.example.com", "/foo/baz", "prefix"},
		{"longer prefix", "paths.example.com", "/foo/bar", "longer"},
		{"longer prefix with slash", "paths.example.com", "/foo/bar/", "longer"},
		{"longer prefix below", "paths.example.com", "/foo/bar/x", "longer"},
		{"prefix is by element", "paths.example.com", "/foobar", "root"},
		{"prefix is by element, longer", "paths.example.com", "/foo/barx", "prefix"},
		{"root", "paths.example.com", "/", "root"},
		{"implementation specific is prefix", "paths.example.com", "/impl/x", "impl"},
		{"implementation specific by element", "paths.example.com", "/implx", "root"},
		{"host rules before host-less ones", "paths.example.com", "/anyhost", "root"},
		{"host-less for other hosts", "unknown.example.com", "/anyhost/x", "anyhost"},
		{"host-less for no host", "", "/anyhost", "anyhost"},
		{"host-less path unmatched", "unknown.example.com", "/", "404"},
		{"unmatched host path falls through", "only.example.com", "/anyhost", "anyhost"},
		{"exact on host", "only.example.com", "/v1", "api"},
		{"nothing matches", "only.example.com", "/v2", "404"},
		{"wildcard", "a.wild.example.com", "/", "wild"},
		{"wildcard is one label", "a.b.wild.example.com", "/", "404"},
		{"wildcard needs a label", "wild.example.com", "/", "404"},
		{"port by name", "named.example.com", "/", "named"},
		{"legacy annotation", "legacy.example.com", "/", "web"},
		{"other class ignored", "foreign.example.com", "/", "404"},
		{"other class ignored on our host", "web.example.com", "/foreign", "web"},
		{"other legacy class ignored", "foreign2.example.com", "/", "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.get(t, tt.host, tt.path)
			got := r.backend
			if r.status == http.StatusNotFound && got == "" {
				got = "404"
			} else if r.status != http.StatusOK {
				t.Fatalf("status %d (%q), want 200 from %s", r.status, r.body, tt.want)
			}
			if got != tt.want {
				t.Errorf("answered by %s, want %s", got, tt.want)
			}
			if got != "404" && r.header.Get("X-Seen-Path") != tt.path {
				t.Errorf("backend saw path %q, want %q unchanged", r.header.Get("X-Seen-Path"), tt.path)
			}
		})
	}
}

func TestDefaultBackend(t *testing.T) {
	var objs []runtime.Object
	for _, n := range []string{"web", "fallback", "newer"} {
		objs = append(objs, serviceWith(n, newBackend(t, n))...)
	}
	objs = append(objs,
		// The oldest Ingress's default backend wins.
		ingress("newer", withCreated(2000), withDefault("newer")),
		ingress("site", withCreated(1000), withDefault("fallback"),
			withRule("a.example.com", path(networkingv1.PathTypeExact, "/x", "web"))),
	)
	s := start(t, nil, objs...)
	for _, tt := range []struct{ host, path, want string }{
		{"a.example.com", "/x", "web"},
		{"a.example.com", "/y", "fallback"},
		{"other.example.com", "/", "fallback"},
	} {
		if r := s.get(t, tt.host, tt.path); r.status != http.StatusOK || r.backend != tt.want {
			t.Errorf("%s%s: status %d from %q, want 200 from %s", tt.host, tt.path, r.status, r.backend, tt.want)
		}
	}
}

func TestUnavailableBackends(t *testing.T) {
	ready := newBackend(t, "ready")
	notReady := newBackend(t, "not-ready")
	noPort := service("default", "noport")
	noPort.Spec.Ports[0].Port = 81
	objs := []runtime.Object{
		service("default", "noslices"),
		service("default", "unready"),
		backendSlice("default", "unready", notReady, false),
		noPort,
		backendSlice("default", "noport", ready, true),
		// mixed has a ready and a not-ready endpoint, in two slices.
		service("default", "mixed"),
		backendSlice("default", "mixed", ready, true),
		backendSlice("default", "mixed", notReady, false),
		ingress("unavailable",
			withRule("noslices.example.com", prefix("/", "noslices")),
			withRule("unready.example.com", prefix("/", "unready")),
			withRule("missing.example.com", prefix("/", "missing")),
			withRule("noport.example.com", prefix("/", "noport")),
			withRule("mixed.example.com", prefix("/", "mixed"))),
	}
	s := start(t, nil, objs...)
	for _, host := range []string{"noslices.example.com", "unready.example.com", "missing.example.com", "noport.example.com"} {
		t.Run(host, func(t *testing.T) {
			if r := s.get(t, host, "/"); r.status != http.StatusServiceUnavailable {
				t.Errorf("status %d from %q, want 503", r.status, r.backend)
			}
		})
	}
	t.Run("not-ready endpoint skipped", func(t *testing.T) {
		for range 6 {
			if r := s.get(t, "mixed.example.com", "/"); r.status != http.StatusOK || r.backend != "ready" {
				t.Fatalf("status %d from %q, want 200 from ready", r.status, r.backend)
			}
		}
		if n := notReady.hits.Load(); n != 0 {
			t.Errorf("the not-ready endpoint got %d requests", n)
		}
	})
}

func TestRoundRobin(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	s := start(t, nil,
		service("default", "app"),
		backendSlice("default", "app", a, true),
		backendSlice("default", "app", b, true),
		// Two paths to one Service port share its turn.
		ingress("app", withRule("app.example.com", prefix("/one", "app"), prefix("/two", "app"))),
	)
	got := map[string]int{}
	for i := range 10 {
		p := "/one"
		if i%3 == 0 {
			p = "/two"
		}
		r := s.get(t, "app.example.com", p)
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		got[r.backend]++
	}
	if got["a"] != 5 || got["b"] != 5 {
		t.Errorf("10 requests went %v, want 5 to each endpoint", got)
	}
}

func TestForwardedHeaders(t *testing.T) {
	s := start(t, nil, append(serviceWith("web", newBackend(t, "web")),
		ingress("web", withRule("web.example.com", prefix("/", "web"))))...)
	req, err := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "web.example.com"
	// A client's own X-Forwarded-For is not trusted: it is replaced.
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	resp, err := client(t, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for h, want := range map[string]string{
		"X-Seen-Host":            "web.example.com",
		"X-Seen-Forwarded-For":   "127.0.0.1",
		"X-Seen-Forwarded-Host":  "web.example.com",
		"X-Seen-Forwarded-Proto": "http",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestNotFoundWithoutIngresses(t *testing.T) {
	s := start(t, nil)
	if r := s.get(t, "example.com", "/"); r.status != http.StatusNotFound {
		t.Errorf("status %d, want 404", r.status)
	}
}

// requireBackend fails unless host/path is answered by want.
func requireBackend(s *started, t *testing.T, host, path, want string) error {
	t.Helper()
	r := s.get(t, host, path)
	if r.status != http.StatusOK || r.backend != want {
		return fmt.Errorf("%s%s: status %d from %q, want 200 from %s", host, path, r.status, r.backend, want)
	}
	return nil
}
