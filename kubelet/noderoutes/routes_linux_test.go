package noderoutes

import (
	"context"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// newNS makes a private network namespace with a link "seg0" at
// 10.0.0.1/24 (the node's segment) and returns its fd; it goes away with
// the test.
func newNS(t *testing.T) int {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Delete()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "seg0"}, PeerName: "seg1"}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"seg0", "seg1"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.AddrAdd(veth, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 0, 0, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	// A default route, as a node has: a gateway off the segment must
	// still be refused.
	if err := h.RouteAdd(&netlink.Route{Gw: net.IPv4(10, 0, 0, 254)}); err != nil {
		t.Fatal(err)
	}
	return int(ns)
}

func node(name, ip string, podCIDRs ...string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDRs: podCIDRs},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}},
	}
}

func TestRoutes(t *testing.T) {
	fd := newNS(t)
	client := fake.NewClientset(
		node("self", "10.0.0.1", "10.42.0.0/24"),
		node("b", "10.0.0.2", "10.42.1.0/24"),
		node("far", "192.168.7.7", "10.42.9.0/24"),
	)
	f := informers.NewSharedInformerFactory(client, 0)
	r, err := New(Config{NodeName: "self", NetNS: fd, Resync: time.Hour}, f.Core().V1().Nodes())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	f.Start(ctx.Done())
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	h, err := handle(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	routesAre := func(want ...route) {
		t.Helper()
		var have []route
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if have, err = h.list(); err != nil {
				t.Fatal(err)
			}
			if slices.Equal(have, want) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("routes of protocol %d are %v, want %v", Protocol, have, want)
	}
	p, a := netip.MustParsePrefix, netip.MustParseAddr

	// Not to itself, not to a node off the segment.
	routesAre(route{p("10.42.1.0/24"), a("10.0.0.2")})

	c := node("c", "10.0.0.3", "10.42.2.0/24")
	if _, err := client.CoreV1().Nodes().Create(ctx, c, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(route{p("10.42.1.0/24"), a("10.0.0.2")}, route{p("10.42.2.0/24"), a("10.0.0.3")})

	// A node that moves is routed to its new address.
	c.Status.Addresses[0].Address = "10.0.0.4"
	if _, err := client.CoreV1().Nodes().Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(route{p("10.42.1.0/24"), a("10.0.0.2")}, route{p("10.42.2.0/24"), a("10.0.0.4")})

	// A deleted node's route goes; routes of other protocols stay.
	other := &netlink.Route{Dst: ipNet(p("10.99.0.0/24")), Gw: net.IPv4(10, 0, 0, 9)}
	if err := h.RouteAdd(other); err != nil {
		t.Fatal(err)
	}
	if err := client.CoreV1().Nodes().Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	routesAre(route{p("10.42.2.0/24"), a("10.0.0.4")})
	othersStay := func() {
		t.Helper()
		all, err := h.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(all, func(rt netlink.Route) bool { return rt.Dst != nil && rt.Dst.String() == "10.99.0.0/24" }) {
			t.Errorf("the route someone else made is gone: %v", all)
		}
	}
	othersStay()

	if err := Clean(fd); err != nil {
		t.Fatal(err)
	}
	if have, err := h.list(); err != nil || len(have) != 0 {
		t.Errorf("after Clean: routes %v (%v), want none", have, err)
	}
	othersStay()
}
