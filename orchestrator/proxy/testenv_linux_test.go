package proxy

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
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

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables tables")
	}
}

// uniqueTable is a table name no other test uses.
func uniqueTable() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "bpx-test-" + hex.EncodeToString(b[:])
}

// testNS is a private network namespace held by a locked thread that runs
// functions in it on request. Everything made in it (links, addresses,
// routes, nftables tables) goes with it when the thread ends and the last
// socket and fd in it close.
type testNS struct {
	fd   int
	run  chan func()
	stop chan struct{}
	done chan struct{}
}

func newTestNS(t testing.TB) *testNS {
	t.Helper()
	requireRoot(t)
	ns := &testNS{fd: -1, run: make(chan func()), stop: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(ns.done)
		// Never unlocked: the thread leaves the host's namespace, and the
		// runtime ends it when this goroutine returns.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare: %w", err)
			return
		}
		fd, err := unix.Open("/proc/self/task/"+strconv.Itoa(unix.Gettid())+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ready <- fmt.Errorf("opening the namespace: %w", err)
			return
		}
		ns.fd = fd
		ready <- nil
		for {
			select {
			case f := <-ns.run:
				f()
			case <-ns.stop:
				return
			}
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("creating a test network namespace: %v", err)
	}
	t.Cleanup(func() {
		close(ns.stop)
		<-ns.done
		unix.Close(ns.fd)
	})
	return ns
}

func (ns *testNS) do(f func()) {
	done := make(chan struct{})
	ns.run <- func() { defer close(done); f() }
	<-done
}

// setupLinks makes a link "svc0" in ns with the given addresses (the
// first is the node's, as the primary address it is the source of local
// connections) and a route to each of routes through it, so that connections
// to service addresses reach the nftables hooks.
func (ns *testNS) setupLinks(t testing.TB, addrs []netip.Prefix, routes []netip.Prefix) {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.fd))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	// A veth pair, whose far end nobody answers on: dummy links need a
	// module that not every kernel has.
	d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "svc0"}, PeerName: "svc1"}
	if err := h.LinkAdd(d); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"svc0", "svc1"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range addrs {
		ipn := &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}
		// No duplicate address detection: an IPv6 address is usable at once.
		if err := h.AddrAdd(d, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatalf("adding %s: %v", a, err)
		}
	}
	for _, r := range routes {
		ipn := &net.IPNet{IP: r.Addr().AsSlice(), Mask: net.CIDRMask(r.Bits(), r.Addr().BitLen())}
		if err := h.RouteAdd(&netlink.Route{LinkIndex: d.Attrs().Index, Dst: ipn}); err != nil {
			t.Fatalf("adding route %s: %v", r, err)
		}
	}
}

// serve listens on addr in ns and answers each connection with
// "name remote-IP remote-port".
func (ns *testNS) serve(t testing.TB, name string, addr netip.AddrPort) {
	t.Helper()
	var (
		l   net.Listener
		err error
	)
	ns.do(func() { l, err = net.Listen("tcp", addr.String()) })
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			_, _ = fmt.Fprintf(c, "%s %s %d\n", name, remote.Addr().Unmap(), remote.Port())
			c.Close()
		}
	}()
}

// ask connects from ns (from local when valid) to addr and returns the
// answer "name remote-IP remote-port".
func (ns *testNS) ask(addr netip.AddrPort, local netip.Addr) (string, error) {
	return ns.askFrom(addr, netip.AddrPortFrom(local, 0))
}

// askFrom is ask from a given local port too (when not 0).
func (ns *testNS) askFrom(addr, local netip.AddrPort) (string, error) {
	var (
		c   net.Conn
		err error
	)
	ns.do(func() {
		d := net.Dialer{Timeout: 3 * time.Second}
		if local.Addr().IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(local)
		}
		c, err = d.Dial("tcp", addr.String())
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	s, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

// tables lists the inet tables in ns.
func (ns *testNS) tables(t testing.TB) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns.fd))
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range list {
		names = append(names, tb.Name)
	}
	return names
}

// peer makes a second private namespace joined to ns by a veth pair: link
// name in ns with addr, "eth0" in the peer with peerAddr and a default route
// through addr, as a pod is joined to the node. The peer's loopback stays
// down.
func (ns *testNS) peer(t testing.TB, name string, addr, peerAddr netip.Prefix) *testNS {
	t.Helper()
	p := newTestNS(t)
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.fd))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ph, err := netlink.NewHandleAt(netns.NsHandle(p.fd))
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "eth0", PeerNamespace: netlink.NsFd(p.fd)}); err != nil {
		t.Fatalf("adding veth %s: %v", name, err)
	}
	for _, end := range []struct {
		h    *netlink.Handle
		name string
		addr netip.Prefix
	}{{h, name, addr}, {ph, "eth0", peerAddr}} {
		l, err := end.h.LinkByName(end.name)
		if err != nil {
			t.Fatal(err)
		}
		ipn := &net.IPNet{IP: end.addr.Addr().AsSlice(), Mask: net.CIDRMask(end.addr.Bits(), end.addr.Addr().BitLen())}
		if err := end.h.AddrAdd(l, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatalf("adding %s to %s: %v", end.addr, end.name, err)
		}
		if err := end.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	eth0, err := ph.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ph.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: addr.Addr().AsSlice()}); err != nil {
		t.Fatalf("adding the peer's default route: %v", err)
	}
	return p
}

// route adds a route to dst through the link named dev in ns.
func (ns *testNS) route(t testing.TB, dst netip.Prefix, dev string) {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.fd))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	ipn := &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipn}); err != nil {
		t.Fatalf("adding route %s: %v", dst, err)
	}
}

// sysctl sets /proc/sys/name in ns (the thread's namespace decides which
// network sysctls a path opens).
func (ns *testNS) sysctl(t testing.TB, name, value string) {
	t.Helper()
	var err error
	ns.do(func() { err = os.WriteFile("/proc/sys/"+name, []byte(value), 0o644) })
	if err != nil {
		t.Fatalf("setting %s in a test namespace: %v", name, err)
	}
}
