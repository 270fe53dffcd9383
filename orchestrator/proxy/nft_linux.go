package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// family is what the rules of one address family differ in.
type family struct {
	v6       bool
	nfproto  byte
	addrLen  uint32
	saddr    uint32 // offsets in the network header
	daddr    uint32
	addrType nftables.SetDatatype
	natFam   uint32
}

var families = []family{
	{false, unix.NFPROTO_IPV4, 4, 12, 16, nftables.TypeIPAddr, unix.NFPROTO_IPV4},
	{true, unix.NFPROTO_IPV6, 16, 8, 24, nftables.TypeIP6Addr, unix.NFPROTO_IPV6},
}

func familyOf(a netip.Addr) family { return familyFor(a.Is6()) }

func familyFor(v6 bool) family {
	if v6 {
		return families[1]
	}
	return families[0]
}

// ctStatusDstNAT is conntrack's IPS_DST_NAT: the connection was DNATed.
const ctStatusDstNAT = 1 << 5

var (
	// loopback is IPv4's loopback range, which route_localnet opens.
	loopback = netip.MustParsePrefix("127.0.0.0/8")
	// localhost is where node processes reach NodePorts besides the node's
	// addresses (IPv4 only, as upstream's iptables mode).
	localhost = netip.MustParseAddr("127.0.0.1")
)

// reg32 is the first of nftables' 32-bit registers (NFT_REG32_00), which
// concatenations are loaded into; it overlaps NFT_REG_1.
const reg32 = 8

// table writes the proxier's nftables table.
type table struct {
	name   string
	netns  int
	static staticConfig
}

func (tb *table) t() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: tb.name}
}

func (tb *table) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: tb.t()}
}

// tx is one nftables transaction and the number of messages in it, which
// sizes the socket buffers: the batch goes out in one message and the kernel
// acknowledges each part of it before any is read.
type tx struct {
	*nftables.Conn
	tb  *table
	ops int
}

// open starts a transaction on the table. The socket is made when the
// transaction is sent, and sized then.
func (tb *table) open() (*tx, error) {
	x := &tx{tb: tb}
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		return socketBuffers(c, max(x.ops*2048, 4<<20))
	})}
	if tb.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(tb.netns))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("opening nftables: %w", err)
	}
	x.Conn = c
	return x, nil
}

// socketBuffers raises the socket's buffers to size, past the sysctl limits
// when allowed (programming nftables needs CAP_NET_ADMIN anyway).
func socketBuffers(c *netlink.Conn, size int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		for _, o := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[0], size); e != nil {
				serr = errors.Join(serr, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o[1], size))
			}
		}
	}); err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("sizing netlink socket buffers: %w", serr)
	}
	return nil
}

func (x *tx) rule(chain string, exprs ...[]expr.Any) {
	var all []expr.Any
	for _, e := range exprs {
		all = append(all, e...)
	}
	x.AddRule(&nftables.Rule{Table: x.tb.t(), Chain: x.tb.chain(chain), Exprs: all})
	x.ops++
}

func (x *tx) set(name string, s nftables.Set) *nftables.Set {
	s.Table, s.Name = x.tb.t(), name
	return &s
}

// writeAll replaces the table with the static part and rs, in one
// transaction.
func (tb *table) writeAll(rs *ruleset) error {
	x, err := tb.open()
	if err != nil {
		return err
	}
	t := tb.t()
	// Adding first makes the delete succeed when there is no table yet.
	x.AddTable(t)
	x.DelTable(t)
	x.AddTable(t)
	x.ops += 3
	if err := x.static(); err != nil {
		return err
	}
	if err := x.apply(rs, all(rs)); err != nil {
		return err
	}
	if err := x.Flush(); err != nil {
		return fmt.Errorf("writing nftables table inet %s: %w", tb.name, err)
	}
	return nil
}

// update turns the table from old into cur, changing only what differs, and
// returns the change.
func (tb *table) update(old, cur *ruleset) (change, error) {
	c := diff(old, cur)
	if c.empty() {
		return c, nil
	}
	x, err := tb.open()
	if err != nil {
		return change{}, err
	}
	if err := x.apply(cur, c); err != nil {
		return change{}, err
	}
	if err := x.Flush(); err != nil {
		return change{}, fmt.Errorf("updating nftables table inet %s: %w", tb.name, err)
	}
	return c, nil
}

// forget deletes the entries of the given affinity maps that name an
// endpoint no longer in the map's set of endpoints (cur's). The rules ignore
// them already; deleting them lets their clients stick to their next
// endpoint. It must follow the update that removed the endpoints: from then
// on no rule adds such an entry, so one listing finds them all. (An entry
// that times out and is made again for its client between the listing and
// the delete goes too: that client picks anew once more.)
func (tb *table) forget(maps []pickSet, cur *ruleset) error {
	if len(maps) == 0 {
		return nil
	}
	// An entry can time out between the listing and the delete, which fails
	// the whole batch: list again then.
	var err error
	for range 3 {
		if err = tb.forgetOnce(maps, cur); err == nil {
			return nil
		}
	}
	return err
}

func (tb *table) forgetOnce(maps []pickSet, cur *ruleset) error {
	x, err := tb.open()
	if err != nil {
		return err
	}
	for _, m := range maps {
		name := pickSetName(mapAffinityOf, m.pick)
		s := &nftables.Set{Table: tb.t(), Name: name}
		entries, err := x.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("listing nftables map %s: %w", name, err)
		}
		valid := setName(setAffinityEndpoints, m.v6)
		pick := binary.NativeEndian.AppendUint32(nil, m.pick)
		var stale []nftables.SetElement
		for _, e := range entries {
			if _, ok := cur.elems[elem{valid, string(append(pick, e.Val...))}]; !ok {
				stale = append(stale, nftables.SetElement{Key: e.Key})
			}
		}
		for chunk := range slices.Chunk(stale, 256) {
			if err := x.SetDeleteElements(s, chunk); err != nil {
				return fmt.Errorf("nftables map %s: %w", name, err)
			}
			x.ops++
		}
	}
	if x.ops == 0 {
		return nil
	}
	if err := x.Flush(); err != nil {
		return fmt.Errorf("forgetting session affinities to removed endpoints in table inet %s: %w", tb.name, err)
	}
	return nil
}

// static adds the sets, maps and fixed chains.
func (x *tx) static() error {
	t := x.tb.t()
	base := func(name string, typ nftables.ChainType, hook *nftables.ChainHook, prio nftables.ChainPriority) {
		x.AddChain(&nftables.Chain{Name: name, Table: t, Type: typ, Hooknum: hook, Priority: nftables.ChainPriorityRef(prio)})
		x.ops++
	}
	regular := func(names ...string) {
		for _, n := range names {
			x.AddChain(x.tb.chain(n))
			x.ops++
		}
	}
	base("nat-prerouting", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, *nftables.ChainPriorityNATDest)
	base("nat-output", nftables.ChainTypeNAT, nftables.ChainHookOutput, *nftables.ChainPriorityNATDest)
	base("nat-postrouting", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, *nftables.ChainPriorityNATSource)
	base("filter-input", nftables.ChainTypeFilter, nftables.ChainHookInput, -110)
	base("filter-forward", nftables.ChainTypeFilter, nftables.ChainHookForward, -110)
	base("filter-output", nftables.ChainTypeFilter, nftables.ChainHookOutput, -110)
	base("filter-output-post-dnat", nftables.ChainTypeFilter, nftables.ChainHookOutput, -90)
	regular(chainServices, chainServiceCheck, chainNodePortCheck, chainClusterIPsCheck, chainReject, chainMark, chainMasquerading)

	for _, f := range families {
		concat := nftables.MustConcatSetType(f.addrType, nftables.TypeInetProto, nftables.TypeInetService)
		ports := nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
		pairs := nftables.MustConcatSetType(f.addrType, f.addrType)
		picked := nftables.MustConcatSetType(nftables.TypeInteger, f.addrType, nftables.TypeInetService)
		var nodeIPs []nftables.SetElement
		if !f.v6 {
			nodeIPs = append(nodeIPs, nftables.SetElement{Key: localhost.AsSlice()})
		}
		for _, ip := range x.tb.static.nodeIPs {
			if ip.Is6() == f.v6 {
				nodeIPs = append(nodeIPs, nftables.SetElement{Key: ip.AsSlice()})
			}
		}
		for _, s := range []*nftables.Set{
			x.set(setName(setClusterIPs, f.v6), nftables.Set{KeyType: f.addrType}),
			x.set(setName(setNodePortIPs, f.v6), nftables.Set{KeyType: f.addrType}),
			x.set(setName(setHairpin, f.v6), nftables.Set{Concatenation: true, KeyType: pairs}),
			x.set(setName(setAffinityEndpoints, f.v6), nftables.Set{Concatenation: true, KeyType: picked}),
			x.set(setName(mapServiceIPs, f.v6), nftables.Set{IsMap: true, Concatenation: true, KeyType: concat, DataType: nftables.TypeVerdict}),
			x.set(setName(mapNoEndpointIPs, f.v6), nftables.Set{IsMap: true, Concatenation: true, KeyType: concat, DataType: nftables.TypeVerdict}),
			x.set(setName(mapNodePorts, f.v6), nftables.Set{IsMap: true, Concatenation: true, KeyType: ports, DataType: nftables.TypeVerdict}),
			x.set(setName(mapNoEndpointPort, f.v6), nftables.Set{IsMap: true, Concatenation: true, KeyType: ports, DataType: nftables.TypeVerdict}),
		} {
			var elems []nftables.SetElement
			if s.Name == setName(setNodePortIPs, f.v6) {
				elems = nodeIPs
			}
			if err := x.AddSet(s, elems); err != nil {
				return fmt.Errorf("adding nftables set %s: %w", s.Name, err)
			}
			x.ops += 2
		}
	}

	newConn := ctStateNew()
	x.rule("nat-prerouting", jump(chainServices))
	x.rule("nat-output", jump(chainServices))
	x.rule("nat-postrouting", jump(chainMasquerading))
	x.rule("filter-input", families[0].match(), matchPrefix(families[0].daddr, loopback, true), matchPrefix(families[0].saddr, loopback, false),
		ctStateNone(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), ctStatusNone(ctStatusDstNAT), []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})
	x.rule("filter-input", newConn, jump(chainNodePortCheck))
	x.rule("filter-input", newConn, jump(chainServiceCheck))
	x.rule("filter-forward", newConn, jump(chainServiceCheck))
	x.rule("filter-forward", newConn, jump(chainClusterIPsCheck))
	x.rule("filter-output", newConn, jump(chainNodePortCheck))
	x.rule("filter-output", newConn, jump(chainServiceCheck))
	x.rule("filter-output-post-dnat", newConn, jump(chainClusterIPsCheck))
	for _, f := range families {
		x.rule(chainServices, f.serviceLookup(setName(mapServiceIPs, f.v6)))
		x.rule(chainServices, f.nodePortLookup(setName(setNodePortIPs, f.v6), setName(mapNodePorts, f.v6)))
		x.rule(chainServiceCheck, f.serviceLookup(setName(mapNoEndpointIPs, f.v6)))
		x.rule(chainNodePortCheck, f.nodePortLookup(setName(setNodePortIPs, f.v6), setName(mapNoEndpointPort, f.v6)))
		x.rule(chainClusterIPsCheck, f.match(), f.load(f.daddr, 1), lookup(1, setName(setClusterIPs, f.v6)), jump(chainReject))
	}
	for _, p := range x.tb.static.serviceCIDRs {
		x.rule(chainClusterIPsCheck, familyOf(p.Addr()).match(), matchPrefix(familyOf(p.Addr()).daddr, p, true), jump(chainReject))
	}
	x.rule(chainReject, matchL4Proto(unix.IPPROTO_TCP), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}})
	x.rule(chainReject, []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH}})
	x.rule(chainMark, setMark(^uint32(masqueradeMark), masqueradeMark))
	for _, f := range families {
		x.rule(chainMasquerading, ctStatus(ctStatusDstNAT), f.match(), f.load(f.saddr, reg32), f.load(f.daddr, reg32+f.addrLen/4),
			lookup(reg32, setName(setHairpin, f.v6)), []expr.Any{&expr.Masq{FullyRandom: true}})
	}
	x.rule(chainMasquerading, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(masqueradeMark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
		&expr.Verdict{Kind: expr.VerdictReturn},
	})
	x.rule(chainMasquerading, setMark(^uint32(0), masqueradeMark), []expr.Any{&expr.Masq{FullyRandom: true}})
	return nil
}

// apply queues change c towards rs.
func (x *tx) apply(rs *ruleset, c change) error {
	sets := rs.pickSets()
	for _, name := range c.newSets {
		ps := sets[name]
		f := familyFor(ps.v6)
		addrPort := nftables.MustConcatSetType(f.addrType, nftables.TypeInetService)
		var s nftables.Set
		switch ps.kind {
		case mapEndpointsOf:
			s = nftables.Set{IsMap: true, KeyType: nftables.TypeInteger, DataType: addrPort}
		case mapAffinityOf:
			// Its entries come from the rules, each with the chain's timeout.
			s = nftables.Set{IsMap: true, Dynamic: true, HasTimeout: true, KeyType: f.addrType, DataType: addrPort}
		}
		if err := x.AddSet(x.set(name, s), nil); err != nil {
			return fmt.Errorf("adding nftables set %s: %w", name, err)
		}
		x.ops++
	}
	for _, name := range c.newChains {
		x.AddChain(x.tb.chain(name))
		x.ops++
	}
	for _, name := range c.writeChains {
		x.FlushChain(x.tb.chain(name))
		x.ops++
	}
	for _, list := range [][]string{c.newChains, c.writeChains} {
		for _, name := range list {
			x.writeChain(name, rs.chains[name])
		}
	}
	if err := x.elements(c.delElems, nil); err != nil {
		return err
	}
	if err := x.elements(c.addElems, rs.elems); err != nil {
		return err
	}
	// Flush every stale chain before deleting any: a stale service chain
	// still jumps to stale endpoint chains until it is flushed.
	for _, name := range c.delChains {
		x.FlushChain(x.tb.chain(name))
		x.ops++
	}
	for _, name := range c.delChains {
		x.DelChain(x.tb.chain(name))
		x.ops++
	}
	for _, name := range c.delSets {
		x.DelSet(&nftables.Set{Table: x.tb.t(), Name: name})
		x.ops++
	}
	return nil
}

// elements deletes elems (to is nil) or adds them with their values, in
// messages of one set each and of a bounded size (a netlink attribute holds
// at most 64 KiB). elems come sorted by set, as diff makes them.
func (x *tx) elements(elems []elem, to map[elem]string) error {
	const chunk = 256
	for len(elems) > 0 {
		name := elems[0].set
		n := 1
		for n < len(elems) && n < chunk && elems[n].set == name {
			n++
		}
		batch := make([]nftables.SetElement, n)
		for i, e := range elems[:n] {
			batch[i].Key = []byte(e.key)
			switch {
			case to == nil || to[e] == "":
			case strings.HasPrefix(name, mapEndpointsOf):
				batch[i].Val = []byte(to[e])
			default:
				batch[i].VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: to[e]}
			}
		}
		elems = elems[n:]
		s := &nftables.Set{Table: x.tb.t(), Name: name}
		var err error
		if to == nil {
			err = x.SetDeleteElements(s, batch)
		} else {
			err = x.SetAddElements(s, batch)
		}
		x.ops++
		if err != nil {
			return fmt.Errorf("nftables set %s: %w", name, err)
		}
	}
	return nil
}

// writeChain queues the rules of a per-port chain.
func (x *tx) writeChain(name string, spec chainSpec) {
	f := familyFor(spec.v6)
	if spec.mark {
		x.rule(name, jump(chainMark))
	}
	if spec.markLoopback {
		x.rule(name, matchPrefix(f.saddr, loopback, true), setMark(^uint32(masqueradeMark), masqueradeMark))
	}
	if spec.n == 0 {
		x.rule(name, matchL4Proto(spec.proto), dnat(f, spec.one))
		return
	}
	endpoints := pickSetName(mapEndpointsOf, spec.pick)
	if spec.affinity > 0 {
		affinity := pickSetName(mapAffinityOf, spec.pick)
		// The client's address in the registers from reg32 on, then the
		// pick number, then the endpoint's address and port: the last two
		// are a key of affinity-endpoints, the last one what DNAT takes.
		key, pick := uint32(reg32), reg32+f.addrLen/4
		data := pick + 1
		x.rule(name, matchL4Proto(spec.proto), f.load(f.saddr, key), []expr.Any{
			&expr.Lookup{SourceRegister: key, SetName: affinity, DestRegister: data, IsDestRegSet: true},
			&expr.Immediate{Register: pick, Data: binaryutil.NativeEndian.PutUint32(spec.pick)},
			&expr.Lookup{SourceRegister: pick, SetName: setName(setAffinityEndpoints, spec.v6)},
			&expr.Dynset{SrcRegKey: key, SrcRegData: data, SetName: affinity, Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: spec.affinity},
		}, dnatFrom(f, data))
		// The random index where the pick number was. Add, not update: an
		// entry naming a removed endpoint stays as it is, unused, until
		// forgotten or timed out.
		x.rule(name, matchL4Proto(spec.proto), f.load(f.saddr, key), []expr.Any{
			&expr.Numgen{Register: pick, Modulus: spec.n, Type: unix.NFT_NG_RANDOM},
			&expr.Lookup{SourceRegister: pick, SetName: endpoints, DestRegister: data, IsDestRegSet: true},
			&expr.Dynset{SrcRegKey: key, SrcRegData: data, SetName: affinity, Operation: unix.NFT_DYNSET_OP_ADD, Timeout: spec.affinity},
		}, dnatFrom(f, data))
	}
	// The address and port found land in consecutive 32-bit registers.
	data := uint32(reg32 + 1)
	x.rule(name, matchL4Proto(spec.proto), []expr.Any{
		&expr.Numgen{Register: reg32, Modulus: spec.n, Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: reg32, SetName: endpoints, DestRegister: data, IsDestRegSet: true},
	}, dnatFrom(f, data))
}

// dnatFrom is "dnat to" the address and port in the 32-bit registers from
// reg on.
func dnatFrom(f family, reg uint32) []expr.Any {
	return []expr.Any{&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.natFam, RegAddrMin: reg, RegProtoMin: reg + f.addrLen/4, Specified: true}}
}

// deleteTable deletes the table if it is there.
func (tb *table) deleteTable() error {
	x, err := tb.open()
	if err != nil {
		return err
	}
	tables, err := x.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("listing nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == tb.name {
			x.DelTable(tb.t())
			if err := x.Flush(); err != nil {
				return fmt.Errorf("deleting nftables table inet %s: %w", tb.name, err)
			}
			return nil
		}
	}
	return nil
}

// match matches packets of family f; the inet family needs it before any
// match on the network header.
func (f family) match() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.nfproto}},
	}
}

func (f family) load(offset, reg uint32) []expr.Any {
	return []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: f.addrLen}}
}

// protoPort loads "meta l4proto . th dport" into consecutive 32-bit
// registers from reg on.
func protoPort(reg uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
		&expr.Payload{DestRegister: reg + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// serviceLookup is "ip daddr . meta l4proto . th dport vmap @m".
func (f family) serviceLookup(m string) []expr.Any {
	exprs := f.match()
	exprs = append(exprs, f.load(f.daddr, reg32)...)
	exprs = append(exprs, protoPort(reg32+f.addrLen/4)...)
	return append(exprs, &expr.Lookup{SourceRegister: reg32, SetName: m, IsDestRegSet: true})
}

// nodePortLookup is "ip daddr @ips meta l4proto . th dport vmap @m".
func (f family) nodePortLookup(ips, m string) []expr.Any {
	exprs := f.match()
	exprs = append(exprs, f.load(f.daddr, 1)...)
	exprs = append(exprs, lookup(1, ips)...)
	exprs = append(exprs, protoPort(reg32)...)
	return append(exprs, &expr.Lookup{SourceRegister: reg32, SetName: m, IsDestRegSet: true})
}

func lookup(reg uint32, set string) []expr.Any {
	return []expr.Any{&expr.Lookup{SourceRegister: reg, SetName: set}}
}

// matchPrefix matches packets whose address at offset (f.saddr or f.daddr)
// is in p (or not, unless in). Packets must be of p's family.
func matchPrefix(offset uint32, p netip.Prefix, in bool) []expr.Any {
	f := familyOf(p.Addr())
	exprs := f.load(offset, 1)
	if p.Bits() < p.Addr().BitLen() {
		mask := netip.PrefixFrom(p.Addr(), p.Bits())
		m := make([]byte, f.addrLen)
		for i := range m {
			bits := min(max(mask.Bits()-i*8, 0), 8)
			m[i] = byte(0xff << (8 - bits))
		}
		exprs = append(exprs, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: f.addrLen, Mask: m, Xor: make([]byte, f.addrLen)})
	}
	op := expr.CmpOpEq
	if !in {
		op = expr.CmpOpNeq
	}
	return append(exprs, &expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

func matchL4Proto(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// ctStateNew is "ct state new".
func ctStateNew() []expr.Any { return ctBits(expr.CtKeySTATE, expr.CtStateBitNEW, expr.CmpOpNeq) }

// ctStatus matches connections with any of the given status bits.
func ctStatus(bits uint32) []expr.Any { return ctBits(expr.CtKeySTATUS, bits, expr.CmpOpNeq) }

// ctStatusNone matches connections with none of the given status bits.
func ctStatusNone(bits uint32) []expr.Any { return ctBits(expr.CtKeySTATUS, bits, expr.CmpOpEq) }

// ctStateNone matches packets in none of the given conntrack states.
func ctStateNone(bits uint32) []expr.Any { return ctBits(expr.CtKeySTATE, bits, expr.CmpOpEq) }

// ctBits compares "ct <key> & bits" with zero.
func ctBits(key expr.CtKey, bits uint32, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)},
	}
}

// setMark is "meta mark set meta mark & mask ^ xor".
func setMark(mask, xor uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: binaryutil.NativeEndian.PutUint32(xor)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}
}

// dnat is "dnat ip(6) to addr".
func dnat(f family, addr netip.AddrPort) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: addr.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(addr.Port())},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.natFam, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func jump(chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chain}}
}
