package proxy

import (
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDiff(t *testing.T) {
	ep := func(s string) endpoint { return endpoint{addr: netip.MustParseAddrPort(s)} }
	web := func(cluster, external []endpoint) []*servicePort {
		return []*servicePort{{id: "default/web/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr("10.96.0.10")},
			port: 80, nodePort: 30080, cluster: cluster, external: external}}
	}
	three := []endpoint{ep("10.0.0.11:80"), ep("10.0.0.12:80"), ep("10.0.0.13:80")}
	moved := []endpoint{ep("10.0.0.11:80"), ep("10.0.0.12:80"), ep("10.0.0.14:80")}
	base := buildRuleset(web(three, three))

	if c := diff(base, buildRuleset(web(three, three))); !c.empty() {
		t.Errorf("the same ruleset again: %+v, want no change", c)
	}
	t.Run("an endpoint replaced changes elements only", func(t *testing.T) {
		c := diff(base, buildRuleset(web(moved, moved)))
		if len(c.newChains)+len(c.writeChains)+len(c.delChains)+len(c.newMaps)+len(c.delMaps) != 0 {
			t.Errorf("change %+v touches chains or maps", c)
		}
		// The map element and the hairpin element of the endpoint.
		if len(c.addElems) != 2 || len(c.delElems) != 2 {
			t.Errorf("added %d and deleted %d elements, want 2 and 2", len(c.addElems), len(c.delElems))
		}
	})
	t.Run("one endpoint fewer rewrites both chains", func(t *testing.T) {
		c := diff(base, buildRuleset(web(three[:2], three[:2])))
		if want := []string{"external-default/web/tcp/http/ipv4", "service-default/web/tcp/http/ipv4"}; !slices.Equal(c.writeChains, want) {
			t.Errorf("rewrote %v, want %v", c.writeChains, want)
		}
	})
	t.Run("external endpoints of their own get a map of their own", func(t *testing.T) {
		c := diff(base, buildRuleset(web(three, three[:2])))
		if len(c.newMaps) != 1 || len(c.delMaps) != 0 {
			t.Errorf("new maps %v, deleted %v, want one new", c.newMaps, c.delMaps)
		}
	})
	t.Run("a Service gone deletes its maps, not their elements", func(t *testing.T) {
		c := diff(base, buildRuleset(nil))
		if len(c.delMaps) != 1 || len(c.delChains) != 2 {
			t.Errorf("deleted maps %v and chains %v, want one and two", c.delMaps, c.delChains)
		}
		for _, e := range c.delElems {
			if slices.Contains(c.delMaps, e.set) {
				t.Errorf("deletes an element of deleted map %s", e.set)
			}
		}
	})
}
