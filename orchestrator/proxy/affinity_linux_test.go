package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestSessionAffinity runs a Proxier over a ClientIP Service and a plain
// one with the same three endpoints, and connects to them from four client
// addresses.
func TestSessionAffinity(t *testing.T) {
	ep3 := netip.MustParseAddr("10.0.0.13")
	clients := []netip.Addr{
		netip.MustParseAddr("10.0.0.21"), netip.MustParseAddr("10.0.0.22"),
		netip.MustParseAddr("10.0.0.23"), netip.MustParseAddr("10.0.0.24"),
	}
	addrs := []netip.Prefix{netip.PrefixFrom(nodeIP, 24)}
	for _, a := range append([]netip.Addr{ep1, ep2, ep3}, clients...) {
		addrs = append(addrs, netip.PrefixFrom(a, 24))
	}
	ns := newTestNS(t)
	ns.setupLinks(t, addrs, []netip.Prefix{serviceCIDR})
	for name, a := range map[string]netip.Addr{"ep1": ep1, "ep2": ep2, "ep3": ep3} {
		ns.serve(t, name, netip.AddrPortFrom(a, 8080))
	}
	const timeout = 600
	sticky := service("sticky", "10.96.0.50", 80, 30090)
	sticky.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	sticky.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(timeout))}}
	client := fake.NewClientset(
		sticky, slice("sticky", 8080, ep1, ep2, ep3),
		service("web", "10.96.0.10", 80, 0), slice("web", 8080, ep1, ep2, ep3),
	)
	_, table, _ := runProxier(t, ns, client)
	clusterIP, nodePort := netip.MustParseAddrPort("10.96.0.50:80"), netip.AddrPortFrom(nodeIP, 30090)
	waitFor(t, 5*time.Second, func() bool { _, err := ns.ask(clusterIP, clients[0]); return err == nil })

	// reached connects n times from c to addr and counts the endpoints
	// that answered.
	reached := func(t *testing.T, addr netip.AddrPort, c netip.Addr, n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			s, err := ns.ask(addr, c)
			if err != nil {
				t.Fatalf("connecting from %s to %s: %v", c, addr, err)
			}
			seen[strings.Fields(s)[0]]++
		}
		return seen
	}
	only := func(seen map[string]int) string {
		if len(seen) != 1 {
			return ""
		}
		for name := range seen {
			return name
		}
		return ""
	}

	stuck := map[netip.Addr]string{}
	t.Run("a client keeps its endpoint", func(t *testing.T) {
		for _, c := range clients {
			seen := reached(t, clusterIP, c, 20)
			if stuck[c] = only(seen); stuck[c] == "" {
				t.Errorf("20 connections from %s reached %v, want one endpoint", c, seen)
			}
		}
	})
	t.Run("without affinity a client is balanced", func(t *testing.T) {
		if seen := reached(t, netip.MustParseAddrPort("10.96.0.10:80"), clients[0], 30); len(seen) < 2 {
			t.Errorf("30 connections to the Service without affinity reached %v, want several endpoints", seen)
		}
	})
	t.Run("the node port shares the affinity", func(t *testing.T) {
		if seen := reached(t, nodePort, clients[0], 10); only(seen) != stuck[clients[0]] {
			t.Errorf("10 connections through the node port reached %v, want only %s as through the cluster IP", seen, stuck[clients[0]])
		}
	})
	t.Run("each client has an entry that times out", func(t *testing.T) {
		entries := affinityEntries(t, ns, table)
		if len(entries) != len(clients) {
			t.Fatalf("affinity entries %v, want one per client", entries)
		}
		for _, e := range entries {
			if e.Expires <= 0 || e.Expires > timeout*time.Second {
				t.Errorf("entry of %v expires in %v, want within %ds", e.Key, e.Expires, timeout)
			}
		}
	})
	t.Run("removing its endpoint moves a client, and only it", func(t *testing.T) {
		gone := stuck[clients[0]]
		var kept []netip.Addr
		for name, a := range map[string]netip.Addr{"ep1": ep1, "ep2": ep2, "ep3": ep3} {
			if name != gone {
				kept = append(kept, a)
			}
		}
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), slice("sticky", 8080, kept...), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Until the entry is forgotten the client would be balanced.
		waitFor(t, 5*time.Second, func() bool {
			name := only(reached(t, clusterIP, clients[0], 20))
			return name != "" && name != gone
		})
		for _, c := range clients[1:] {
			seen := reached(t, clusterIP, c, 10)
			if stuck[c] != gone && only(seen) != stuck[c] {
				t.Errorf("client %s of %s reached %v after %s went", c, stuck[c], seen, gone)
			}
			if stuck[c] == gone && (only(seen) == "" || only(seen) == gone) {
				t.Errorf("client %s of %s reached %v after it went, want one other endpoint", c, gone, seen)
			}
		}
	})
}

// affinityEntries lists the entries of the one affinity map in table.
func affinityEntries(t *testing.T, ns *testNS, table string) []nftables.SetElement {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns.fd))
	if err != nil {
		t.Fatal(err)
	}
	tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	sets, err := c.GetSets(tb)
	if err != nil {
		t.Fatal(err)
	}
	var maps []*nftables.Set
	for _, s := range sets {
		if strings.HasPrefix(s.Name, mapAffinityOf) && !strings.HasPrefix(s.Name, setAffinityEndpoints) {
			maps = append(maps, s)
		}
	}
	if len(maps) != 1 {
		t.Fatalf("%d affinity maps, want one shared by the cluster IP and the node port", len(maps))
	}
	entries, err := c.GetSetElements(maps[0])
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestAffinityToRemovedEndpoint checks the rules alone, without forgetting
// entries after an update: an entry naming a removed endpoint is not used.
func TestAffinityToRemovedEndpoint(t *testing.T) {
	ep3 := netip.MustParseAddr("10.0.0.13")
	client := netip.MustParseAddr("10.0.0.21")
	ns := newTestNS(t)
	ns.setupLinks(t, []netip.Prefix{netip.PrefixFrom(nodeIP, 24), netip.PrefixFrom(ep1, 24), netip.PrefixFrom(ep2, 24),
		netip.PrefixFrom(ep3, 24), netip.PrefixFrom(client, 24)}, []netip.Prefix{serviceCIDR})
	names := map[string]netip.Addr{"ep1": ep1, "ep2": ep2, "ep3": ep3}
	for name, a := range names {
		ns.serve(t, name, netip.AddrPortFrom(a, 8080))
	}
	sp := func(addrs ...netip.Addr) []*servicePort {
		var eps []endpoint
		for _, a := range addrs {
			eps = append(eps, endpoint{addr: netip.AddrPortFrom(a, 8080)})
		}
		return []*servicePort{{id: "default/sticky/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr("10.96.0.50")}, port: 80,
			cluster: eps, affinity: time.Hour}}
	}
	tb := &table{name: uniqueTable(), netns: ns.fd}
	all := buildRuleset(sp(ep1, ep2, ep3))
	if err := tb.writeAll(all); err != nil {
		t.Fatal(err)
	}
	to := netip.MustParseAddrPort("10.96.0.50:80")
	s, err := ns.ask(to, client)
	if err != nil {
		t.Fatal(err)
	}
	gone := strings.Fields(s)[0]
	var kept []netip.Addr
	for name, a := range names {
		if name != gone {
			kept = append(kept, a)
		}
	}
	fewer := buildRuleset(sp(kept...))
	c, err := tb.update(all, fewer)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.staleAffinity) != 1 {
		t.Fatalf("affinity maps to forget in %v, want one", c.staleAffinity)
	}
	seen := map[string]int{}
	for range 30 {
		s, err := ns.ask(to, client)
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.Fields(s)[0]]++
	}
	if seen[gone] > 0 || len(seen) != 2 {
		t.Errorf("before its entry was forgotten, the client of removed %s reached %v, want both others", gone, seen)
	}
	if err := tb.forget(c.staleAffinity, fewer); err != nil {
		t.Fatal(err)
	}
	seen = map[string]int{}
	for range 20 {
		s, err := ns.ask(to, client)
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.Fields(s)[0]]++
	}
	if len(seen) != 1 || seen[gone] > 0 {
		t.Errorf("after its entry was forgotten, the client reached %v, want one endpoint other than %s", seen, gone)
	}
}
