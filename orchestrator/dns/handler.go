package dns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

const (
	// maxChase bounds how many ExternalName CNAMEs one answer follows.
	maxChase = 8
	// advertisedUDPSize is the EDNS0 buffer size the server offers.
	advertisedUDPSize = 1232
)

// handler answers one query: names in the cluster domain and the reverse
// names of cluster addresses from the zone, the rest from the upstreams.
type handler struct {
	ctx       context.Context
	zone      *zone
	upstreams []string
	clients   []*net.IPNet // nil: everyone
	log       *slog.Logger
}

func (h *handler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	var resp *dns.Msg
	if h.allowed(w.RemoteAddr()) {
		resp = h.answer(r, tcp)
	} else {
		resp = failure(r, dns.RcodeRefused)
	}
	size := dns.MinMsgSize
	switch {
	case tcp:
		size = dns.MaxMsgSize
	case r.IsEdns0() != nil:
		size = max(int(r.IsEdns0().UDPSize()), dns.MinMsgSize)
	}
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		h.log.Debug("writing answer", "client", w.RemoteAddr(), "err", err)
	}
}

// allowed reports whether a client's queries are answered.
func (h *handler) allowed(addr net.Addr) bool {
	if h.clients == nil {
		return true
	}
	var ip net.IP
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	if ip == nil {
		return false
	}
	return ip.IsLoopback() || slices.ContainsFunc(h.clients, func(n *net.IPNet) bool { return n.Contains(ip) })
}

func (h *handler) answer(r *dns.Msg, tcp bool) *dns.Msg {
	if r.Opcode != dns.OpcodeQuery {
		return failure(r, dns.RcodeNotImplemented)
	}
	if len(r.Question) != 1 {
		return failure(r, dns.RcodeFormatError)
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if h.zone.contains(name) {
		return h.authoritative(r, tcp, 0)
	}
	if ip, ok := reverseAddr(name); ok && q.Qtype == dns.TypePTR {
		ptrs, known, err := h.zone.lookupPTR(q.Name, ip)
		if err != nil {
			h.log.Warn("answering PTR", "name", q.Name, "err", err)
			return failure(r, dns.RcodeServerFailure)
		}
		if known {
			m := h.reply(r)
			m.Answer = ptrs
			return m
		}
		// Not a cluster address: the upstreams may know it.
	}
	resp, err := forward(h.ctx, h.upstreams, r.Copy(), tcp)
	if err != nil {
		h.log.Debug("forwarding", "name", q.Name, "err", err)
		return failure(r, dns.RcodeServerFailure)
	}
	resp.Id = r.Id
	resp.Question = slices.Clone(r.Question)
	return resp
}

// reply starts an authoritative answer to r.
func (h *handler) reply(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	if r.IsEdns0() != nil {
		m.SetEdns0(advertisedUDPSize, false)
	}
	return m
}

// authoritative answers a name in the cluster domain, following an
// ExternalName's CNAME into the zone or to the upstreams.
func (h *handler) authoritative(r *dns.Msg, tcp bool, depth int) *dns.Msg {
	q := r.Question[0]
	res, err := h.zone.lookup(q.Name, q.Qtype)
	if err != nil {
		h.log.Warn("answering from the cluster caches", "name", q.Name, "err", err)
		return failure(r, dns.RcodeServerFailure)
	}
	m := h.reply(r)
	m.Answer, m.Extra = res.answer, append(m.Extra, res.extra...)
	switch {
	case !res.exists:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{h.zone.soa()}
		return m
	case len(res.answer) == 0:
		m.Ns = []dns.RR{h.zone.soa()}
		return m
	case res.cname == "" || q.Qtype == dns.TypeCNAME || depth >= maxChase:
		return m
	}

	sub := new(dns.Msg)
	sub.SetQuestion(res.cname, q.Qtype)
	sub.RecursionDesired = true
	if o := r.IsEdns0(); o != nil {
		sub.SetEdns0(o.UDPSize(), o.Do())
	}
	var next *dns.Msg
	if h.zone.contains(res.cname) {
		next = h.authoritative(sub, tcp, depth+1)
	} else {
		next, err = forward(h.ctx, h.upstreams, sub, tcp)
		if err != nil {
			// The client's resolver can still follow the CNAME itself.
			h.log.Debug("following ExternalName", "name", q.Name, "target", res.cname, "err", err)
			return m
		}
	}
	m.Answer = append(m.Answer, next.Answer...)
	m.Rcode = next.Rcode
	if len(next.Answer) == 0 {
		m.Ns = next.Ns
	}
	return m
}

func failure(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.RecursionAvailable = true
	return m
}

// reverseAddr reads the address of an in-addr.arpa or ip6.arpa name (lower
// case, fully qualified).
func reverseAddr(name string) (netip.Addr, bool) {
	switch {
	case strings.HasSuffix(name, ".in-addr.arpa."):
		labels := strings.Split(strings.TrimSuffix(name, ".in-addr.arpa."), ".")
		if len(labels) != 4 {
			return netip.Addr{}, false
		}
		slices.Reverse(labels)
		ip, err := netip.ParseAddr(strings.Join(labels, "."))
		return ip, err == nil && ip.Is4()
	case strings.HasSuffix(name, ".ip6.arpa."):
		labels := strings.Split(strings.TrimSuffix(name, ".ip6.arpa."), ".")
		if len(labels) != 32 {
			return netip.Addr{}, false
		}
		slices.Reverse(labels)
		var b strings.Builder
		for i, l := range labels {
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			if i > 0 && i%4 == 0 {
				b.WriteByte(':')
			}
			b.WriteString(l)
		}
		ip, err := netip.ParseAddr(b.String())
		return ip, err == nil && ip.Is6()
	}
	return netip.Addr{}, false
}
