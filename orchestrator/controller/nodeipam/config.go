package nodeipam

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"berth.dev/berth/orchestrator/controller/nodeipam/cidrset"
)

// Defaults, those of k3s (--cluster-cidr) and kube-controller-manager
// (--node-cidr-mask-size-ipv4, --node-cidr-mask-size-ipv6).
const (
	DefaultClusterCIDR      = "10.42.0.0/16"
	DefaultNodeMaskSizeIPv4 = 24
	DefaultNodeMaskSizeIPv6 = 64
)

// Config is what the controller hands out: a node CIDR of each cluster CIDR's
// family to every Node. Zero fields take the defaults.
type Config struct {
	// ClusterCIDRs is --cluster-cidr: one CIDR, or one IPv4 and one IPv6
	// (dual-stack); the first is the family of a node's spec.podCIDR.
	ClusterCIDRs []*net.IPNet
	// NodeMaskSizeIPv4 is --node-cidr-mask-size-ipv4: the prefix length of
	// each node's IPv4 CIDR.
	NodeMaskSizeIPv4 int
	// NodeMaskSizeIPv6 is --node-cidr-mask-size-ipv6.
	NodeMaskSizeIPv6 int
}

// ParseClusterCIDRs parses a --cluster-cidr value: CIDRs separated by commas.
// Host bits are dropped (10.42.0.1/16 is 10.42.0.0/16), as upstream allows them.
func ParseClusterCIDRs(value string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		_, cidr, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("--cluster-cidr: %q is not a CIDR (want e.g. %s): %w", s, DefaultClusterCIDR, err)
		}
		out = append(out, cidr)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--cluster-cidr: no CIDR in %q (want e.g. %s)", value, DefaultClusterCIDR)
	}
	return out, nil
}

// sets validates c and returns an empty set of node CIDRs per cluster CIDR, in
// the order given. Errors name the flag to fix.
func (c Config) sets() ([]*cidrset.Set, error) {
	cidrs := c.ClusterCIDRs
	if len(cidrs) == 0 {
		def, err := ParseClusterCIDRs(DefaultClusterCIDR)
		if err != nil {
			return nil, err
		}
		cidrs = def
	}
	if len(cidrs) > 2 {
		return nil, fmt.Errorf("--cluster-cidr: %d CIDRs given; give one, or one IPv4 and one IPv6 for dual-stack", len(cidrs))
	}
	v4 := maskFlag{c.NodeMaskSizeIPv4, "--node-cidr-mask-size-ipv4", 32, DefaultNodeMaskSizeIPv4}
	v6mask := maskFlag{c.NodeMaskSizeIPv6, "--node-cidr-mask-size-ipv6", 128, DefaultNodeMaskSizeIPv6}
	for _, m := range []*maskFlag{&v4, &v6mask} {
		if m.size < 0 || m.size > m.max {
			return nil, fmt.Errorf("%s: %d is not a prefix length (0 < size <= %d)", m.flag, m.size, m.max)
		}
		if m.size == 0 {
			m.size = m.def
		}
	}
	sets := make([]*cidrset.Set, 0, len(cidrs))
	var first netip.Prefix
	for i, ipnet := range cidrs {
		cluster, err := toPrefix(ipnet)
		if err != nil {
			return nil, fmt.Errorf("--cluster-cidr: %w", err)
		}
		v6 := cluster.Addr().Is6()
		if i == 1 && first.Addr().Is6() == v6 {
			return nil, fmt.Errorf("--cluster-cidr: %v and %v are of one family; dual-stack takes one IPv4 and one IPv6 CIDR", first, cluster)
		}
		first = cluster
		m := v4
		if v6 {
			m = v6mask
		}
		switch diff := m.size - cluster.Bits(); {
		case diff < 0:
			return nil, fmt.Errorf("%s: %d is shorter than the /%d of --cluster-cidr %v; a node CIDR must fit in the cluster CIDR",
				m.flag, m.size, cluster.Bits(), cluster)
		case diff > cidrset.MaxSubnetBits:
			return nil, fmt.Errorf("%s: %d splits --cluster-cidr %v into 2^%d node CIDRs, more than the 2^%d supported; use a mask of at most /%d or a cluster CIDR of /%d or longer",
				m.flag, m.size, cluster, diff, cidrset.MaxSubnetBits, cluster.Bits()+cidrset.MaxSubnetBits, m.size-cidrset.MaxSubnetBits)
		}
		set, err := cidrset.New(cluster, m.size)
		if err != nil {
			return nil, fmt.Errorf("%s with --cluster-cidr %v: %w", m.flag, cluster, err)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// maskFlag is a node mask size and the flag that set it.
type maskFlag struct {
	size int
	flag string
	max  int // address length
	def  int
}

// toPrefix converts a net.IPNet, masked; an IPv4 network written in 16 bytes
// with a 16-byte mask is IPv4.
func toPrefix(n *net.IPNet) (netip.Prefix, error) {
	if n == nil {
		return netip.Prefix{}, fmt.Errorf("a CIDR is missing (nil)")
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	ones, total := n.Mask.Size()
	if !ok || total == 0 {
		return netip.Prefix{}, fmt.Errorf("%v is not a CIDR", n)
	}
	if addr.Is4In6() {
		if total == 128 {
			if ones < 96 {
				return netip.Prefix{}, fmt.Errorf("%v is not a CIDR", n)
			}
			ones -= 96
		}
		addr = addr.Unmap()
	} else if total != addr.BitLen() {
		return netip.Prefix{}, fmt.Errorf("%v: address and mask are of different lengths", n)
	}
	return netip.PrefixFrom(addr, ones).Masked(), nil
}

// parseCIDR parses a CIDR of a Node's spec, masked.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}
