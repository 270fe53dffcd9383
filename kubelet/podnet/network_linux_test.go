package podnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func TestVethName(t *testing.T) {
	a, b := vethName("3f0c9a52-6b1e-4c8e-9d4f-2a7b1c0e5d6f"), vethName("3f0c9a52-6b1e-4c8e-9d4f-2a7b1c0e5d70")
	if a != vethName("3f0c9a52-6b1e-4c8e-9d4f-2a7b1c0e5d6f") {
		t.Error("vethName is not deterministic")
	}
	if a == b || len(a) != 15 || !strings.HasPrefix(a, "veth") {
		t.Errorf("vethName gave %q and %q; want distinct 15-byte veth names", a, b)
	}
}

func TestPodsReachEachOtherAndTheHost(t *testing.T) {
	f := newFixture(t)
	podA, podB := newTestPod(t), newTestPod(t)
	a4, a6 := f.add(t, f.cfg.Bridge+"-a", podA)
	b4, b6 := f.add(t, f.cfg.Bridge+"-b", podB)
	if a4 == b4 || a6 == b6 {
		t.Fatalf("both pods got %s, %s / %s, %s", a4, a6, b4, b6)
	}
	bPort, _ := listen(t, podB, "b", false)
	hostPort, _ := listen(t, nil, "host", false)

	tests := []struct {
		name string
		from *testPod
		to   netip.AddrPort
		want string
	}{
		// Within the cluster nothing is masqueraded: B sees A's address.
		{"pod to pod IPv4", podA, netip.AddrPortFrom(b4, uint16(bPort)), "b " + a4.String()},
		{"pod to pod IPv6", podA, netip.AddrPortFrom(b6, uint16(bPort)), "b " + a6.String()},
		{"host to pod", nil, netip.AddrPortFrom(b4, uint16(bPort)), "b " + f.v4.gateway.String()},
		{"pod to gateway IPv4", podA, netip.AddrPortFrom(f.v4.gateway, uint16(hostPort)), "host " + a4.String()},
		{"pod to gateway IPv6", podB, netip.AddrPortFrom(f.v6.gateway, uint16(hostPort)), "host " + b6.String()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustAsk(t, tc.from, "tcp", tc.to); got != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("pod side", func(t *testing.T) {
		eth0 := podA.links(t)[podIfName]
		if eth0 == nil || eth0.Type() != "veth" || eth0.Attrs().MTU != f.net.cfg.MTU {
			t.Fatalf("pod's eth0 = %+v, want a veth with MTU %d", eth0, f.net.cfg.MTU)
		}
		host, err := netlink.LinkByName(vethName(f.cfg.Bridge + "-a"))
		if err != nil {
			t.Fatal(err)
		}
		br, err := netlink.LinkByName(f.cfg.Bridge)
		if err != nil {
			t.Fatal(err)
		}
		if host.Attrs().MasterIndex != br.Attrs().Index || eth0.Attrs().ParentIndex != host.Attrs().Index {
			t.Errorf("host end %s: master %d, peer of eth0 %d; want the bridge %d and the host end %d",
				host.Attrs().Name, host.Attrs().MasterIndex, eth0.Attrs().ParentIndex, br.Attrs().Index, host.Attrs().Index)
		}
		if pi, err := netlink.LinkGetProtinfo(host); err != nil || !pi.Hairpin {
			t.Errorf("hairpin on %s: %+v, %v; want it on", host.Attrs().Name, pi, err)
		}
	})

	t.Run("Add again is the same", func(t *testing.T) {
		before, err := netlink.LinkByName(vethName(f.cfg.Bridge + "-a"))
		if err != nil {
			t.Fatal(err)
		}
		again4, again6 := f.add(t, f.cfg.Bridge+"-a", podA)
		if again4 != a4 || again6 != a6 {
			t.Errorf("second Add gave %s, %s; want %s, %s", again4, again6, a4, a6)
		}
		after, err := netlink.LinkByName(vethName(f.cfg.Bridge + "-a"))
		if err != nil {
			t.Fatal(err)
		}
		if after.Attrs().Index != before.Attrs().Index {
			t.Errorf("second Add replaced the veth (index %d, then %d)", before.Attrs().Index, after.Attrs().Index)
		}
		if got := mustAsk(t, podA, "tcp", netip.AddrPortFrom(b4, uint16(bPort))); got != "b "+a4.String() {
			t.Errorf("after the second Add: answer %q", got)
		}
	})

	t.Run("Setup again keeps the pods", func(t *testing.T) {
		if err := f.net.Setup(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if got := mustAsk(t, podA, "tcp", netip.AddrPortFrom(b6, uint16(bPort))); got != "b "+a6.String() {
			t.Errorf("after the second Setup: answer %q", got)
		}
	})
}

func TestRemove(t *testing.T) {
	f := newFixture(t)
	podA, podB := newTestPod(t), newTestPod(t)
	ownerA, ownerB := f.cfg.Bridge+"-a", f.cfg.Bridge+"-b"
	a4, _ := f.add(t, ownerA, podA)
	f.add(t, ownerB, podB)

	if err := f.net.Remove(ctxT(t), ownerA); err != nil {
		t.Fatal(err)
	}
	if linkExists(t, vethName(ownerA)) {
		t.Errorf("host veth %s is still there", vethName(ownerA))
	}
	if _, ok := podA.links(t)[podIfName]; ok {
		t.Error("the pod still has its eth0")
	}
	all, err := f.net.Allocations()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := all[ownerA]; ok || len(all[ownerB]) != 2 {
		t.Errorf("allocations after Remove = %v; want only %s's", all, ownerB)
	}
	if _, err := os.Stat(filepath.Join(f.net.ipam.rangeDir(f.v4), a4.String())); !os.IsNotExist(err) {
		t.Errorf("state file of %s: %v, want it gone", a4, err)
	}
	if err := f.net.Remove(ctxT(t), ownerA); err != nil {
		t.Errorf("removing again: %v", err)
	}
	if err := f.net.Remove(ctxT(t), f.cfg.Bridge+"-never-added"); err != nil {
		t.Errorf("removing an unknown owner: %v", err)
	}

	t.Run("namespace gone", func(t *testing.T) {
		podB.close()
		if err := f.net.Remove(ctxT(t), ownerB); err != nil {
			t.Fatal(err)
		}
		if linkExists(t, vethName(ownerB)) {
			t.Errorf("host veth %s is still there", vethName(ownerB))
		}
		if all, err := f.net.Allocations(); err != nil || len(all) != 0 {
			t.Errorf("allocations = %v, %v; want none", all, err)
		}
	})
}

func TestStateSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	podA, podB := newTestPod(t), newTestPod(t)
	ownerA := f.cfg.Bridge + "-a"
	a4, a6 := f.add(t, ownerA, podA)

	// A restarted agent: a new Network over the same state directory.
	restarted, err := New(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.Setup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	ips, err := restarted.Add(ctxT(t), ownerA, podA.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g4, g6 := addrs(t, ips); g4 != a4 || g6 != a6 {
		t.Errorf("after restart %s got %s, %s; want %s, %s", ownerA, g4, g6, a4, a6)
	}
	ipsB, err := restarted.Add(ctxT(t), f.cfg.Bridge+"-b", podB.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b4, b6 := addrs(t, ipsB); b4 == a4 || b6 == a6 {
		t.Errorf("a new pod got %s's addresses %s, %s", ownerA, b4, b6)
	}

	t.Run("new sandbox of the same pod", func(t *testing.T) {
		podA2 := newTestPod(t)
		ips, err := restarted.Add(ctxT(t), ownerA, podA2.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g4, g6 := addrs(t, ips); g4 != a4 || g6 != a6 {
			t.Errorf("new sandbox got %s, %s; want %s, %s", g4, g6, a4, a6)
		}
		if _, ok := podA.links(t)[podIfName]; ok {
			t.Error("the old sandbox still has an eth0")
		}
		port, _ := listen(t, podA2, "a2", false)
		if got := mustAsk(t, podB, "tcp", netip.AddrPortFrom(a4, uint16(port))); !strings.HasPrefix(got, "a2 ") {
			t.Errorf("answer %q, want the new sandbox's", got)
		}
	})

	if err := restarted.Remove(ctxT(t), ownerA); err != nil {
		t.Fatal(err)
	}
	if linkExists(t, vethName(ownerA)) {
		t.Errorf("the restarted network left veth %s", vethName(ownerA))
	}
}

func TestHostPorts(t *testing.T) {
	f := newFixture(t)
	podA, podB := newTestPod(t), newTestPod(t)
	ownerB := f.cfg.Bridge + "-b"
	a4, _ := f.add(t, f.cfg.Bridge+"-a", podA)
	tcpPort, udpPort := listen(t, podB, "b", true)
	anyTCP, anyUDP, gwOnly := freeHostPort(t, "tcp"), freeHostPort(t, "udp"), freeHostPort(t, "tcp")
	b4, _ := f.add(t, ownerB, podB,
		HostPort{HostPort: int32(anyTCP), ContainerPort: int32(tcpPort)},
		HostPort{Protocol: "UDP", HostPort: int32(anyUDP), ContainerPort: int32(udpPort)},
		HostPort{HostIP: f.v4.gateway.String(), HostPort: int32(gwOnly), ContainerPort: int32(tcpPort)},
	)
	node := nodeAddr(t, f)
	gw4, gw6 := f.v4.gateway, f.v6.gateway

	tests := []struct {
		name    string
		from    *testPod
		network string
		to      netip.AddrPort
		want    string // the answer's prefix; "" for refused or unanswered
	}{
		{"host to node address", nil, "tcp", netip.AddrPortFrom(node, anyTCP), "b "},
		{"host to gateway", nil, "tcp", netip.AddrPortFrom(gw4, anyTCP), "b "},
		{"host to IPv6 gateway", nil, "tcp", netip.AddrPortFrom(gw6, anyTCP), "b "},
		{"host over UDP", nil, "udp", netip.AddrPortFrom(node, anyUDP), "b "},
		// From another pod the DNAT is in prerouting, and the reply is
		// bridged: bridge netfilter undoes the DNAT. No masquerade.
		{"other pod to node address", podA, "tcp", netip.AddrPortFrom(node, anyTCP), "b " + a4.String()},
		// A pod reaching its own host port is masqueraded to the gateway.
		{"hairpin", podB, "tcp", netip.AddrPortFrom(node, anyTCP), "b " + gw4.String()},
		{"host IP port on its IP", nil, "tcp", netip.AddrPortFrom(gw4, gwOnly), "b "},
		{"host IP port on another address", nil, "tcp", netip.AddrPortFrom(node, gwOnly), ""},
	}
	if node == gw4 {
		t.Log("the host has no IPv4 address besides the test bridge's; node address cases use the gateway")
		tests = tests[:len(tests)-1]
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ask(tc.from, tc.network, tc.to)
			if tc.want == "" {
				if err == nil {
					t.Errorf("answer %q, want none", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s to %s: %v", tc.network, tc.to, err)
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("answer %q, want %q...", got, tc.want)
			}
		})
	}

	t.Run("Add again replaces the ports", func(t *testing.T) {
		moved := freeHostPort(t, "tcp")
		ips, err := f.net.Add(ctxT(t), ownerB, podB.path, []HostPort{{HostPort: int32(moved), ContainerPort: int32(tcpPort)}})
		if err != nil {
			t.Fatal(err)
		}
		if g4, _ := addrs(t, ips); g4 != b4 {
			t.Errorf("Add again gave %s, want %s", g4, b4)
		}
		if got := mustAsk(t, nil, "tcp", netip.AddrPortFrom(node, moved)); !strings.HasPrefix(got, "b ") {
			t.Errorf("new port: answer %q", got)
		}
		if got, err := ask(nil, "tcp", netip.AddrPortFrom(node, anyTCP)); err == nil {
			t.Errorf("old port still answers %q", got)
		}
	})

	t.Run("Remove deletes the rules", func(t *testing.T) {
		if err := f.net.Remove(ctxT(t), ownerB); err != nil {
			t.Fatal(err)
		}
		c, err := nftables.New()
		if err != nil {
			t.Fatal(err)
		}
		rules, err := f.net.ownerRules(c, ownerB)
		if err != nil {
			t.Fatal(err)
		}
		if len(rules) != 0 {
			t.Errorf("%d rules of %s left", len(rules), ownerB)
		}
	})
}

func TestMasqueradeLeavingTheCluster(t *testing.T) {
	f := newFixture(t)
	pod := newTestPod(t)
	p4, p6 := f.add(t, f.cfg.Bridge+"-a", pod)

	// "Outside": a namespace reached from the host over a veth pair of its
	// own, like a machine beyond the node's uplink.
	outside := newTestPod(t)
	out4 := freePrefix(t, random4(t, 30))
	out6 := freePrefix(t, random6(t))
	hostEnd := f.cfg.Bridge + "o"
	nsFile, err := os.Open(outside.path)
	if err != nil {
		t.Fatal(err)
	}
	defer nsFile.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostEnd
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(nsFile.Fd()))}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(hostEnd); err == nil {
			_ = netlink.LinkDel(l)
		}
	})
	h, err := netlink.NewHandleAt(netns.NsHandle(int(nsFile.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	host4, far4 := out4.Addr().Next(), out4.Addr().Next().Next()
	host6, far6 := out6.Addr().Next(), out6.Addr().Next().Next()
	configure := func(h *netlink.Handle, name string, addrs ...netip.Addr) {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range addrs {
			p := []netip.Prefix{out4, out6}[i]
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(p.Bits(), a.BitLen())}, Flags: addrFlags(a)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	hostH, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer hostH.Close()
	configure(hostH, hostEnd, host4, host6)
	configure(h, "eth0", far4, far6)
	port, _ := listen(t, outside, "outside", false)

	for _, tc := range []struct {
		name      string
		to        netip.Addr
		want, pod netip.Addr
	}{
		{"IPv4", far4, host4, p4},
		{"IPv6", far6, host6, p6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustAsk(t, pod, "tcp", netip.AddrPortFrom(tc.to, uint16(port)))
			if got != "outside "+tc.want.String() {
				t.Errorf("answer %q, want the host's address %s (the pod is %s)", got, tc.want, tc.pod)
			}
		})
	}
}

func TestAddRefusesBadInputAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	pod := newTestPod(t)
	owner := f.cfg.Bridge + "-a"
	tests := []struct {
		name  string
		owner string
		path  string
		ports []HostPort
		want  error
	}{
		{"bad protocol", owner, pod.path, []HostPort{{Protocol: "ICMP", HostPort: 1, ContainerPort: 1}}, ErrInvalid},
		{"bad port", owner, pod.path, []HostPort{{HostPort: 70000, ContainerPort: 1}}, ErrInvalid},
		{"bad owner", "a b", pod.path, nil, ErrInvalid},
		{"no namespace", owner, filepath.Join(t.TempDir(), "missing"), nil, os.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.net.Add(ctxT(t), tc.owner, tc.path, tc.ports); !errors.Is(err, tc.want) {
				t.Fatalf("Add = %v, want %v", err, tc.want)
			}
			if all, err := f.net.Allocations(); err != nil || len(all) != 0 {
				t.Errorf("allocations = %v, %v; want none", all, err)
			}
			if linkExists(t, vethName(tc.owner)) {
				t.Errorf("veth %s was made", vethName(tc.owner))
			}
		})
	}
	t.Run("namespace with an eth0", func(t *testing.T) {
		taken := newTestPod(t)
		var err error
		taken.do(func() {
			attrs := netlink.NewLinkAttrs()
			attrs.Name = podIfName
			err = netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "other"})
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.net.Add(ctxT(t), owner, taken.path, nil); err == nil {
			t.Fatal("Add into a namespace that has an eth0 succeeded")
		}
		if all, err := f.net.Allocations(); err != nil || len(all) != 0 {
			t.Errorf("allocations = %v, %v; want none", all, err)
		}
	})
}

func TestTeardownLeavesNothing(t *testing.T) {
	f := newFixture(t)
	pods := []*testPod{newTestPod(t), newTestPod(t)}
	for i, p := range pods {
		f.add(t, fmt.Sprintf("%s-%d", f.cfg.Bridge, i), p, HostPort{HostPort: int32(freeHostPort(t, "tcp")), ContainerPort: 80})
	}
	if err := f.net.Teardown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if linkExists(t, f.cfg.Bridge) {
		t.Error("the bridge is still there")
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Alias, f.net.aliasPrefix()) {
			t.Errorf("veth %s is still there", l.Attrs().Name)
		}
	}
	for i, p := range pods {
		if _, ok := p.links(t)[podIfName]; ok {
			t.Errorf("pod %d still has an eth0", i)
		}
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.net.tableExists(c); err != nil || ok {
		t.Errorf("table inet %s exists: %v, %v", f.net.tableName(), ok, err)
	}
	if _, err := os.Stat(f.cfg.StateDir); !os.IsNotExist(err) {
		t.Errorf("state directory: %v, want it gone", err)
	}
	if err := f.net.Teardown(ctxT(t)); err != nil {
		t.Errorf("second Teardown: %v", err)
	}
}

func TestUDPHostPortMovesToANewPod(t *testing.T) {
	f := newFixture(t)
	old, next := newTestPod(t), newTestPod(t)
	_, oldPort := listen(t, old, "old", true)
	_, nextPort := listen(t, next, "next", true)
	hostPort := freeHostPort(t, "udp")
	node := nodeAddr(t, f)
	f.add(t, f.cfg.Bridge+"-old", old, HostPort{Protocol: "UDP", HostPort: int32(hostPort), ContainerPort: int32(oldPort)})

	// One client socket throughout, as a resolver that keeps asking: its
	// datagrams share one conntrack entry until it is deleted.
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(node, hostPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func() (string, error) {
		if _, err := c.Write([]byte("hello")); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		return strings.TrimSpace(string(buf[:n])), err
	}
	if got, err := exchange(); err != nil || !strings.HasPrefix(got, "old ") {
		t.Fatalf("first datagram: %q, %v; want the old pod's answer", got, err)
	}
	if err := f.net.Remove(ctxT(t), f.cfg.Bridge+"-old"); err != nil {
		t.Fatal(err)
	}
	f.add(t, f.cfg.Bridge+"-next", next, HostPort{Protocol: "UDP", HostPort: int32(hostPort), ContainerPort: int32(nextPort)})
	if got, err := exchange(); err != nil || !strings.HasPrefix(got, "next ") {
		t.Errorf("after the port moved: %q, %v; want the new pod's answer", got, err)
	}
}

func TestConcurrentAdds(t *testing.T) {
	f := newFixture(t)
	const pods = 8
	type result struct {
		ips []net.IP
		err error
	}
	results := make(chan result, pods)
	ctx := ctxT(t)
	for i := range pods {
		p, port := newTestPod(t), freeHostPort(t, "tcp")
		go func() {
			ips, err := f.net.Add(ctx, fmt.Sprintf("%s-%d", f.cfg.Bridge, i), p.path, []HostPort{{HostPort: int32(port), ContainerPort: 80}})
			results <- result{ips, err}
		}()
	}
	seen := map[string]bool{}
	for range pods {
		r := <-results
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		for _, ip := range r.ips {
			if seen[ip.String()] {
				t.Errorf("%s handed out twice", ip)
			}
			seen[ip.String()] = true
		}
	}
	all, err := f.net.Allocations()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != pods || len(seen) != 2*pods {
		t.Errorf("%d owners, %d addresses; want %d and %d", len(all), len(seen), pods, 2*pods)
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := c.GetRules(f.net.table(), f.net.chain(chainHostPorts))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2*pods { // one per family
		t.Errorf("%d host port rules, want %d", len(rules), 2*pods)
	}
}

func TestSetupFollowsNewPodCIDRs(t *testing.T) {
	f := newFixture(t)
	cfg := f.cfg
	cfg.PodCIDRs = []*net.IPNet{ipNetOf(freePrefix(t, random4(t, 24)))}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	br, err := netlink.LinkByName(cfg.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	list, err := netlink.AddrList(br, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list {
		if !a.IP.IsLinkLocalUnicast() {
			got = append(got, a.IPNet.String())
		}
	}
	want := ipNet(n.ranges[0].gateway, n.ranges[0]).String()
	if len(got) != 1 || got[0] != want {
		t.Errorf("bridge addresses %v, want only %s", got, want)
	}
}
