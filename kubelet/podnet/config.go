package podnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"unicode"
)

var (
	// ErrInvalid: a Config, owner or host port was refused before anything
	// was changed.
	ErrInvalid = errors.New("invalid pod network input")
	// ErrRangeFull: a pod range has no free address left.
	ErrRangeFull = errors.New("pod address range is full")
)

// Config describes a node's pod network.
type Config struct {
	// Bridge is the node bridge's name ("berth0"; tests use unique names). It
	// also names the nftables table, "berth-<Bridge>".
	Bridge string
	// PodCIDRs are the node's pod ranges (spec.podCIDRs), at most one per
	// family: the bridge gets the first address of each as gateway, pods the
	// rest.
	PodCIDRs []*net.IPNet
	// ClusterCIDRs: traffic from pods to addresses outside these (and outside
	// the service CIDRs) is masqueraded. Empty means the PodCIDRs.
	ClusterCIDRs []*net.IPNet
	// ServiceCIDRs are the cluster's service ranges; traffic to them is never
	// masqueraded here.
	ServiceCIDRs []*net.IPNet
	// StateDir keeps IP allocations (one file per address, naming the owner)
	// so a restarted agent keeps them. The network owns the directory:
	// Teardown removes what it made there.
	StateDir string
	// MTU of the bridge and the veth pairs; 0 means the default route
	// interface's MTU, else 1500.
	MTU int
	// Log gets what the network did and what it could not; nil discards.
	Log *slog.Logger
}

// HostPort forwards a port of the node's addresses to a pod.
type HostPort struct {
	// Protocol is "TCP" (also when empty), "UDP" or "SCTP".
	Protocol string
	// HostIP limits the forward to one node address. Empty means every node
	// address of each of the pod's families; "0.0.0.0" or "::" every address
	// of that family only.
	HostIP string
	// HostPort is the node's port, ContainerPort the pod's; 1 to 65535.
	HostPort, ContainerPort int32
}

// checkLinkName refuses what the kernel would refuse as an interface name,
// and names too long to prefix the nftables table with.
func checkLinkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > 15:
		return fmt.Errorf("%q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a name", name)
	}
	for _, r := range name {
		if r == '/' || r == ':' || unicode.IsSpace(r) || r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return fmt.Errorf("%q has a character interface names cannot have (%q)", name, r)
		}
	}
	return nil
}

// checkOwner refuses owners that cannot name a state file's owner or a link
// alias: empty, too long, or with spaces or control characters.
func checkOwner(owner string) error {
	if owner == "" || len(owner) > 200 {
		return fmt.Errorf("%w: owner %q must be 1 to 200 bytes", ErrInvalid, owner)
	}
	if strings.IndexFunc(owner, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%w: owner %q has spaces or control characters", ErrInvalid, owner)
	}
	return nil
}

// hostPortRule is a checked HostPort for one of the pod's families.
type hostPortRule struct {
	proto         byte       // IPPROTO_*
	hostIP        netip.Addr // invalid: every local address
	hostPort      uint16
	containerPort uint16
	podIP         netip.Addr
}

var protocols = map[string]byte{"TCP": 6, "UDP": 17, "SCTP": 132}

// hostPortRules checks ports against the pod's addresses (one per range) and
// returns the forwards to make, one per port and family.
func hostPortRules(ports []HostPort, podIPs []netip.Addr) ([]hostPortRule, error) {
	var rules []hostPortRule
	for _, p := range ports {
		bad := func(why string) error {
			return fmt.Errorf("%w: host port %s %s:%d -> %d: %s", ErrInvalid, p.Protocol, p.HostIP, p.HostPort, p.ContainerPort, why)
		}
		name := strings.ToUpper(p.Protocol)
		if name == "" {
			name = "TCP"
		}
		proto, ok := protocols[name]
		if !ok {
			return nil, bad("protocol must be TCP, UDP or SCTP")
		}
		if p.HostPort < 1 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return nil, bad("ports must be 1 to 65535")
		}
		var hostIP netip.Addr
		if p.HostIP != "" {
			a, err := netip.ParseAddr(p.HostIP)
			if err != nil || a.Zone() != "" {
				return nil, bad("host IP is not an IP address")
			}
			hostIP = a.Unmap()
		}
		matched := false
		for _, ip := range podIPs {
			if hostIP.IsValid() && hostIP.Is4() != ip.Is4() {
				continue
			}
			r := hostPortRule{proto: proto, hostPort: uint16(p.HostPort), containerPort: uint16(p.ContainerPort), podIP: ip}
			if hostIP.IsValid() && !hostIP.IsUnspecified() {
				r.hostIP = hostIP
			}
			rules = append(rules, r)
			matched = true
		}
		if !matched {
			return nil, bad("the pod has no address of the host IP's family")
		}
	}
	return rules, nil
}
