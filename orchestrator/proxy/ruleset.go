package proxy

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"
)

// The table, as `nft list table inet berth-proxy` would show it (one set and
// map of each kind per family, "-v4" and "-v6"; only IPv4 shown):
//
//	chain nat-prerouting { type nat hook prerouting priority dstnat; jump services }
//	chain nat-output { type nat hook output priority dstnat; jump services }
//	chain nat-postrouting { type nat hook postrouting priority srcnat; jump masquerading }
//	chain filter-input { type filter hook input priority -110
//	    ct state new jump nodeport-endpoints-check
//	    ct state new jump service-endpoints-check }
//	chain filter-forward { type filter hook forward priority -110
//	    ct state new jump service-endpoints-check
//	    ct state new jump cluster-ips-check }
//	chain filter-output { type filter hook output priority -110
//	    ct state new jump nodeport-endpoints-check
//	    ct state new jump service-endpoints-check }
//	chain filter-output-post-dnat { type filter hook output priority -90
//	    ct state new jump cluster-ips-check }
//	chain services {
//	    ip daddr . meta l4proto . th dport vmap @service-ips-v4
//	    ip daddr @nodeport-ips-v4 meta l4proto . th dport vmap @service-nodeports-v4 }
//	chain service-endpoints-check { ip daddr . meta l4proto . th dport vmap @no-endpoint-services-v4 }
//	chain nodeport-endpoints-check { ip daddr @nodeport-ips-v4 meta l4proto . th dport vmap @no-endpoint-nodeports-v4 }
//	chain cluster-ips-check {
//	    ip daddr @cluster-ips-v4 jump reject-chain   (a ClusterIP, but no such port)
//	    ip daddr <service CIDR> jump reject-chain }  (no Service holds the address)
//	chain reject-chain { meta l4proto tcp reject with tcp reset; reject }
//	chain mark-for-masquerade { meta mark set meta mark | 0x4000 }
//	chain masquerading { meta mark & 0x4000 == 0 return
//	    meta mark set meta mark ^ 0x4000; masquerade fully-random }
//
// and per service port (ID "namespace/name/proto/port-name/family"):
//
//	chain service-<ID> { numgen random mod 2 vmap { 0 : goto endpoint-<ID>__<ip:port>, 1 : goto ... } }
//	chain external-<ID> { jump mark-for-masquerade (unless externalTrafficPolicy Local)
//	    numgen random mod N vmap { ... } }
//	chain endpoint-<ID>__<ip:port> { ip saddr <ip> jump mark-for-masquerade
//	    meta l4proto tcp dnat ip to <ip:port> }
//
// with elements service-ips-v4 { <clusterIP> . tcp . <port> : goto service-<ID> },
// service-nodeports-v4 { tcp . <nodePort> : goto external-<ID> } and, when the
// port has no endpoints, no-endpoint-services-v4 and no-endpoint-nodeports-v4
// elements that goto reject-chain instead. The sets and base chains are written
// only with the whole table; a sync afterwards adds, rewrites or deletes only
// the per-port chains and the elements that changed.
const (
	chainServices        = "services"
	chainServiceCheck    = "service-endpoints-check"
	chainNodePortCheck   = "nodeport-endpoints-check"
	chainClusterIPsCheck = "cluster-ips-check"
	chainReject          = "reject-chain"
	chainMark            = "mark-for-masquerade"
	chainMasquerading    = "masquerading"

	setClusterIPs     = "cluster-ips"
	setNodePortIPs    = "nodeport-ips"
	mapServiceIPs     = "service-ips"
	mapNoEndpointIPs  = "no-endpoint-services"
	mapNodePorts      = "service-nodeports"
	mapNoEndpointPort = "no-endpoint-nodeports"

	// masqueradeMark is the packet mark bit that asks for masquerade, as upstream's.
	masqueradeMark = 0x4000
)

func setName(base string, v6 bool) string {
	if v6 {
		return base + "-v6"
	}
	return base + "-v4"
}

type chainKind int

const (
	kindService chainKind = iota
	kindExternal
	kindEndpoint
)

// chainSpec is what a per-port chain holds.
type chainSpec struct {
	kind chainKind
	// targets are the endpoint chains a service or external chain picks
	// from; mark says an external chain marks for masquerade first.
	targets []string
	mark    bool
	// addr and proto are an endpoint chain's.
	addr  netip.AddrPort
	proto byte
}

func (a chainSpec) equal(b chainSpec) bool {
	return a.kind == b.kind && a.mark == b.mark && a.addr == b.addr && a.proto == b.proto && slices.Equal(a.targets, b.targets)
}

// elem is a set or map element: its set and key bytes.
type elem struct {
	set string
	key string
}

// ruleset is the changing part of the table: the per-port chains and the
// set and map elements, each map element with the chain it goes to.
type ruleset struct {
	chains map[string]chainSpec
	elems  map[elem]string
}

// buildRuleset computes the ruleset for the given service ports.
func buildRuleset(sps []*servicePort) *ruleset {
	rs := &ruleset{chains: map[string]chainSpec{}, elems: map[elem]string{}}
	for _, sp := range sps {
		epChain := func(e endpoint) string { return "endpoint-" + sp.id + "__" + e.addr.String() }
		chainsOf := func(eps []endpoint) []string {
			names := make([]string, len(eps))
			for i, e := range eps {
				names[i] = epChain(e)
				rs.chains[names[i]] = chainSpec{kind: kindEndpoint, addr: e.addr, proto: sp.proto}
			}
			return names
		}
		for _, ip := range sp.ips {
			rs.elems[elem{setName(setClusterIPs, sp.v6), string(ip.AsSlice())}] = ""
			key := string(serviceKey(ip, sp.proto, sp.port))
			if len(sp.cluster) > 0 {
				svc := "service-" + sp.id
				rs.chains[svc] = chainSpec{kind: kindService, targets: chainsOf(sp.cluster)}
				rs.elems[elem{setName(mapServiceIPs, sp.v6), key}] = svc
			} else {
				rs.elems[elem{setName(mapNoEndpointIPs, sp.v6), key}] = chainReject
			}
		}
		if sp.nodePort == 0 {
			continue
		}
		key := string(portKey(sp.proto, sp.nodePort))
		if len(sp.external) > 0 {
			ext := "external-" + sp.id
			rs.chains[ext] = chainSpec{kind: kindExternal, targets: chainsOf(sp.external), mark: !sp.externalLocal}
			rs.elems[elem{setName(mapNodePorts, sp.v6), key}] = ext
		} else {
			rs.elems[elem{setName(mapNoEndpointPort, sp.v6), key}] = chainReject
		}
	}
	return rs
}

// change is what turns one ruleset into another.
type change struct {
	newChains   []string // to create, then write
	writeChains []string // existing, to flush and write again
	delChains   []string // to flush and delete, after the elements that point at them
	delElems    []elem
	addElems    []elem
}

func (c change) empty() bool {
	return len(c.newChains)+len(c.writeChains)+len(c.delChains)+len(c.delElems)+len(c.addElems) == 0
}

// diff computes the change from old to cur. Names come sorted, so that a
// transaction is the same for the same change.
func diff(old, cur *ruleset) change {
	var c change
	for name, spec := range cur.chains {
		if was, ok := old.chains[name]; !ok {
			c.newChains = append(c.newChains, name)
		} else if !was.equal(spec) {
			c.writeChains = append(c.writeChains, name)
		}
	}
	for name := range old.chains {
		if _, ok := cur.chains[name]; !ok {
			c.delChains = append(c.delChains, name)
		}
	}
	for e, to := range cur.elems {
		if was, ok := old.elems[e]; !ok {
			c.addElems = append(c.addElems, e)
		} else if was != to {
			c.delElems = append(c.delElems, e)
			c.addElems = append(c.addElems, e)
		}
	}
	for e := range old.elems {
		if _, ok := cur.elems[e]; !ok {
			c.delElems = append(c.delElems, e)
		}
	}
	slices.Sort(c.newChains)
	slices.Sort(c.writeChains)
	slices.Sort(c.delChains)
	byKey := func(a, b elem) int {
		if a.set != b.set {
			return cmp.Compare(a.set, b.set)
		}
		return cmp.Compare(a.key, b.key)
	}
	slices.SortFunc(c.delElems, byKey)
	slices.SortFunc(c.addElems, byKey)
	return c
}

// all is the change that writes rs into an empty table.
func all(rs *ruleset) change {
	return diff(&ruleset{}, rs)
}

// sortedSets lists the sets that rs has elements in.
func sortedSets(elems []elem) []string {
	seen := map[string]bool{}
	for _, e := range elems {
		seen[e.set] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// serviceKey is the key of a service-ips element: address . protocol . port,
// each field padded to four bytes as nftables concatenations are.
func serviceKey(ip netip.Addr, proto byte, port uint16) []byte {
	return append(ip.AsSlice(), portKey(proto, port)...)
}

// portKey is the key of a service-nodeports element: protocol . port.
func portKey(proto byte, port uint16) []byte {
	return []byte{proto, 0, 0, 0, byte(port >> 8), byte(port), 0, 0}
}
