package proxy

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
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
//	chain masquerading {
//	    ct status dnat ip saddr . ip daddr @hairpin-v4 masquerade fully-random
//	    meta mark & 0x4000 == 0 return
//	    meta mark set meta mark ^ 0x4000; masquerade fully-random }
//
// and per service port (ID "namespace/name/proto/port-name/family"):
//
//	chain service-<ID> { meta l4proto tcp dnat ip to numgen random mod N map @endpoints-<pick> }
//	chain external-<ID> { jump mark-for-masquerade (unless externalTrafficPolicy Local)
//	    meta l4proto tcp dnat ip to numgen random mod N map @endpoints-<pick> }
//
// where endpoints-<pick> is a map of the chain's own, { 0 : <ip> . <port>,
// ... }, named by a number given to each such chain; a chain with one
// endpoint DNATs to it directly. The other elements are service-ips-v4 {
// <clusterIP> . tcp . <port> : goto service-<ID> }, service-nodeports-v4 {
// tcp . <nodePort> : goto external-<ID> } and hairpin-v4 { <ip> . <ip> } for
// every endpoint; a port without endpoints has no-endpoint-services-v4 and
// no-endpoint-nodeports-v4 elements that goto reject-chain instead.
//
// The kernel's costs shape this. Endpoints are map elements rather than
// chains of their own (as upstream has them) because every transaction that
// adds a jump or goto has the kernel walk the whole graph of chains from the
// base chains; a map that many rules use is checked against every one of
// them for each element added; and anonymous maps are named by scanning all
// the others. So a thousand Services of ten endpoints are two thousand chains
// and maps, not twelve thousand chains, and their write stays linear.
// The sets and base chains are written only with the whole table; a sync
// afterwards adds, rewrites or deletes only the per-port chains and the
// elements that changed.
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
	setHairpin        = "hairpin"
	mapServiceIPs     = "service-ips"
	mapNoEndpointIPs  = "no-endpoint-services"
	mapNodePorts      = "service-nodeports"
	mapNoEndpointPort = "no-endpoint-nodeports"
	mapEndpointsOf    = "endpoints-" // and the pick number, in hex

	// masqueradeMark is the packet mark bit that asks for masquerade, as upstream's.
	masqueradeMark = 0x4000
)

func setName(base string, v6 bool) string {
	if v6 {
		return base + "-v6"
	}
	return base + "-v4"
}

// chainSpec is what a per-port chain holds. mark says to mark for
// masquerade first (external chains, unless externalTrafficPolicy is Local).
type chainSpec struct {
	mark  bool
	proto byte
	v6    bool
	// one is the endpoint when there is only one. Otherwise the chain picks
	// among the n elements of the endpoint map numbered pick.
	one  netip.AddrPort
	pick uint32
	n    uint32
}

// elem is a set or map element: its set and key bytes.
type elem struct {
	set string
	key string
}

// ruleset is the changing part of the table: the per-port chains and the
// set and map elements, each map element with its value: the chain a
// verdict map goes to, or endpoint-dnat's address and port bytes.
type ruleset struct {
	chains map[string]chainSpec
	elems  map[elem]string
}

// buildRuleset computes the ruleset for the given service ports.
func buildRuleset(sps []*servicePort) *ruleset {
	rs := &ruleset{chains: map[string]chainSpec{}, elems: map[elem]string{}}
	// owners are the chains whose endpoint maps are made, with their
	// endpoints; users are the chains that pick from a map, with its owner.
	owners := map[string][]endpoint{}
	users := map[string]string{}
	addChain := func(name, owner string, spec chainSpec, eps []endpoint) {
		if len(eps) == 1 {
			spec.one = eps[0].addr
		} else {
			owners[owner], users[name] = eps, owner
		}
		rs.chains[name] = spec
		for _, e := range eps {
			a := e.addr.Addr().AsSlice()
			rs.elems[elem{setName(setHairpin, spec.v6), string(append(a, a...))}] = ""
		}
	}
	for _, sp := range sps {
		svc := "service-" + sp.id
		for _, ip := range sp.ips {
			rs.elems[elem{setName(setClusterIPs, sp.v6), string(ip.AsSlice())}] = ""
			key := string(serviceKey(ip, sp.proto, sp.port))
			if len(sp.cluster) > 0 {
				addChain(svc, svc, chainSpec{proto: sp.proto, v6: sp.v6}, sp.cluster)
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
			// NodePort traffic mostly goes where ClusterIP traffic goes: then
			// both chains pick from one map, which halves the maps.
			ext, owner := "external-"+sp.id, "external-"+sp.id
			if slices.Equal(sp.external, sp.cluster) {
				owner = svc
			}
			addChain(ext, owner, chainSpec{mark: !sp.externalLocal, proto: sp.proto, v6: sp.v6}, sp.external)
			rs.elems[elem{setName(mapNodePorts, sp.v6), key}] = ext
		} else {
			rs.elems[elem{setName(mapNoEndpointPort, sp.v6), key}] = chainReject
		}
	}
	rs.numberPicks(owners, users)
	return rs
}

// numberPicks gives each endpoint map its number, sets it in the chains that
// pick from the map, and adds the map's elements. A number is the hash of the
// owner's name, probed onwards on a collision in name order, so that a map
// keeps its number from one ruleset to the next.
func (rs *ruleset) numberPicks(owners map[string][]endpoint, users map[string]string) {
	taken := map[uint32]bool{}
	picks := map[string]uint32{}
	for _, owner := range slices.Sorted(maps.Keys(owners)) {
		h := fnv.New32a()
		h.Write([]byte(owner))
		pick := h.Sum32()
		for taken[pick] {
			pick++
		}
		taken[pick], picks[owner] = true, pick
		for i, e := range owners[owner] {
			rs.elems[elem{endpointsMap(pick), string(binary.NativeEndian.AppendUint32(nil, uint32(i)))}] = string(addrPortData(e.addr))
		}
	}
	for name, owner := range users {
		spec := rs.chains[name]
		spec.pick, spec.n = picks[owner], uint32(len(owners[owner]))
		rs.chains[name] = spec
	}
}

// endpointsMap names the endpoint map numbered pick.
func endpointsMap(pick uint32) string {
	return fmt.Sprintf("%s%08x", mapEndpointsOf, pick)
}

// endpointsMaps lists the endpoint maps of rs's chains, each with whether
// it is of IPv6 endpoints.
func (rs *ruleset) endpointsMaps() map[string]bool {
	m := map[string]bool{}
	for _, spec := range rs.chains {
		if spec.n > 0 {
			m[endpointsMap(spec.pick)] = spec.v6
		}
	}
	return m
}

// change is what turns one ruleset into another.
type change struct {
	newMaps     []string // endpoint maps to create, before the chains that use them
	newChains   []string // to create, then write
	writeChains []string // existing, to flush and write again
	delChains   []string // to flush and delete, after the elements that point at them
	delMaps     []string // endpoint maps to delete, after the chains that used them
	delElems    []elem   // but not those of deleted maps
	addElems    []elem
}

func (c change) empty() bool {
	return len(c.newMaps)+len(c.newChains)+len(c.writeChains)+len(c.delChains)+len(c.delMaps)+len(c.delElems)+len(c.addElems) == 0
}

// diff computes the change from old to cur. Names come sorted, so that a
// transaction is the same for the same change.
func diff(old, cur *ruleset) change {
	var c change
	for name, spec := range cur.chains {
		if was, ok := old.chains[name]; !ok {
			c.newChains = append(c.newChains, name)
		} else if was != spec {
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
	oldMaps, curMaps := old.endpointsMaps(), cur.endpointsMaps()
	for name := range curMaps {
		if _, ok := oldMaps[name]; !ok {
			c.newMaps = append(c.newMaps, name)
		}
	}
	gone := map[string]bool{}
	for name := range oldMaps {
		if _, ok := curMaps[name]; !ok {
			c.delMaps = append(c.delMaps, name)
			gone[name] = true
		}
	}
	for e := range old.elems {
		if _, ok := cur.elems[e]; !ok && !gone[e.set] {
			c.delElems = append(c.delElems, e)
		}
	}
	slices.Sort(c.newMaps)
	slices.Sort(c.delMaps)
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

// serviceKey is the key of a service-ips element: address . protocol . port,
// each field padded to four bytes as nftables concatenations are.
func serviceKey(ip netip.Addr, proto byte, port uint16) []byte {
	return append(ip.AsSlice(), portKey(proto, port)...)
}

// addrPortData is the value of an endpoints map element: address . port,
// the port padded to four bytes.
func addrPortData(ap netip.AddrPort) []byte {
	return append(binary.BigEndian.AppendUint16(ap.Addr().AsSlice(), ap.Port()), 0, 0)
}

// portKey is the key of a service-nodeports element: protocol . port.
func portKey(proto byte, port uint16) []byte {
	return []byte{proto, 0, 0, 0, byte(port >> 8), byte(port), 0, 0}
}
