package proxy

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLocalhostNodePort connects from the node to 127.0.0.1:<nodePort> of
// an endpoint in a pod-like namespace behind a veth with route_localnet, as
// the pod bridge has it, for both external traffic policies; then checks
// that the table's guard drops what a neighbour sends to the node's
// 127.0.0.1, which route_localnet alone would let in.
func TestLocalhostNodePort(t *testing.T) {
	var (
		node    = netip.MustParsePrefix("10.1.0.1/24")
		podAddr = netip.MustParsePrefix("10.1.0.2/24")
		target  = netip.AddrPortFrom(podAddr.Addr(), 8080)
	)
	ns := newTestNS(t)
	ns.setupLinks(t, nil, nil) // loopback up
	pod := ns.peer(t, "pod0", node, podAddr)
	ns.sysctl(t, "net/ipv4/conf/pod0/route_localnet", "1")
	// The pod answers the neighbour test below from 127.0.0.1 only with it.
	pod.sysctl(t, "net/ipv4/conf/eth0/route_localnet", "1")
	pod.serve(t, "pod", target)
	ns.serve(t, "node", netip.MustParseAddrPort("127.0.0.1:9999"))

	// Before the table, a neighbour reaches the node's loopback: the hole
	// the guard closes (the test would prove nothing otherwise).
	if s, err := pod.askWithin(netip.MustParseAddrPort("127.0.0.1:9999"), 3*time.Second); err != nil || !strings.HasPrefix(s, "node ") {
		t.Fatalf("without the table, the pod reached 127.0.0.1:9999 of the node with %q, %v; want an answer", s, err)
	}

	eps := []endpoint{{addr: target, local: true}}
	sps := []*servicePort{
		{id: "default/web/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr("10.96.0.10")}, port: 80,
			nodePort: 30080, cluster: eps, external: eps},
		{id: "default/local/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr("10.96.0.11")}, port: 80,
			nodePort: 30081, cluster: eps, external: eps, externalLocal: true},
	}
	tb := &table{name: uniqueTable(), netns: ns.fd, static: staticConfig{nodeIPs: []netip.Addr{node.Addr()}}}
	if err := tb.writeAll(buildRuleset(sps)); err != nil {
		t.Fatal(err)
	}

	for _, to := range []string{"127.0.0.1:30080", "127.0.0.1:30081"} {
		t.Run("node reaches "+to, func(t *testing.T) {
			s, err := ns.ask(netip.MustParseAddrPort(to), netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			if f := strings.Fields(s); f[0] != "pod" || f[1] != node.Addr().String() {
				t.Errorf("answer %q, want the pod's, to %s (masqueraded)", s, node.Addr())
			}
		})
	}
	t.Run("neighbour cannot reach the node's loopback", func(t *testing.T) {
		if s, err := pod.askWithin(netip.MustParseAddrPort("127.0.0.1:9999"), time.Second); err == nil {
			t.Errorf("the pod reached 127.0.0.1:9999 of the node: %q", s)
		}
	})
	t.Run("node still reaches its loopback", func(t *testing.T) {
		if s, err := ns.ask(netip.MustParseAddrPort("127.0.0.1:9999"), netip.Addr{}); err != nil || !strings.HasPrefix(s, "node ") {
			t.Errorf("answer %q, %v", s, err)
		}
	})
}

// askWithin is ask with a shorter or longer limit, for connections that
// are expected to be dropped.
func (ns *testNS) askWithin(addr netip.AddrPort, limit time.Duration) (string, error) {
	var (
		c   net.Conn
		err error
	)
	ns.do(func() {
		d := net.Dialer{Timeout: limit}
		c, err = d.Dial("tcp", addr.String())
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(limit))
	buf := make([]byte, 128)
	n, err := c.Read(buf)
	return strings.TrimSpace(string(buf[:n])), err
}
