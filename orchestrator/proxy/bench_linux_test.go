package proxy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// scale is n services of m endpoints each, with node ports.
func scale(n, m int) []*servicePort {
	sps := make([]*servicePort, n)
	for i := range sps {
		sp := &servicePort{
			id:       fmt.Sprintf("ns%d/svc%d/tcp/http/ipv4", i%10, i),
			proto:    unix.IPPROTO_TCP,
			ips:      []netip.Addr{netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})},
			port:     80,
			nodePort: uint16(30000 + i),
		}
		for j := range m {
			sp.cluster = append(sp.cluster, endpoint{addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 244, byte(i >> 4), byte(i<<4) + byte(j)}), 8080)})
		}
		sp.external = sp.cluster
		sps[i] = sp
	}
	return sps
}

// BenchmarkWriteAll writes the whole table for 1,000 Services of 10
// endpoints each (start-up), in one transaction.
func BenchmarkWriteAll(b *testing.B) { benchWriteAll(b, scale(1000, 10)) }

// BenchmarkEndpointChange removes one endpoint of one Service from, and
// adds it back to, a table of 1,000 Services of 10 endpoints each; each op
// is one such update, found by diffing the whole ruleset.
func BenchmarkEndpointChange(b *testing.B) { benchEndpointChange(b, scale(1000, 10)) }

// BenchmarkAffinityWriteAll is BenchmarkWriteAll with sessionAffinity
// ClientIP on every Service, the worst case: each has an affinity map too,
// and the kernel finds maps by name in a list.
func BenchmarkAffinityWriteAll(b *testing.B) { benchWriteAll(b, sticky(scale(1000, 10))) }

// BenchmarkAffinityEndpointChange is BenchmarkEndpointChange with
// sessionAffinity on every Service, and the removed endpoint's affinities
// forgotten after each removal.
func BenchmarkAffinityEndpointChange(b *testing.B) { benchEndpointChange(b, sticky(scale(1000, 10))) }

func sticky(sps []*servicePort) []*servicePort {
	for _, sp := range sps {
		sp.affinity = 3 * time.Hour
	}
	return sps
}

func benchWriteAll(b *testing.B, sps []*servicePort) {
	ns := newTestNS(b)
	tb := &table{name: uniqueTable(), netns: ns.fd}
	rs := buildRuleset(sps)
	for b.Loop() {
		if err := tb.writeAll(rs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rs.chains)), "chains")
}

func benchEndpointChange(b *testing.B, sps []*servicePort) {
	ns := newTestNS(b)
	tb := &table{name: uniqueTable(), netns: ns.fd}
	full := buildRuleset(sps)
	if err := tb.writeAll(full); err != nil {
		b.Fatal(err)
	}
	sps[500].cluster = sps[500].cluster[:9]
	sps[500].external = sps[500].cluster
	fewer := buildRuleset(sps)
	cur := full
	for b.Loop() {
		next := fewer
		if cur == fewer {
			next = full
		}
		c, err := tb.update(cur, next)
		if err != nil {
			b.Fatal(err)
		}
		if c.empty() {
			b.Fatal("no change written")
		}
		if err := tb.forget(c.staleAffinity, next); err != nil {
			b.Fatal(err)
		}
		cur = next
	}
}
