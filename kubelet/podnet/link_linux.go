package podnet

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// podIfName is the pod end's name in its namespace.
const podIfName = "eth0"

// vethName is owner's host end: the same in every process, so that Remove
// finds it after a restart without any state. 44 bits of hash make a clash
// between two pods of a node unlikely; the alias catches one anyway.
func vethName(owner string) string {
	sum := sha256.Sum256([]byte(owner))
	return "veth" + hex.EncodeToString(sum[:])[:11]
}

// aliasPrefix starts the alias of every host end this network made; the
// owner follows. It tells Teardown which links are its own and Add and Remove
// whether a link of the expected name belongs to another owner.
func (n *Network) aliasPrefix() string { return "berth-pod " + n.cfg.Bridge + " " }

func (n *Network) alias(owner string) string { return n.aliasPrefix() + owner }

// bridgeMAC is a fixed, locally administered address for the bridge: with
// an address of its own the bridge never takes its lowest port's, which
// would change the gateway's address under the pods' ARP caches.
func bridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("berth bridge " + name))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// isNotFound tells whether err says a link is not there: not found by a
// lookup, or gone before a change reached it (ENODEV).
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// ipNet is a as an address on an interface in r.
func ipNet(a netip.Addr, r podRange) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: r.mask()}
}

// addrFlags keeps IPv6 addresses from waiting for duplicate address
// detection: addresses here come from the allocator, and a tentative address
// could not be used for a second or so.
func addrFlags(a netip.Addr) int {
	if a.Is6() {
		return unix.IFA_F_NODAD
	}
	return 0
}

// ensureBridge makes the bridge, with its gateway addresses, and brings it up.
func (n *Network) ensureBridge() error {
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if isNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.HardwareAddr = n.cfg.Bridge, n.cfg.MTU, bridgeMAC(n.cfg.Bridge)
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("creating bridge %s: %w", n.cfg.Bridge, err)
		}
		br, err = netlink.LinkByName(n.cfg.Bridge)
	}
	if err != nil {
		return fmt.Errorf("looking up bridge %s: %w", n.cfg.Bridge, err)
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("%w: link %s is a %s, not a bridge: choose another bridge name", ErrInvalid, n.cfg.Bridge, br.Type())
	}
	if br.Attrs().MTU != n.cfg.MTU {
		if err := netlink.LinkSetMTU(br, n.cfg.MTU); err != nil {
			return fmt.Errorf("setting MTU of bridge %s to %d: %w", n.cfg.Bridge, n.cfg.MTU, err)
		}
	}
	want := map[string]bool{}
	for _, r := range n.ranges {
		addr := &netlink.Addr{IPNet: ipNet(r.gateway, r), Flags: addrFlags(r.gateway)}
		if err := netlink.AddrReplace(br, addr); err != nil {
			return fmt.Errorf("adding gateway %s to bridge %s: %w", addr.IPNet, n.cfg.Bridge, err)
		}
		want[addr.IPNet.String()] = true
	}
	// Gateways of pod CIDRs the node no longer has.
	old, err := netlink.AddrList(br, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing addresses of bridge %s: %w", n.cfg.Bridge, err)
	}
	for _, a := range old {
		if want[a.IPNet.String()] || a.IP.IsLinkLocalUnicast() {
			continue
		}
		n.log.Info("deleting an old gateway address from the bridge", "bridge", n.cfg.Bridge, "addr", a.IPNet)
		if err := netlink.AddrDel(br, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("deleting old address %s of bridge %s: %w", a.IPNet, n.cfg.Bridge, err)
		}
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bringing bridge %s up: %w", n.cfg.Bridge, err)
	}
	return nil
}

// ensureVeth makes owner's veth pair, its pod end "eth0" in the namespace pod
// (a handle in it) opened as nsFd, unless the pair is already there. A host
// end whose peer is elsewhere (an earlier sandbox of the same pod) is
// replaced. It returns the host end and whether it made it.
func (n *Network) ensureVeth(owner string, nsFd int, pod *netlink.Handle) (netlink.Link, bool, error) {
	name := vethName(owner)
	host, err := netlink.LinkByName(name)
	switch {
	case isNotFound(err):
	case err != nil:
		return nil, false, fmt.Errorf("looking up veth %s: %w", name, err)
	default:
		if a := host.Attrs().Alias; a != "" && a != n.alias(owner) {
			return nil, false, fmt.Errorf("veth %s is in use by %q, not %q: two owners hash to the same name", name, a, n.alias(owner))
		}
		peer, err := pod.LinkByName(podIfName)
		if err == nil && peer.Type() == "veth" && peer.Attrs().ParentIndex == host.Attrs().Index {
			return host, false, nil
		}
		n.log.Info("replacing pod veth whose peer is not in the namespace", "owner", owner, "veth", name)
		if err := netlink.LinkDel(host); err != nil && !isNotFound(err) {
			return nil, false, fmt.Errorf("deleting stale veth %s: %w", name, err)
		}
	}
	if _, err := pod.LinkByName(podIfName); err == nil {
		return nil, false, fmt.Errorf("the pod's network namespace already has a %s", podIfName)
	} else if !isNotFound(err) {
		return nil, false, fmt.Errorf("looking up %s in the pod's network namespace: %w", podIfName, err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.Alias = name, n.cfg.MTU, n.alias(owner)
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: podIfName, PeerNamespace: netlink.NsFd(nsFd)}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, false, fmt.Errorf("creating veth pair %s/%s: %w", name, podIfName, err)
	}
	host, err = netlink.LinkByName(name)
	if err != nil {
		return nil, true, fmt.Errorf("looking up new veth %s: %w", name, err)
	}
	return host, true, nil
}

// attachHostEnd puts the host end on the bridge, with hairpin on so that a
// pod can reach itself through a DNAT of bridged traffic, and brings it up.
func (n *Network) attachHostEnd(host netlink.Link) error {
	br, err := netlink.LinkByName(n.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("looking up bridge %s (was Setup run?): %w", n.cfg.Bridge, err)
	}
	name := host.Attrs().Name
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMaster(host, br); err != nil {
			return fmt.Errorf("adding %s to bridge %s: %w", name, n.cfg.Bridge, err)
		}
	}
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("turning hairpin on for %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// configurePod brings the pod's loopback and eth0 up, gives eth0 the pod's
// addresses (one per range) and routes the rest through the gateways.
func (n *Network) configurePod(pod *netlink.Handle, ips []netip.Addr) error {
	for _, name := range []string{"lo", podIfName} {
		l, err := pod.LinkByName(name)
		if err != nil {
			return fmt.Errorf("looking up %s in the pod's network namespace: %w", name, err)
		}
		if err := pod.LinkSetUp(l); err != nil {
			return fmt.Errorf("bringing %s up in the pod's network namespace: %w", name, err)
		}
	}
	eth0, err := pod.LinkByName(podIfName)
	if err != nil {
		return fmt.Errorf("looking up %s in the pod's network namespace: %w", podIfName, err)
	}
	for i, ip := range ips {
		r := n.ranges[i]
		addr := &netlink.Addr{IPNet: ipNet(ip, r), Flags: addrFlags(ip)}
		if err := pod.AddrReplace(eth0, addr); err != nil {
			return fmt.Errorf("adding %s to the pod's %s: %w", addr.IPNet, podIfName, err)
		}
		bits := ip.BitLen()
		route := &netlink.Route{
			LinkIndex: eth0.Attrs().Index,
			Dst:       &net.IPNet{IP: make(net.IP, bits/8), Mask: net.CIDRMask(0, bits)},
			Gw:        r.gateway.AsSlice(),
		}
		if err := pod.RouteReplace(route); err != nil {
			return fmt.Errorf("routing the pod's traffic through %s: %w", r.gateway, err)
		}
	}
	return nil
}

// deleteVeth deletes owner's host end (and so the pod end) unless it is not
// there or another owner's.
func (n *Network) deleteVeth(owner string) error {
	name := vethName(owner)
	host, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking up veth %s: %w", name, err)
	}
	if a := host.Attrs().Alias; a != "" && a != n.alias(owner) {
		n.log.Warn("not deleting a veth of another owner", "owner", owner, "veth", name, "alias", a)
		return nil
	}
	if err := netlink.LinkDel(host); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting veth %s: %w", name, err)
	}
	return nil
}

// deleteLinks deletes every host end this network made, found by alias or
// by being on the bridge, then the bridge.
func (n *Network) deleteLinks() error {
	links, err := netlink.LinkList()
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		links, err = netlink.LinkList()
	}
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	brIndex := -1
	for _, l := range links {
		if l.Attrs().Name == n.cfg.Bridge && l.Type() == "bridge" {
			brIndex = l.Attrs().Index
		}
	}
	var errs []error
	for _, l := range links {
		a := l.Attrs()
		ours := strings.HasPrefix(a.Alias, n.aliasPrefix()) || (a.MasterIndex == brIndex && l.Type() == "veth")
		if !ours || l.Type() != "veth" {
			continue
		}
		if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting veth %s: %w", a.Name, err))
		}
	}
	if brIndex >= 0 {
		if err := netlink.LinkDel(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.cfg.Bridge, Index: brIndex}}); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting bridge %s: %w", n.cfg.Bridge, err))
		}
	}
	return errors.Join(errs...)
}
