package ingress

import (
	"log/slog"
	"strings"
	"testing"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestPrefixMatches(t *testing.T) {
	tests := []struct {
		rule, path string
		want       bool
	}{
		{"/", "/", true},
		{"/", "/anything/below", true},
		{"/foo", "/foo", true},
		{"/foo", "/foo/", true},
		{"/foo", "/foo/bar", true},
		{"/foo", "/foobar", false},
		{"/foo", "/fo", false},
		{"/foo/", "/foo", true}, // the trailing slash of a Prefix is ignored
		{"/foo/bar", "/foo/bar/baz", true},
		{"/foo/bar", "/foo/barbaz", false},
		{"/foo/bar", "/foo", false},
	}
	for _, tt := range tests {
		if got := prefixMatches(trimPrefix(tt.rule), tt.path); got != tt.want {
			t.Errorf("Prefix %q on %q: %v, want %v", tt.rule, tt.path, got, tt.want)
		}
	}
}

func TestRequestHost(t *testing.T) {
	for in, want := range map[string]string{
		"example.com":      "example.com",
		"Example.COM:8080": "example.com",
		"example.com.":     "example.com",
		"example.com.:443": "example.com",
		"10.0.0.1:80":      "10.0.0.1",
		"[fd00::1]:80":     "fd00::1",
		"[fd00::1]":        "fd00::1",
		"":                 "",
	} {
		if got := requestHost(in); got != want {
			t.Errorf("requestHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWildcardParent(t *testing.T) {
	for host, want := range map[string]string{
		"a.example.com":   "example.com",
		"a.b.example.com": "b.example.com",
		"localhost":       "",
		".example.com":    "",
		"a.":              "",
	} {
		got, ok := wildcardParent(host)
		if got != want || ok != (want != "") {
			t.Errorf("wildcardParent(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	client := fake.NewClientset()
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no client", Config{HTTPAddr: "127.0.0.1:0", Log: log}, "no API client"},
		{"no address", Config{Client: client, Log: log}, "no listen address"},
		{"bad status address", Config{HTTPAddr: "127.0.0.1:0", Client: client, StatusAddresses: []string{"node-1"}, Log: log}, `"node-1" is not an IP address`},
		{"bad listen address", Config{HTTPAddr: "127.0.0.1:http-alt-nope", Client: client, Log: log}, "listening for HTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg, informers.NewSharedInformerFactory(client, 0))
			if err == nil {
				c.Close()
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to say %q", err, tt.want)
			}
		})
	}
}
