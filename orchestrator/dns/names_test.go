package dns

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestReverseAddr(t *testing.T) {
	tests := []struct {
		name string
		want string // "" for no address
	}{
		{"4.3.2.10.in-addr.arpa.", "10.2.3.4"},
		{"3.2.10.in-addr.arpa.", ""},
		{"04.3.2.10.in-addr.arpa.", ""},
		{"300.3.2.10.in-addr.arpa.", ""},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "fd00::1"},
		{"1.0.0.ip6.arpa.", ""},
		{"10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", ""},
		{"example.com.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, ok := reverseAddr(tt.name)
			got := ""
			if ok {
				got = ip.String()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDashedRoundTrip(t *testing.T) {
	for _, s := range []string{"10.244.0.5", "fd00:244::6", "2001:db8:0:1::"} {
		ip := netip.MustParseAddr(s)
		label := dashed(ip)
		if strings.ContainsAny(label, ".:") {
			t.Errorf("dashed(%s) = %q is not one label", s, label)
		}
		back, ok := undash(label)
		if !ok || back != ip {
			t.Errorf("undash(%q) = %v, %v; want %s", label, back, ok, s)
		}
	}
	for _, bad := range []string{"10-244-0", "db-0", "10-244-0-256", ""} {
		if ip, ok := undash(bad); ok {
			t.Errorf("undash(%q) = %s, want no address", bad, ip)
		}
	}
}

func TestParseResolvConf(t *testing.T) {
	const conf = `# written by the host
search example.internal
nameserver 127.0.0.53
nameserver 192.0.2.1
nameserver 2001:db8::53
options edns0 trust-ad
`
	got, err := parseResolvConf(strings.NewReader(conf))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.53:53", "192.0.2.1:53", "[2001:db8::53]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := parseResolvConf(strings.NewReader("search example.internal\n")); err == nil {
		t.Error("a resolv.conf without nameservers parsed")
	}
}

func TestUpstreamsDropOwnAddress(t *testing.T) {
	ups, err := normalizeUpstreams([]string{"10.0.0.5", "10.0.0.5:5353", "192.0.2.1:53"})
	if err != nil {
		t.Fatal(err)
	}
	own := []net.Addr{
		&net.UDPAddr{IP: net.ParseIP("10.0.0.5"), Port: 53},
		&net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 53},
	}
	got := dropLoops(ups, own)
	want := []string{"10.0.0.5:5353", "192.0.2.1:53"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestClientsAllowed(t *testing.T) {
	_, pods, _ := net.ParseCIDR("10.42.0.0/16")
	h := &handler{clients: []*net.IPNet{pods}}
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.UDPAddr{IP: net.ParseIP("10.42.3.7"), Port: 5353}, true},
		{&net.TCPAddr{IP: net.ParseIP("10.42.0.2"), Port: 40000}, true},
		{&net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5353}, true},
		{&net.UDPAddr{IP: net.ParseIP("192.0.2.9"), Port: 5353}, false},
		{&net.TCPAddr{IP: net.ParseIP("10.43.0.1"), Port: 40000}, false},
	} {
		if got := h.allowed(tc.addr); got != tc.want {
			t.Errorf("allowed(%v) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if !(&handler{}).allowed(&net.UDPAddr{IP: net.ParseIP("192.0.2.9")}) {
		t.Error("without Clients every client must be answered")
	}
}
