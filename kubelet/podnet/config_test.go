package podnet

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

func TestNewRefusesBadConfig(t *testing.T) {
	good := func() Config {
		return Config{Bridge: "berth0", PodCIDRs: []*net.IPNet{mustCIDR(t, "10.244.1.0/24")}, StateDir: t.TempDir(), MTU: 1500}
	}
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no bridge", func(c *Config) { c.Bridge = "" }},
		{"long bridge", func(c *Config) { c.Bridge = "berth0123456789ab" }},
		{"bridge with slash", func(c *Config) { c.Bridge = "br/0" }},
		{"bridge with space", func(c *Config) { c.Bridge = "br 0" }},
		{"no pod CIDR", func(c *Config) { c.PodCIDRs = nil }},
		{"two IPv4 pod CIDRs", func(c *Config) { c.PodCIDRs = append(c.PodCIDRs, mustCIDR(t, "10.245.0.0/24")) }},
		{"pod CIDR too small", func(c *Config) { c.PodCIDRs = []*net.IPNet{mustCIDR(t, "10.244.1.0/31")} }},
		{"nil pod CIDR", func(c *Config) { c.PodCIDRs = []*net.IPNet{nil} }},
		{"nil service CIDR", func(c *Config) { c.ServiceCIDRs = []*net.IPNet{nil} }},
		{"no state dir", func(c *Config) { c.StateDir = "" }},
		{"tiny MTU", func(c *Config) { c.MTU = 500 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.change(&cfg)
			if n, err := New(cfg); !errors.Is(err, ErrInvalid) {
				t.Errorf("New = %v, %v; want ErrInvalid", n, err)
			}
		})
	}
	t.Run("good", func(t *testing.T) {
		cfg := good()
		cfg.PodCIDRs = append(cfg.PodCIDRs, mustCIDR(t, "fd00:10:244:1::/64"))
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// No cluster CIDRs: the pod CIDRs are the cluster.
		if len(n.cluster) != 2 || n.cluster[0].String() != "10.244.1.0/24" || n.cluster[1].String() != "fd00:10:244:1::/64" {
			t.Errorf("cluster = %v, want the pod CIDRs", n.cluster)
		}
	})
}

func TestHostPortRules(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.244.1.5"), netip.MustParseAddr("fd00::5")
	both := []netip.Addr{v4, v6}
	tests := []struct {
		name  string
		ports []HostPort
		ips   []netip.Addr
		want  []hostPortRule
		err   bool
	}{
		{name: "every family", ports: []HostPort{{HostPort: 8080, ContainerPort: 80}}, ips: both, want: []hostPortRule{
			{proto: 6, hostPort: 8080, containerPort: 80, podIP: v4},
			{proto: 6, hostPort: 8080, containerPort: 80, podIP: v6},
		}},
		{name: "host IP picks the family", ports: []HostPort{{Protocol: "udp", HostIP: "192.0.2.2", HostPort: 53, ContainerPort: 5353}}, ips: both, want: []hostPortRule{
			{proto: 17, hostIP: netip.MustParseAddr("192.0.2.2"), hostPort: 53, containerPort: 5353, podIP: v4},
		}},
		{name: "unspecified host IP is every address of its family", ports: []HostPort{{Protocol: "SCTP", HostIP: "::", HostPort: 9, ContainerPort: 9}}, ips: both, want: []hostPortRule{
			{proto: 132, hostPort: 9, containerPort: 9, podIP: v6},
		}},
		{name: "no address of the host IP's family", ports: []HostPort{{HostIP: "fd00::1", HostPort: 1, ContainerPort: 1}}, ips: []netip.Addr{v4}, err: true},
		{name: "bad protocol", ports: []HostPort{{Protocol: "ICMP", HostPort: 1, ContainerPort: 1}}, ips: both, err: true},
		{name: "port 0", ports: []HostPort{{HostPort: 0, ContainerPort: 1}}, ips: both, err: true},
		{name: "port too big", ports: []HostPort{{HostPort: 1, ContainerPort: 65536}}, ips: both, err: true},
		{name: "bad host IP", ports: []HostPort{{HostIP: "node-1", HostPort: 1, ContainerPort: 1}}, ips: both, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hostPortRules(tc.ports, tc.ips)
			if tc.err {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("hostPortRules = %v, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestCheckOwner(t *testing.T) {
	for _, owner := range []string{"", "a b", "a\nb", string(make([]byte, 201))} {
		if err := checkOwner(owner); !errors.Is(err, ErrInvalid) {
			t.Errorf("checkOwner(%q) = %v, want ErrInvalid", owner, err)
		}
	}
	if err := checkOwner("3f0c9a52-6b1e-4c8e-9d4f-2a7b1c0e5d6f"); err != nil {
		t.Errorf("a pod UID was refused: %v", err)
	}
}
