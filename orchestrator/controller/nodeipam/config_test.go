package nodeipam

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func cidrs(t *testing.T, s ...string) []*net.IPNet {
	t.Helper()
	var out []*net.IPNet
	for _, c := range s {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		flag string // the flag the error must name
		hint string // and a piece of the explanation
	}{
		{"three cluster CIDRs", Config{ClusterCIDRs: cidrs(t, "10.42.0.0/16", "fd00:42::/56", "10.43.0.0/16")}, "--cluster-cidr", "3 CIDRs"},
		{"two IPv4 cluster CIDRs", Config{ClusterCIDRs: cidrs(t, "10.42.0.0/16", "10.43.0.0/16")}, "--cluster-cidr", "one IPv4 and one IPv6"},
		{"two IPv6 cluster CIDRs", Config{ClusterCIDRs: cidrs(t, "fd00:1::/56", "fd00:2::/56")}, "--cluster-cidr", "one IPv4 and one IPv6"},
		{"missing cluster CIDR", Config{ClusterCIDRs: []*net.IPNet{nil}}, "--cluster-cidr", "missing"},
		{"IPv4 mask past 32", Config{NodeMaskSizeIPv4: 33}, "--node-cidr-mask-size-ipv4", "not a prefix length"},
		{"negative IPv6 mask", Config{NodeMaskSizeIPv6: -1}, "--node-cidr-mask-size-ipv6", "not a prefix length"},
		{"IPv4 mask shorter than the cluster", Config{ClusterCIDRs: cidrs(t, "10.42.0.0/16"), NodeMaskSizeIPv4: 15}, "--node-cidr-mask-size-ipv4", "shorter than the /16"},
		{"too many IPv4 node CIDRs", Config{ClusterCIDRs: cidrs(t, "10.0.0.0/8"), NodeMaskSizeIPv4: 26}, "--node-cidr-mask-size-ipv4", "2^18 node CIDRs"},
		{"too many IPv6 node CIDRs by default", Config{ClusterCIDRs: cidrs(t, "10.42.0.0/16", "fd00::/32")}, "--node-cidr-mask-size-ipv6", "/48 or longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			c, err := New(client, informers.NewSharedInformerFactory(client, 0), record.NewFakeRecorder(1), tc.cfg)
			if err == nil {
				t.Fatal("New accepted the config")
			}
			if c != nil {
				t.Fatal("New returned a controller with its error")
			}
			if !strings.Contains(err.Error(), tc.flag) || !strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("error %q does not name %s and say %q", err, tc.flag, tc.hint)
			}
		})
	}
}

func TestConfigAccepted(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // cluster CIDR and node mask of each set, in order
	}{
		{"zero is the defaults", Config{}, []string{"10.42.0.0/16 /24"}},
		{"dual-stack with default masks", Config{ClusterCIDRs: cidrs(t, "10.42.0.0/16", "fd00:42::/56")}, []string{"10.42.0.0/16 /24", "fd00:42::/56 /64"}},
		{"IPv6 first", Config{ClusterCIDRs: cidrs(t, "fd00:42::/56", "10.42.0.0/16"), NodeMaskSizeIPv4: 20, NodeMaskSizeIPv6: 60}, []string{"fd00:42::/56 /60", "10.42.0.0/16 /20"}},
		{"one node CIDR: the whole cluster CIDR", Config{ClusterCIDRs: cidrs(t, "192.168.7.0/24")}, []string{"192.168.7.0/24 /24"}},
		{"largest IPv4 split", Config{ClusterCIDRs: cidrs(t, "10.0.0.0/8")}, []string{"10.0.0.0/8 /24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sets, err := tc.cfg.sets()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range sets {
				got = append(got, fmt.Sprintf("%v /%d", s.Cluster(), s.NodeMaskSize()))
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("sets %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseClusterCIDRs(t *testing.T) {
	got, err := ParseClusterCIDRs(" 10.42.0.1/16, fd00:42::/56 ")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].String() != "10.42.0.0/16" || got[1].String() != "fd00:42::/56" {
		t.Fatalf("parsed %v", got)
	}
	for _, bad := range []string{"", " , ", "10.42.0.0", "10.42.0.0/16,banana"} {
		if _, err := ParseClusterCIDRs(bad); err == nil || !strings.Contains(err.Error(), "--cluster-cidr") {
			t.Errorf("ParseClusterCIDRs(%q) = %v, want an error naming --cluster-cidr", bad, err)
		}
	}
}
