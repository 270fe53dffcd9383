package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var everything = labels.Everything()

// endpoint is one ready address of a Service with the name DNS gives it.
type endpoint struct {
	// host is the endpoint's hostname, or for a headless Service its dashed
	// address; empty for an endpoint of a ClusterIP Service without hostname.
	host  string
	addr  netip.Addr
	ports []discoveryv1.EndpointPort
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// serviceIPs returns the Service's ClusterIPs, none for headless and
// ExternalName Services.
func serviceIPs(svc *corev1.Service) []netip.Addr {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || isHeadless(svc) {
		return nil
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Addr
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// endpoints returns the ready endpoints of svc over all its EndpointSlices,
// each address once, sorted by address.
func (z *zone) endpoints(svc *corev1.Service) ([]endpoint, error) {
	objs, err := z.epsIndex.ByIndex(serviceIndex, svc.Namespace+"/"+svc.Name)
	if err != nil {
		return nil, fmt.Errorf("listing EndpointSlices of Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	var out []endpoint
	for _, o := range objs {
		out = append(out, sliceEndpoints(svc, o.(*discoveryv1.EndpointSlice))...)
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return strings.Compare(a.host, b.host)
	})
	return slices.CompactFunc(out, func(a, b endpoint) bool { return a.addr == b.addr && a.host == b.host }), nil
}

// sliceEndpoints returns the ready endpoints of one slice of svc (all of them
// if the Service publishes not-ready addresses).
func sliceEndpoints(svc *corev1.Service, es *discoveryv1.EndpointSlice) []endpoint {
	if es.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	var out []endpoint
	for _, ep := range es.Endpoints {
		ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
		if !ready && !svc.Spec.PublishNotReadyAddresses {
			continue
		}
		for _, a := range ep.Addresses {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				continue
			}
			ip = ip.Unmap()
			host := ""
			switch {
			case ep.Hostname != nil && *ep.Hostname != "":
				host = strings.ToLower(*ep.Hostname)
			case isHeadless(svc):
				host = dashed(ip)
			}
			out = append(out, endpoint{host: host, addr: ip, ports: es.Ports})
		}
	}
	return out
}

// portName is a named port and its protocol, lower case.
type portName struct{ name, proto string }

// endpointPortNames returns the named ports the endpoints serve, sorted.
func endpointPortNames(eps []endpoint) []portName {
	var out []portName
	for _, ep := range eps {
		for _, p := range ep.ports {
			if p.Name == nil || *p.Name == "" {
				continue
			}
			proto := "tcp"
			if p.Protocol != nil {
				proto = strings.ToLower(string(*p.Protocol))
			}
			out = append(out, portName{*p.Name, proto})
		}
	}
	slices.SortFunc(out, func(a, b portName) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.proto, b.proto)
	})
	return slices.Compact(out)
}

// protoIs reports whether an EndpointSlice port's protocol (TCP if unset) is
// proto, compared without case.
func protoIs(p *corev1.Protocol, proto string) bool {
	if p == nil {
		return strings.EqualFold(proto, "tcp")
	}
	return strings.EqualFold(string(*p), proto)
}

// dashed writes an address as one DNS label: 10.1.2.3 → 10-1-2-3,
// fd00::1 → fd00--1.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

// undash reads an address written by dashed (or with IPv6 groups in full).
func undash(label string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && ip.Is4() {
		return ip, true
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip.Is6() && ip.Zone() == "" {
		return ip.Unmap(), true
	}
	return netip.Addr{}, false
}
