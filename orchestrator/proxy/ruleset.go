package proxy

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// The table, as `nft list table inet berth-proxy` would show it (one set and
// map of each kind per family, "-v4" and "-v6"; only IPv4 shown):
//
//	chain nat-prerouting { type nat hook prerouting priority dstnat; jump services }
//	chain nat-output { type nat hook output priority dstnat; jump services }
//	chain nat-postrouting { type nat hook postrouting priority srcnat; jump masquerading }
//	chain filter-input { type filter hook input priority -110
//	    ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 ct state != { established, related } ct status != dnat drop
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
//	    ip saddr 127.0.0.0/8 meta mark set meta mark | 0x4000 (IPv4, Local only)
//	    meta l4proto tcp dnat ip to numgen random mod N map @endpoints-<pick> }
//
// where endpoints-<pick> is a map of the chain's own, { 0 : <ip> . <port>,
// ... }, named by a number given to each such chain; a chain with one
// endpoint (and no affinity) DNATs to it directly. The other elements are
// service-ips-v4 { <clusterIP> . tcp . <port> : goto service-<ID>,
// <loadBalancerIP> . tcp . <port> : goto external-<ID> },
// service-nodeports-v4 { tcp . <nodePort> : goto external-<ID> } and
// hairpin-v4 { <ip> . <ip> } for every endpoint; a port without endpoints
// has no-endpoint-services-v4 and no-endpoint-nodeports-v4 elements that
// goto reject-chain instead. A LoadBalancer address and port that two
// Services claim goes to the first by ID.
//
// nodeport-ips-v4 holds the node's addresses and 127.0.0.1: node processes
// reach NodePorts on loopback, as with upstream's iptables mode. Such a
// connection leaves through the pod bridge only masqueraded (the external
// chains see to it) and with route_localnet on the bridge, which would let
// its neighbours reach the node's loopback services too: the first rule of
// filter-input drops what reaches 127.0.0.0/8 from elsewhere without DNAT
// (upstream's guard for CVE-2020-8558).
//
// A port with sessionAffinity ClientIP always picks from a map, even of one
// endpoint, and its chains remember each client's endpoint in a map keyed by
// client address, affinity-<pick> (flags dynamic, timeout), shared like the
// endpoint map:
//
//	ip saddr map @affinity-<pick> -> it; <pick> . it in @affinity-endpoints-v4 ->
//	    update @affinity-<pick> { ip saddr timeout T : it }, dnat ip to it
//	numgen random mod N map @endpoints-<pick> -> it;
//	    add @affinity-<pick> { ip saddr timeout T : it }, dnat ip to it
//	dnat ip to numgen random mod N map @endpoints-<pick>
//
// The last rule serves the clients past the 65,535 that the kernel lets a
// dynamic map hold (upstream's limit is per endpoint), without affinity.
// affinity-endpoints-v4 { <pick> . <ip> . <port> } holds the endpoints of
// every such map, written with them in one transaction, so that an entry
// naming a removed endpoint is never used; those entries are deleted just
// after (see table.forget) so that their clients stick to their next
// endpoint at once. Until then, and if the delete fails, the second rule's
// "add" leaves them in place without refreshing them, so they expire at
// last. Upstream has a timeout set per endpoint; here that would take a rule
// and a chain per endpoint, which the layout avoids (below), and a set per
// Service port would cost as much again as the endpoint maps do.
//
// The kernel's costs shape this. Endpoints are map elements rather than
// chains of their own (as upstream has them) because every transaction that
// adds a jump or goto has the kernel walk the whole graph of chains from the
// base chains; a map that many rules use is checked against every one of
// them for each element added; anonymous maps are named by scanning all
// the others; and named sets are found, for each rule that uses one and
// each message of elements, by scanning the list of the table's sets. So a
// thousand Services of ten endpoints are two thousand chains and a thousand
// maps, not twelve thousand chains, and their write stays near linear (with
// affinity on all of them, two thousand maps: 2.5 times as long).
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

	setClusterIPs  = "cluster-ips"
	setNodePortIPs = "nodeport-ips"
	setHairpin     = "hairpin"
	// setAffinityEndpoints holds pick . address . port of the endpoints of
	// every endpoint map that has an affinity map.
	setAffinityEndpoints = "affinity-endpoints"
	mapServiceIPs        = "service-ips"
	mapNoEndpointIPs     = "no-endpoint-services"
	mapNodePorts         = "service-nodeports"
	mapNoEndpointPort    = "no-endpoint-nodeports"
	// The maps made for a pick number, named by it in hex.
	mapEndpointsOf = "endpoints-"
	mapAffinityOf  = "affinity-"

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
// masquerade first (external chains, unless externalTrafficPolicy is Local);
// markLoopback to mark only what comes from 127.0.0.0/8 (IPv4 external
// chains that keep the source: a loopback source cannot leave the node).
type chainSpec struct {
	mark, markLoopback bool
	proto              byte
	v6                 bool
	// one is the endpoint when there is only one and no affinity. Otherwise
	// the chain picks among the n elements of the endpoint map numbered pick.
	one  netip.AddrPort
	pick uint32
	n    uint32
	// affinity is the session affinity timeout, 0 for none.
	affinity time.Duration
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
		if len(eps) == 1 && spec.affinity == 0 {
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
	var balanced []*servicePort
	for _, sp := range sps {
		svc := "service-" + sp.id
		for _, ip := range sp.ips {
			rs.elems[elem{setName(setClusterIPs, sp.v6), string(ip.AsSlice())}] = ""
			key := string(serviceKey(ip, sp.proto, sp.port))
			if len(sp.cluster) > 0 {
				addChain(svc, svc, chainSpec{proto: sp.proto, v6: sp.v6, affinity: sp.affinity}, sp.cluster)
				rs.elems[elem{setName(mapServiceIPs, sp.v6), key}] = svc
			} else {
				rs.elems[elem{setName(mapNoEndpointIPs, sp.v6), key}] = chainReject
			}
		}
		if len(sp.lbIPs) > 0 {
			balanced = append(balanced, sp)
		}
		if sp.nodePort == 0 && len(sp.lbIPs) == 0 {
			continue
		}
		if len(sp.external) > 0 {
			// External traffic mostly goes where ClusterIP traffic goes: then
			// both chains pick from one map, which halves the maps.
			ext, owner := "external-"+sp.id, "external-"+sp.id
			if slices.Equal(sp.external, sp.cluster) {
				owner = svc
			}
			spec := chainSpec{mark: !sp.externalLocal, markLoopback: sp.externalLocal && !sp.v6, proto: sp.proto, v6: sp.v6, affinity: sp.affinity}
			addChain(ext, owner, spec, sp.external)
		}
		if sp.nodePort == 0 {
			continue
		}
		key := string(portKey(sp.proto, sp.nodePort))
		if len(sp.external) > 0 {
			rs.elems[elem{setName(mapNodePorts, sp.v6), key}] = "external-" + sp.id
		} else {
			rs.elems[elem{setName(mapNoEndpointPort, sp.v6), key}] = chainReject
		}
	}
	rs.addLoadBalancerIPs(balanced)
	rs.numberPicks(owners, users)
	return rs
}

// addLoadBalancerIPs adds the elements of LoadBalancer ingress addresses,
// after those of every ClusterIP. Nothing stops two Services from holding
// the same address and port (a node address, given to every LoadBalancer by
// a controller like k3s's): the first by ID keeps it, so that the rules do
// not change from one sync to the next.
func (rs *ruleset) addLoadBalancerIPs(sps []*servicePort) {
	slices.SortFunc(sps, func(a, b *servicePort) int { return cmp.Compare(a.id, b.id) })
	for _, sp := range sps {
		for _, ip := range sp.lbIPs {
			key := string(serviceKey(ip, sp.proto, sp.port))
			served, refused := elem{setName(mapServiceIPs, sp.v6), key}, elem{setName(mapNoEndpointIPs, sp.v6), key}
			if _, ok := rs.elems[served]; ok {
				continue
			}
			if _, ok := rs.elems[refused]; ok {
				continue
			}
			if len(sp.external) > 0 {
				rs.elems[served] = "external-" + sp.id
			} else {
				rs.elems[refused] = chainReject
			}
		}
	}
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
		spec := rs.chains[owner]
		for i, e := range owners[owner] {
			rs.elems[elem{pickSetName(mapEndpointsOf, pick), string(binary.NativeEndian.AppendUint32(nil, uint32(i)))}] = string(addrPortData(e.addr))
			if spec.affinity > 0 {
				rs.elems[elem{setName(setAffinityEndpoints, spec.v6), string(affinityEndpointKey(pick, e.addr))}] = ""
			}
		}
	}
	for name, owner := range users {
		spec := rs.chains[name]
		spec.pick, spec.n = picks[owner], uint32(len(owners[owner]))
		rs.chains[name] = spec
	}
}

// pickSetName names the map of kind (mapEndpointsOf, mapAffinityOf)
// numbered pick.
func pickSetName(kind string, pick uint32) string {
	return fmt.Sprintf("%s%08x", kind, pick)
}

// pickSet is a map made for a pick number: its kind and family.
type pickSet struct {
	kind string
	pick uint32
	v6   bool
}

// pickSets lists the maps that rs's chains pick from and remember picks in.
func (rs *ruleset) pickSets() map[string]pickSet {
	m := map[string]pickSet{}
	for _, spec := range rs.chains {
		if spec.n == 0 {
			continue
		}
		kinds := []string{mapEndpointsOf}
		if spec.affinity > 0 {
			kinds = append(kinds, mapAffinityOf)
		}
		for _, k := range kinds {
			m[pickSetName(k, spec.pick)] = pickSet{k, spec.pick, spec.v6}
		}
	}
	return m
}

// change is what turns one ruleset into another.
type change struct {
	newSets     []string // pick maps to create, before the chains that use them
	newChains   []string // to create, then write
	writeChains []string // existing, to flush and write again
	delChains   []string // to flush and delete, after the elements that point at them
	delSets     []string // pick maps to delete, after the chains that used them
	delElems    []elem   // but not those of deleted maps
	addElems    []elem
	// staleAffinity are the affinity maps that stay but lost endpoints:
	// entries naming those are left to forget.
	staleAffinity []pickSet
}

func (c change) empty() bool {
	return len(c.newSets)+len(c.newChains)+len(c.writeChains)+len(c.delChains)+len(c.delSets)+len(c.delElems)+len(c.addElems) == 0
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
	oldSets, curSets := old.pickSets(), cur.pickSets()
	for name := range curSets {
		if _, ok := oldSets[name]; !ok {
			c.newSets = append(c.newSets, name)
		}
	}
	gone := map[string]bool{}
	for name := range oldSets {
		if _, ok := curSets[name]; !ok {
			c.delSets = append(c.delSets, name)
			gone[name] = true
		}
	}
	stale := map[string]pickSet{}
	for e := range old.elems {
		if _, ok := cur.elems[e]; !ok && !gone[e.set] {
			c.delElems = append(c.delElems, e)
			if e.set == setName(setAffinityEndpoints, false) || e.set == setName(setAffinityEndpoints, true) {
				name := pickSetName(mapAffinityOf, binary.NativeEndian.Uint32([]byte(e.key)))
				if ps, ok := curSets[name]; ok {
					stale[name] = ps
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(stale)) {
		c.staleAffinity = append(c.staleAffinity, stale[name])
	}
	slices.Sort(c.newSets)
	slices.Sort(c.delSets)
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

// affinityEndpointKey is the key of an affinity-endpoints element: pick .
// address . port, as the rules load them.
func affinityEndpointKey(pick uint32, ap netip.AddrPort) []byte {
	return append(binary.NativeEndian.AppendUint32(nil, pick), addrPortData(ap)...)
}

// portKey is the key of a service-nodeports element: protocol . port.
func portKey(proto byte, port uint16) []byte {
	return []byte{proto, 0, 0, 0, byte(port >> 8), byte(port), 0, 0}
}
