package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Informer index names.
const (
	clusterIPIndex = "berth-dns-clusterip" // Services by ClusterIP
	addressIndex   = "berth-dns-address"   // EndpointSlices by endpoint address
	serviceIndex   = "berth-dns-service"   // EndpointSlices by namespace/service
)

// dnsSchemaVersion is the version of the Kubernetes DNS specification
// answered at dns-version.<domain>.
const dnsSchemaVersion = "1.1.0"

func indexClusterIPs(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var keys []string
	for _, ip := range serviceIPs(svc) {
		keys = append(keys, ip.String())
	}
	return keys, nil
}

func indexEndpointAddresses(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || es.AddressType == discoveryv1.AddressTypeFQDN {
		return nil, nil
	}
	var keys []string
	for _, ep := range es.Endpoints {
		for _, a := range ep.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				keys = append(keys, ip.Unmap().String())
			}
		}
	}
	return keys, nil
}

func indexEndpointSliceService(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := es.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + name}, nil
}

// zone answers names under the cluster domain from the informer caches.
type zone struct {
	domain   string // lower case, fully qualified: "cluster.local."
	ttl      uint32
	serial   uint32
	services corelisters.ServiceLister
	svcIndex cache.Indexer
	epsIndex cache.Indexer
}

// result is what a name under the domain holds for the asked type.
type result struct {
	exists bool     // false: NXDOMAIN
	answer []dns.RR // empty with exists: NODATA
	extra  []dns.RR
	// cname, if set, is the target of an ExternalName Service's CNAME (in
	// answer), for the handler to follow.
	cname string
}

func (z *zone) contains(name string) bool {
	return name == z.domain || strings.HasSuffix(name, "."+z.domain)
}

func (z *zone) header(owner string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: z.ttl}
}

func (z *zone) soa() dns.RR {
	return &dns.SOA{
		Hdr:     z.header(z.domain, dns.TypeSOA),
		Ns:      "ns.dns." + z.domain,
		Mbox:    "hostmaster." + z.domain,
		Serial:  z.serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  z.ttl,
	}
}

// lookup answers owner (a name in the zone, as asked) for qtype. Errors are
// cache failures, answered with SERVFAIL.
func (z *zone) lookup(owner string, qtype uint16) (result, error) {
	name := strings.ToLower(dns.Fqdn(owner))
	if name == z.domain {
		switch qtype {
		case dns.TypeSOA:
			return result{exists: true, answer: []dns.RR{z.soa()}}, nil
		case dns.TypeNS:
			return result{exists: true, answer: []dns.RR{&dns.NS{Hdr: z.header(owner, dns.TypeNS), Ns: "ns.dns." + z.domain}}}, nil
		}
		return result{exists: true}, nil
	}
	labels := strings.Split(strings.TrimSuffix(name, "."+z.domain), ".")
	last := len(labels) - 1
	switch {
	case len(labels) == 1 && labels[0] == "dns-version":
		if qtype != dns.TypeTXT {
			return result{exists: true}, nil
		}
		return result{exists: true, answer: []dns.RR{&dns.TXT{Hdr: z.header(owner, dns.TypeTXT), Txt: []string{dnsSchemaVersion}}}}, nil
	case labels[last] == "svc":
		return z.lookupSvc(owner, labels[:last], qtype)
	case labels[last] == "pod":
		return z.lookupPod(owner, labels[:last], qtype)
	}
	return result{}, nil
}

// lookupSvc answers names under svc.<domain>; labels are those left of "svc".
func (z *zone) lookupSvc(owner string, labels []string, qtype uint16) (result, error) {
	switch len(labels) {
	case 0: // svc.<domain>: an empty non-terminal
		return result{exists: true}, nil
	case 1: // <ns>.svc.<domain>: exists while the namespace has Services
		svcs, err := z.services.Services(labels[0]).List(everything)
		if err != nil {
			return result{}, fmt.Errorf("listing Services of namespace %s: %w", labels[0], err)
		}
		return result{exists: len(svcs) > 0}, nil
	}
	n := len(labels)
	ns, name := labels[n-1], labels[n-2]
	svc, err := z.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return result{}, nil
	}
	if err != nil {
		return result{}, fmt.Errorf("getting Service %s/%s: %w", ns, name, err)
	}
	switch len(labels) {
	case 2:
		return z.serviceRecords(owner, svc, qtype)
	case 3:
		if strings.HasPrefix(labels[0], "_") {
			// _<proto>.<svc>: exists if an SRV name below it does.
			ok, err := z.hasProto(svc, strings.TrimPrefix(labels[0], "_"))
			return result{exists: ok}, err
		}
		return z.endpointRecords(owner, svc, labels[0], qtype)
	case 4:
		if !strings.HasPrefix(labels[0], "_") || !strings.HasPrefix(labels[1], "_") {
			return result{}, nil
		}
		return z.srvRecords(svc, owner, labels[0][1:], labels[1][1:], qtype)
	}
	return result{}, nil
}

// serviceRecords answers <svc>.<ns>.svc.<domain>.
func (z *zone) serviceRecords(owner string, svc *corev1.Service, qtype uint16) (result, error) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		target := dns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		if _, ok := dns.IsDomainName(target); !ok || svc.Spec.ExternalName == "" {
			return result{exists: true}, nil
		}
		return result{exists: true, cname: target, answer: []dns.RR{&dns.CNAME{Hdr: z.header(owner, dns.TypeCNAME), Target: target}}}, nil
	}
	res := result{exists: true}
	if isHeadless(svc) {
		eps, err := z.endpoints(svc)
		if err != nil {
			return result{}, err
		}
		if qtype == dns.TypeSRV {
			for _, p := range endpointPortNames(eps) {
				srv, err := z.srvRecords(svc, owner, p.name, p.proto, qtype)
				if err != nil {
					return result{}, err
				}
				res.answer = append(res.answer, srv.answer...)
				res.extra = append(res.extra, srv.extra...)
			}
			return res, nil
		}
		var addrs []netip.Addr
		for _, ep := range eps {
			addrs = append(addrs, ep.addr)
		}
		res.answer = z.addrRecords(owner, addrs, qtype)
		return res, nil
	}
	if qtype == dns.TypeSRV {
		for _, p := range svc.Spec.Ports {
			if p.Name == "" {
				continue
			}
			srv, err := z.srvRecords(svc, owner, p.Name, strings.ToLower(string(p.Protocol)), qtype)
			if err != nil {
				return result{}, err
			}
			res.answer = append(res.answer, srv.answer...)
			res.extra = append(res.extra, srv.extra...)
		}
		return res, nil
	}
	res.answer = z.addrRecords(owner, serviceIPs(svc), qtype)
	return res, nil
}

// endpointRecords answers <host>.<svc>.<ns>.svc.<domain>.
func (z *zone) endpointRecords(owner string, svc *corev1.Service, host string, qtype uint16) (result, error) {
	eps, err := z.endpoints(svc)
	if err != nil {
		return result{}, err
	}
	var addrs []netip.Addr
	for _, ep := range eps {
		if ep.host == host {
			addrs = append(addrs, ep.addr)
		}
	}
	if len(addrs) == 0 {
		return result{}, nil
	}
	return result{exists: true, answer: z.addrRecords(owner, addrs, qtype)}, nil
}

// srvRecords answers _<port>._<proto>.<svc>.<ns>.svc.<domain>: the Service's
// own name for a Service with a ClusterIP, each endpoint's name for a
// headless one, with their addresses as extra records.
func (z *zone) srvRecords(svc *corev1.Service, owner, port, proto string, qtype uint16) (result, error) {
	svcName := svc.Name + "." + svc.Namespace + ".svc." + z.domain
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return result{}, nil
	}
	if !isHeadless(svc) {
		for _, p := range svc.Spec.Ports {
			if p.Name != port || !strings.EqualFold(string(p.Protocol), proto) {
				continue
			}
			if qtype != dns.TypeSRV {
				return result{exists: true}, nil
			}
			return result{
				exists: true,
				answer: []dns.RR{&dns.SRV{Hdr: z.header(owner, dns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(p.Port), Target: svcName}},
				extra:  z.addrRecords(svcName, serviceIPs(svc), dns.TypeANY),
			}, nil
		}
		return result{}, nil
	}
	eps, err := z.endpoints(svc)
	if err != nil {
		return result{}, err
	}
	res := result{}
	seen := map[string]bool{}
	for _, ep := range eps {
		for _, p := range ep.ports {
			if p.Name == nil || *p.Name != port || p.Port == nil || !protoIs(p.Protocol, proto) {
				continue
			}
			res.exists = true
			target := ep.host + "." + svcName
			key := fmt.Sprintf("%s:%d", target, *p.Port)
			if qtype != dns.TypeSRV || seen[key] {
				continue
			}
			seen[key] = true
			res.answer = append(res.answer, &dns.SRV{Hdr: z.header(owner, dns.TypeSRV), Priority: 0, Port: uint16(*p.Port), Target: target})
			res.extra = append(res.extra, z.addrRecords(target, []netip.Addr{ep.addr}, dns.TypeANY)...)
		}
	}
	// Spread the weight evenly over the endpoints, as CoreDNS does.
	for _, rr := range res.answer {
		rr.(*dns.SRV).Weight = uint16(max(1, 100/len(res.answer)))
	}
	return res, nil
}

// hasProto reports whether svc has a named port of proto.
func (z *zone) hasProto(svc *corev1.Service, proto string) (bool, error) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false, nil
	}
	if !isHeadless(svc) {
		return slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
			return p.Name != "" && strings.EqualFold(string(p.Protocol), proto)
		}), nil
	}
	eps, err := z.endpoints(svc)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(endpointPortNames(eps), func(p portName) bool { return p.proto == proto }), nil
}

// lookupPod answers <a-b-c-d>.<ns>.pod.<domain> from the address in the name.
func (z *zone) lookupPod(owner string, labels []string, qtype uint16) (result, error) {
	switch len(labels) {
	case 0, 1:
		return result{exists: true}, nil
	case 2:
		ip, ok := undash(labels[0])
		if !ok {
			return result{}, nil
		}
		return result{exists: true, answer: z.addrRecords(owner, []netip.Addr{ip}, qtype)}, nil
	}
	return result{}, nil
}

// lookupPTR answers the reverse name of ip if a Service's ClusterIP or an
// endpoint of a Service holds it; known is false otherwise.
func (z *zone) lookupPTR(owner string, ip netip.Addr) (answer []dns.RR, known bool, err error) {
	var names []string
	svcs, err := z.svcIndex.ByIndex(clusterIPIndex, ip.String())
	if err != nil {
		return nil, false, fmt.Errorf("looking up Services by ClusterIP %s: %w", ip, err)
	}
	for _, o := range svcs {
		svc := o.(*corev1.Service)
		names = append(names, svc.Name+"."+svc.Namespace+".svc."+z.domain)
	}
	slicesByIP, err := z.epsIndex.ByIndex(addressIndex, ip.String())
	if err != nil {
		return nil, false, fmt.Errorf("looking up EndpointSlices by address %s: %w", ip, err)
	}
	for _, o := range slicesByIP {
		es := o.(*discoveryv1.EndpointSlice)
		svcName := es.Labels[discoveryv1.LabelServiceName]
		if svcName == "" {
			continue
		}
		svc, err := z.services.Services(es.Namespace).Get(svcName)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("getting Service %s/%s: %w", es.Namespace, svcName, err)
		}
		for _, ep := range sliceEndpoints(svc, es) {
			if ep.addr == ip {
				names = append(names, ep.host+"."+svc.Name+"."+svc.Namespace+".svc."+z.domain)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		answer = append(answer, &dns.PTR{Hdr: z.header(owner, dns.TypePTR), Ptr: n})
	}
	return answer, len(answer) > 0, nil
}

// addrRecords makes A records of the IPv4 addresses for TypeA, AAAA records
// of the IPv6 ones for TypeAAAA, both for TypeANY and none for other types.
func (z *zone) addrRecords(owner string, addrs []netip.Addr, qtype uint16) []dns.RR {
	var out []dns.RR
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		switch {
		case a.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
			out = append(out, &dns.A{Hdr: z.header(owner, dns.TypeA), A: a.AsSlice()})
		case a.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
			out = append(out, &dns.AAAA{Hdr: z.header(owner, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	return out
}
