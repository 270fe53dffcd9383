package podnet

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The network's nftables table, in the inet family so that one table serves
// both IPv4 and IPv6, is what `nft list table inet berth-<bridge>` shows as:
//
//	chain prerouting { type nat hook prerouting priority dstnat
//	    ip daddr 127.0.0.0/8 return; ip6 daddr ::1 return
//	    fib daddr type local jump hostports }
//	chain output { type nat hook output priority dstnat; the same rules }
//	chain postrouting { type nat hook postrouting priority srcnat
//	    jump hairpin
//	    ip saddr <pod CIDR> jump pod-egress (one per pod CIDR) }
//	chain pod-egress {
//	    ip daddr <cluster or service CIDR> return (one per CIDR)
//	    masquerade }
//	chain hostports { meta l4proto tcp [ip daddr <host IP>] th dport 8080
//	    dnat ip to <pod IP>:80 comment "<owner>" (one per port and family) }
//	chain hairpin { ip saddr <pod IP> ip daddr <pod IP> ct status dnat
//	    masquerade comment "<owner>" (one per address of a pod with host ports) }
//
// Setup rewrites the first four chains; Add and Remove only the owner's rules
// in the last two, found by their comment, so a restarted agent finds them.
// Loopback destinations are left alone: a DNAT from 127.0.0.1 to a pod would
// need route_localnet, which opens the node's loopback to its neighbours.
// Host ports reached from another pod on this bridge rely on bridge netfilter
// to undo the DNAT of replies, which are bridged; a pod reaching its own host
// port is masqueraded, or it would drop the reply it sent itself.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainEgress      = "pod-egress"
	chainHostPorts   = "hostports"
	chainHairpin     = "hairpin"
)

// ipsDstNAT is conntrack's IPS_DST_NAT status bit.
const ipsDstNAT = 1 << 5

func (n *Network) tableName() string { return "berth-" + n.cfg.Bridge }

func (n *Network) table() *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: n.tableName()}
}

func (n *Network) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: n.table()}
}

// tableExists tells whether the network's table is there.
func (n *Network) tableExists(c *nftables.Conn) (bool, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("listing nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == n.tableName() {
			return true, nil
		}
	}
	return false, nil
}

// setupTable makes the table and its chains, and rewrites the rules that
// follow from the Config, in one transaction; owners' rules stay.
func (n *Network) setupTable() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("opening nftables: %w", err)
	}
	t := c.AddTable(n.table())
	nat := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
	}
	pre := nat(chainPrerouting, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	out := nat(chainOutput, nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	post := nat(chainPostrouting, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	egress := c.AddChain(&nftables.Chain{Name: chainEgress, Table: t})
	c.AddChain(&nftables.Chain{Name: chainHostPorts, Table: t})
	c.AddChain(&nftables.Chain{Name: chainHairpin, Table: t})
	add := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		var all []expr.Any
		for _, e := range exprs {
			all = append(all, e...)
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: all})
	}
	for _, ch := range []*nftables.Chain{pre, out, post, egress} {
		c.FlushChain(ch)
	}
	for _, ch := range []*nftables.Chain{pre, out} {
		add(ch, matchAddr(true, netip.MustParsePrefix("127.0.0.0/8")), verdict(expr.VerdictReturn, ""))
		add(ch, matchAddr(true, netip.MustParsePrefix("::1/128")), verdict(expr.VerdictReturn, ""))
		add(ch, localDestination(), verdict(expr.VerdictJump, chainHostPorts))
	}
	add(post, verdict(expr.VerdictJump, chainHairpin))
	for _, r := range n.ranges {
		add(post, matchAddr(false, r.prefix), verdict(expr.VerdictJump, chainEgress))
	}
	for _, p := range n.cluster {
		add(egress, matchAddr(true, p), verdict(expr.VerdictReturn, ""))
	}
	add(egress, []expr.Any{&expr.Masq{}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("writing nftables table inet %s: %w", n.tableName(), err)
	}
	return nil
}

// setOwnerRules replaces owner's host port rules with those for rules, in
// one transaction.
func (n *Network) setOwnerRules(owner string, rules []hostPortRule) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("opening nftables: %w", err)
	}
	if ok, err := n.tableExists(c); err != nil {
		return err
	} else if !ok {
		if len(rules) == 0 {
			return nil
		}
		return fmt.Errorf("nftables table inet %s is missing: was Setup run?", n.tableName())
	}
	stale, err := n.ownerRules(c, owner)
	if err != nil {
		return err
	}
	if len(stale) == 0 && len(rules) == 0 {
		return nil
	}
	for _, r := range stale {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("deleting host port rule of %s: %w", owner, err)
		}
	}
	t, comment := n.table(), userdata.AppendString(nil, userdata.TypeComment, owner)
	hairpins := map[netip.Addr]bool{}
	for _, r := range rules {
		var exprs []expr.Any
		exprs = append(exprs, matchFamily(r.podIP)...)
		if r.hostIP.IsValid() {
			exprs = append(exprs, matchAddr(true, netip.PrefixFrom(r.hostIP, r.hostIP.BitLen()))...)
		}
		exprs = append(exprs, matchPort(r.proto, r.hostPort)...)
		exprs = append(exprs, dnat(r.podIP, r.containerPort)...)
		c.AddRule(&nftables.Rule{Table: t, Chain: n.chain(chainHostPorts), Exprs: exprs, UserData: comment})
		hairpins[r.podIP] = true
	}
	for ip := range hairpins {
		host := netip.PrefixFrom(ip, ip.BitLen())
		var exprs []expr.Any
		exprs = append(exprs, matchAddr(false, host)...)
		exprs = append(exprs, matchAddr(true, host)...)
		exprs = append(exprs, dnatted()...)
		exprs = append(exprs, &expr.Masq{})
		c.AddRule(&nftables.Rule{Table: t, Chain: n.chain(chainHairpin), Exprs: exprs, UserData: comment})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("writing host port rules of %s: %w", owner, err)
	}
	return nil
}

// ownerRules returns owner's rules in the host port and hairpin chains.
func (n *Network) ownerRules(c *nftables.Conn, owner string) ([]*nftables.Rule, error) {
	var found []*nftables.Rule
	for _, name := range []string{chainHostPorts, chainHairpin} {
		rules, err := c.GetRules(n.table(), n.chain(name))
		if err != nil {
			return nil, fmt.Errorf("listing nftables chain %s: %w", name, err)
		}
		for _, r := range rules {
			if o, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok && o == owner {
				found = append(found, r)
			}
		}
	}
	return found, nil
}

// deleteTable deletes the network's table, if it is there.
func (n *Network) deleteTable() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("opening nftables: %w", err)
	}
	if ok, err := n.tableExists(c); err != nil || !ok {
		return err
	}
	c.DelTable(n.table())
	if err := c.Flush(); err != nil {
		return fmt.Errorf("deleting nftables table inet %s: %w", n.tableName(), err)
	}
	return nil
}

// matchFamily matches packets of a's family; the inet family needs it before
// any match on the network header.
func matchFamily(a netip.Addr) []expr.Any {
	proto := byte(unix.NFPROTO_IPV6)
	if a.Is4() {
		proto = unix.NFPROTO_IPV4
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// matchAddr matches the destination (dst) or source address against p.
func matchAddr(dst bool, p netip.Prefix) []expr.Any {
	a := p.Addr()
	offset, size := uint32(12), uint32(4) // IPv4 saddr
	if a.Is6() {
		offset, size = 8, 16
	}
	if dst {
		offset += size
	}
	exprs := matchFamily(a)
	exprs = append(exprs, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size})
	if p.Bits() < a.BitLen() {
		mask := make([]byte, size)
		for i := range mask {
			bits := min(max(p.Bits()-i*8, 0), 8)
			mask[i] = byte(0xff << (8 - bits))
		}
		exprs = append(exprs, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: mask, Xor: make([]byte, size)})
	}
	return append(exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

// matchPort matches a transport protocol and destination port.
func matchPort(proto byte, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// localDestination is "fib daddr type local".
func localDestination() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// dnatted is "ct status dnat".
func dnatted() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// dnat is "dnat ip(6) to ip:port".
func dnat(ip netip.Addr, port uint16) []expr.Any {
	family := uint32(unix.NFPROTO_IPV6)
	if ip.Is4() {
		family = unix.NFPROTO_IPV4
	}
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: ip.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: family, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

func verdict(kind expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}
}
