package podnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Setup makes the node's side of the network, or brings it back to what the
// Config says: the bridge up with the gateway addresses, IP forwarding on,
// bridge netfilter on (when the kernel has it) so that replies bridged
// between two pods pass conntrack, and the nftables table. It keeps the pods
// Add set up and their host ports.
func (n *Network) Setup(ctx context.Context) error {
	fail := func(err error) error { return fmt.Errorf("setting up pod network %s: %w", n.cfg.Bridge, err) }
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	if err := n.ensureBridge(); err != nil {
		return fail(err)
	}
	// route_localnet on the bridge only: kube-proxy DNATs the node's own
	// connections to 127.0.0.1:<nodePort> to pods, and the kernel lets a
	// packet from 127.0.0.1 out of an interface only with it. kube-proxy
	// drops what it would let in from outside (CVE-2020-8558).
	sysctls := []string{"net/ipv4/ip_forward", "net/ipv4/conf/" + n.cfg.Bridge + "/route_localnet"}
	for _, r := range n.ranges {
		if r.prefix.Addr().Is6() {
			sysctls = append(sysctls, "net/ipv6/conf/all/forwarding")
		}
	}
	for _, s := range sysctls {
		if err := setSysctl(s, "1"); err != nil {
			return fail(err)
		}
	}
	for _, s := range []string{"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"} {
		err := setSysctl(s, "1")
		if errors.Is(err, fs.ErrNotExist) {
			n.log.Warn("bridge netfilter is not loaded (modprobe br_netfilter): pods on this node cannot reach each other through services or host ports", "sysctl", s)
			break
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := n.setupTable(); err != nil {
		return fail(err)
	}
	n.log.Info("pod network set up", "bridge", n.cfg.Bridge, "podCIDRs", n.prefixes(), "mtu", n.cfg.MTU, "table", "inet "+n.tableName())
	return nil
}

// Add connects the pod owner, whose network namespace is at netnsPath, to the
// bridge, and forwards hostPorts to it; it returns the pod's addresses, one
// per pod CIDR in their order. Calling it again for the same owner returns
// the same addresses, mends what is missing and replaces the host ports; a
// namespace other than the one set up before (a new sandbox of the same pod)
// gets a new veth pair with the same addresses. Bad input changes nothing.
func (n *Network) Add(ctx context.Context, owner, netnsPath string, hostPorts []HostPort) (_ []net.IP, retErr error) {
	fail := func(err error) ([]net.IP, error) {
		return nil, fmt.Errorf("adding pod %s to network %s: %w", owner, n.cfg.Bridge, err)
	}
	if err := checkOwner(owner); err != nil {
		return fail(err)
	}
	// A check against addresses of the right families, before any is taken.
	if _, err := hostPortRules(hostPorts, n.gateways()); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	defer n.owners.lock(owner)()

	nsFile, err := os.Open(netnsPath)
	if err != nil {
		return fail(fmt.Errorf("opening network namespace: %w", err))
	}
	defer nsFile.Close()
	pod, err := netlink.NewHandleAt(netns.NsHandle(int(nsFile.Fd())))
	if err != nil {
		return fail(fmt.Errorf("opening netlink in network namespace %s: %w", netnsPath, err))
	}
	defer pod.Close()

	ips, fresh, err := n.ipam.allocate(owner)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if retErr != nil && fresh {
			if _, err := n.ipam.release(owner); err != nil {
				n.log.Error("releasing addresses of a pod that could not be added", "owner", owner, "err", err)
			}
		}
	}()
	host, made, err := n.ensureVeth(owner, int(nsFile.Fd()), pod)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if retErr != nil && made {
			if err := n.deleteVeth(owner); err != nil {
				n.log.Error("deleting the veth of a pod that could not be added", "owner", owner, "err", err)
			}
		}
	}()
	if err := n.attachHostEnd(host); err != nil {
		return fail(err)
	}
	if err := n.configurePod(pod, ips); err != nil {
		return fail(err)
	}
	rules, err := hostPortRules(hostPorts, ips)
	if err != nil {
		return fail(err)
	}
	if err := n.setOwnerRules(owner, rules); err != nil {
		return fail(err)
	}
	n.forgetUDPFlows(rules)
	out := make([]net.IP, len(ips))
	for i, ip := range ips {
		out[i] = ip.AsSlice()
	}
	n.log.Info("pod added to network", "owner", owner, "ips", ips, "veth", host.Attrs().Name, "hostPorts", len(hostPorts), "new", made)
	return out, nil
}

// Remove undoes Add for owner: its host port rules, its veth pair (when its
// namespace still exists) and its addresses, in that order, so an address is
// free only once nothing routes to it. It needs no state of this process and
// nothing of owner to be left; removing an owner twice is not an error.
func (n *Network) Remove(ctx context.Context, owner string) error {
	fail := func(err error) error {
		return fmt.Errorf("removing pod %s from network %s: %w", owner, n.cfg.Bridge, err)
	}
	if err := checkOwner(owner); err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	defer n.owners.lock(owner)()
	if err := n.setOwnerRules(owner, nil); err != nil {
		return fail(err)
	}
	if err := n.deleteVeth(owner); err != nil {
		return fail(err)
	}
	freed, err := n.ipam.release(owner)
	if err != nil {
		return fail(err)
	}
	n.log.Info("pod removed from network", "owner", owner, "freed", freed)
	return nil
}

// Teardown deletes everything Setup and Add made: the pods' veth pairs, the
// bridge, the nftables table and the address state. The sysctls stay on.
// Nothing else may use the network meanwhile.
func (n *Network) Teardown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tearing down pod network %s: %w", n.cfg.Bridge, err)
	}
	var errs []error
	if err := n.deleteTable(); err != nil {
		errs = append(errs, err)
	}
	if err := n.deleteLinks(); err != nil {
		errs = append(errs, err)
	}
	if err := n.ipam.removeAll(); err != nil {
		errs = append(errs, fmt.Errorf("removing address state: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tearing down pod network %s: %w", n.cfg.Bridge, err)
	}
	n.log.Info("pod network torn down", "bridge", n.cfg.Bridge)
	return nil
}

// forgetUDPFlows deletes the conntrack entries of datagrams sent to the UDP
// host ports in rules. Until they time out (and a client that keeps sending
// keeps them alive) they would carry on to whatever the port led to before,
// such as the address of a pod that is gone, rather than meet the new DNAT.
// A failure is only logged: the entries end by themselves.
func (n *Network) forgetUDPFlows(rules []hostPortRule) {
	for _, r := range rules {
		if r.proto != unix.IPPROTO_UDP {
			continue
		}
		family := netlink.InetFamily(unix.AF_INET6)
		if r.podIP.Is4() {
			family = unix.AF_INET
		}
		filter := &netlink.ConntrackFilter{}
		err := filter.AddProtocol(unix.IPPROTO_UDP)
		if err == nil {
			err = filter.AddPort(netlink.ConntrackOrigDstPort, r.hostPort)
		}
		if err == nil {
			_, err = netlink.ConntrackDeleteFilters(netlink.ConntrackTable, family, filter)
		}
		if err != nil {
			n.log.Warn("could not delete conntrack entries of a UDP host port", "port", r.hostPort, "err", err)
		}
	}
}

// setSysctl writes value to /proc/sys/name unless it holds it already.
func setSysctl(name, value string) error {
	path := "/proc/sys/" + name
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading sysctl %s: %w", name, err)
	}
	if string(bytes.TrimSpace(old)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting sysctl %s to %s: %w", name, value, err)
	}
	return nil
}

// defaultMTU is the MTU of the IPv4 default route's interface (else the IPv6
// one's), or 1500.
func defaultMTU() int {
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteList(nil, family)
		if err != nil {
			continue
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU >= 1280 {
				return l.Attrs().MTU
			}
		}
	}
	return 1500
}

// gateways is one address per range, standing in for a pod's addresses
// where only their families matter.
func (n *Network) gateways() []netip.Addr {
	var out []netip.Addr
	for _, r := range n.ranges {
		out = append(out, r.gateway)
	}
	return out
}

func (n *Network) prefixes() []string {
	var out []string
	for _, r := range n.ranges {
		out = append(out, r.prefix.String())
	}
	return out
}

// Clean deletes the veth pairs, the bridge and the nftables table of the
// network on bridge without knowing its ranges, for `berth killall` after the
// agent is gone. The address state stays: an agent started again hands the
// same addresses back to the same pods.
func Clean(bridge string) error {
	if err := checkLinkName(bridge); err != nil {
		return fmt.Errorf("cleaning pod network: %w: bridge name: %v", ErrInvalid, err)
	}
	n := &Network{cfg: Config{Bridge: bridge}, log: slog.New(slog.DiscardHandler)}
	return errors.Join(n.deleteTable(), n.deleteLinks())
}
