package podnet

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Every test network gets a bridge named testPrefix plus random hex; its
// links (aliases "berth-pod <bridge> ...", or names starting with the bridge's)
// and its table "berth-<bridge>" are swept at the end of the test even when
// Teardown failed.
const testPrefix = "bpt"

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, links and nftables tables")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fixture is a test pod network.
type fixture struct {
	cfg Config
	net *Network
	v4  podRange
	v6  podRange
}

func randInt(t *testing.T, n int64) int {
	t.Helper()
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		t.Fatal(err)
	}
	return int(v.Int64())
}

// freePrefix picks a random prefix from gen that no route of the host's
// overlaps.
func freePrefix(t *testing.T, gen func() netip.Prefix) netip.Prefix {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
next:
	for range 50 {
		p := gen()
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			if q, err := prefixOf(r.Dst); err == nil && q.Bits() > 0 && q.Overlaps(p) {
				continue next
			}
		}
		return p
	}
	t.Fatal("no free test prefix")
	return netip.Prefix{}
}

func random4(t *testing.T, bits int) func() netip.Prefix {
	return func() netip.Prefix {
		a := netip.AddrFrom4([4]byte{10, byte(100 + randInt(t, 100)), byte(randInt(t, 256)), byte(randInt(t, 64) * 4)})
		return netip.PrefixFrom(a, bits).Masked()
	}
}

func random6(t *testing.T) func() netip.Prefix {
	return func() netip.Prefix {
		var b [16]byte
		_, _ = rand.Read(b[1:8])
		b[0] = 0xfd
		return netip.PrefixFrom(netip.AddrFrom16(b), 64)
	}
}

func ipNetOf(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// newFixture sets up a dual-stack network under a unique bridge name and
// cleans up after the test.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireRoot(t)
	var b [3]byte
	_, _ = rand.Read(b[:])
	bridge := testPrefix + hex.EncodeToString(b[:])
	t.Cleanup(func() { sweep(t, bridge) })
	cfg := Config{
		Bridge:   bridge,
		PodCIDRs: []*net.IPNet{ipNetOf(freePrefix(t, random4(t, 24))), ipNetOf(freePrefix(t, random6(t)))},
		StateDir: filepath.Join(t.TempDir(), "podnet"),
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	return &fixture{cfg: cfg, net: n, v4: n.ranges[0], v6: n.ranges[1]}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// sweep deletes whatever a test network may have left behind.
func sweep(t *testing.T, bridge string) {
	links, err := netlink.LinkList()
	if err != nil {
		t.Errorf("sweep: listing links: %v", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if strings.HasPrefix(a.Name, bridge) || strings.HasPrefix(a.Alias, "berth-pod "+bridge+" ") {
			t.Errorf("sweep: link %s (alias %q) was left behind", a.Name, a.Alias)
			_ = netlink.LinkDel(l)
		}
	}
	c, err := nftables.New()
	if err != nil {
		t.Errorf("sweep: %v", err)
		return
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Errorf("sweep: listing tables: %v", err)
	}
	for _, tb := range tables {
		if tb.Name == "berth-"+bridge {
			t.Errorf("sweep: table inet %s was left behind", tb.Name)
			c.DelTable(tb)
			_ = c.Flush()
		}
	}
}

// testPod is a network namespace held by a locked thread that runs
// functions in it on request: a pod sandbox without containers.
type testPod struct {
	path string // /proc/self/task/TID/ns/net
	run  chan func()
	stop chan struct{}
	done chan struct{}
}

func newTestPod(t *testing.T) *testPod {
	t.Helper()
	p := &testPod{run: make(chan func()), stop: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(p.done)
		// Never unlocked: the thread leaves the host's namespace, and the
		// runtime ends it when this goroutine returns.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare: %w", err)
			return
		}
		p.path = "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		ready <- nil
		for {
			select {
			case f := <-p.run:
				f()
			case <-p.stop:
				return
			}
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("creating a pod network namespace: %v", err)
	}
	t.Cleanup(p.close)
	return p
}

// close ends the namespace (once its sockets are closed too).
func (p *testPod) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func (p *testPod) do(f func()) {
	done := make(chan struct{})
	p.run <- func() { f(); close(done) }
	<-done
}

// links lists the pod's links by name.
func (p *testPod) links(t *testing.T) map[string]netlink.Link {
	t.Helper()
	f, err := os.Open(p.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := netlink.NewHandleAt(netns.NsHandle(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]netlink.Link{}
	for _, l := range links {
		m[l.Attrs().Name] = l
	}
	return m
}

// serve answers every TCP connection on l, and every UDP datagram on pc,
// with "name remote-IP".
func serve(t *testing.T, name string, l net.Listener, pc net.PacketConn) {
	if l != nil {
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				ip := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
				_, _ = fmt.Fprintf(c, "%s %s\n", name, ip)
				c.Close()
			}
		}()
	}
	if pc != nil {
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				ip := from.(*net.UDPAddr).AddrPort().Addr().Unmap()
				_, _ = pc.WriteTo(fmt.Appendf(nil, "%s %s\n", name, ip), from)
			}
		}()
	}
}

// listen starts a TCP listener (and, with udp, a UDP socket) on every
// address of p's namespace (the host's, when p is nil) and serves them.
func listen(t *testing.T, p *testPod, name string, udp bool) (tcpPort, udpPort int) {
	t.Helper()
	var (
		l   net.Listener
		pc  net.PacketConn
		err error
	)
	open := func() {
		if l, err = net.Listen("tcp", ":0"); err != nil || !udp {
			return
		}
		pc, err = net.ListenPacket("udp", ":0")
	}
	if p == nil {
		open()
	} else {
		p.do(open)
	}
	if err != nil {
		t.Fatalf("listening in %s: %v", name, err)
	}
	serve(t, name, l, pc)
	tcpPort = l.Addr().(*net.TCPAddr).Port
	if pc != nil {
		udpPort = pc.LocalAddr().(*net.UDPAddr).Port
	}
	return tcpPort, udpPort
}

// ask connects from p's namespace (the host's when p is nil) to addr over
// network and returns the answer: "name remote-IP", or an error.
func ask(p *testPod, network string, addr netip.AddrPort) (string, error) {
	var (
		c   net.Conn
		err error
	)
	dial := func() { c, err = net.DialTimeout(network, addr.String(), 3*time.Second) }
	if p == nil {
		dial()
	} else {
		p.do(dial)
	}
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if network == "udp" {
		if _, err := c.Write([]byte("hello")); err != nil {
			return "", err
		}
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

func mustAsk(t *testing.T, p *testPod, network string, addr netip.AddrPort) string {
	t.Helper()
	s, err := ask(p, network, addr)
	if err != nil {
		t.Fatalf("%s to %s: %v", network, addr, err)
	}
	return s
}

func addrs(t *testing.T, ips []net.IP) (v4, v6 netip.Addr) {
	t.Helper()
	if len(ips) != 2 {
		t.Fatalf("got addresses %v, want one IPv4 and one IPv6", ips)
	}
	v4, _ = netip.AddrFromSlice(ips[0])
	v6, _ = netip.AddrFromSlice(ips[1])
	v4 = v4.Unmap()
	if !v4.Is4() || !v6.Is6() {
		t.Fatalf("got addresses %v, want IPv4 first, then IPv6", ips)
	}
	return v4, v6
}

func (f *fixture) add(t *testing.T, owner string, p *testPod, ports ...HostPort) (v4, v6 netip.Addr) {
	t.Helper()
	ips, err := f.net.Add(ctxT(t), owner, p.path, ports)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 = addrs(t, ips)
	if !f.v4.contains(v4) || !f.v6.contains(v6) {
		t.Fatalf("addresses %s, %s are not pod addresses of %s, %s", v4, v6, f.v4.prefix, f.v6.prefix)
	}
	return v4, v6
}

func linkExists(t *testing.T, name string) bool {
	t.Helper()
	_, err := netlink.LinkByName(name)
	if err != nil && !isNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// nodeAddr is an IPv4 address of the host outside the test bridge, as other
// machines would reach it, or the gateway if the host has none.
func nodeAddr(t *testing.T, f *fixture) netip.Addr {
	t.Helper()
	list, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		ip, _ := netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
		if ip.IsGlobalUnicast() && !f.v4.prefix.Contains(ip) {
			return ip
		}
	}
	return f.v4.gateway
}

// freeHostPort is a port nothing on the host listens on now.
func freeHostPort(t *testing.T, network string) uint16 {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	}
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}
