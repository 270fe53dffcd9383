package proxy

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// endpoint is one address and port that a Service port's traffic may go to.
type endpoint struct {
	addr  netip.AddrPort
	local bool // on this node
	// terminating marks an endpoint used only because no ready one is
	// left: it is on its way out, and nothing waits for it to be unrouted.
	terminating bool
}

// servicePort is what the proxier programs for one port of one Service in
// one address family.
type servicePort struct {
	id       string // "namespace/name/tcp/port-name/ipv4", unique in the table
	proto    byte   // unix.IPPROTO_*
	v6       bool
	ips      []netip.Addr // ClusterIPs of the family
	port     uint16
	nodePort uint16 // 0: none
	// lbIPs are the LoadBalancer ingress addresses of the family, served on
	// port like the NodePort.
	lbIPs []netip.Addr
	// cluster receives traffic for the ClusterIPs (internalTrafficPolicy
	// applied), external NodePort and LoadBalancer traffic
	// (externalTrafficPolicy applied).
	cluster, external []endpoint
	// externalLocal says external traffic keeps its source: it goes to
	// local endpoints only and is not masqueraded.
	externalLocal bool
	// affinity is how long a client keeps the endpoint it reached
	// (sessionAffinity ClientIP); 0: every connection picks anew.
	affinity time.Duration
}

// protocols maps the Service protocols the proxier serves.
var protocols = map[corev1.Protocol]byte{
	corev1.ProtocolTCP:  unix.IPPROTO_TCP,
	corev1.ProtocolUDP:  unix.IPPROTO_UDP,
	corev1.ProtocolSCTP: unix.IPPROTO_SCTP,
}

// servicePorts computes the service ports of svc from its EndpointSlices.
// Headless and ExternalName Services have none.
func servicePorts(svc *corev1.Service, eps []*discoveryv1.EndpointSlice, node string) []*servicePort {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		return nil
	}
	var v4, v6 []netip.Addr
	for _, s := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		a = a.Unmap()
		if a.Is4() && !slices.Contains(v4, a) {
			v4 = append(v4, a)
		} else if a.Is6() && !slices.Contains(v6, a) {
			v6 = append(v6, a)
		}
	}
	nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	externalLocal := nodePorts && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	lb4, lb6 := loadBalancerIPs(svc)
	affinity := affinityOf(svc)
	var out []*servicePort
	for _, p := range svc.Spec.Ports {
		proto, ok := protocols[p.Protocol]
		if !ok || p.Port <= 0 || p.Port > 65535 {
			continue
		}
		for _, fam := range []struct {
			v6       bool
			ips, lbs []netip.Addr
		}{{false, v4, lb4}, {true, v6, lb6}} {
			if len(fam.ips) == 0 {
				continue
			}
			all := endpointsOf(eps, p, fam.v6, node)
			sp := &servicePort{
				id:            strings.Join([]string{svc.Namespace, svc.Name, strings.ToLower(string(p.Protocol)), p.Name, familyName(fam.v6)}, "/"),
				proto:         proto,
				v6:            fam.v6,
				ips:           fam.ips,
				port:          uint16(p.Port),
				lbIPs:         fam.lbs,
				cluster:       all,
				externalLocal: externalLocal,
				affinity:      affinity,
			}
			if internalLocal {
				sp.cluster = localOnly(all)
			}
			if nodePorts && p.NodePort > 0 && p.NodePort <= 65535 {
				sp.nodePort = uint16(p.NodePort)
			}
			if sp.nodePort != 0 || len(sp.lbIPs) > 0 {
				sp.external = all
				if externalLocal {
					sp.external = localOnly(all)
				}
			}
			out = append(out, sp)
		}
	}
	return out
}

// loadBalancerIPs returns the ingress addresses of a LoadBalancer Service
// that this node serves, by family: not those of ipMode Proxy, whose load
// balancer sends traffic to the node's own addresses instead (as upstream).
func loadBalancerIPs(svc *corev1.Service) (v4, v6 []netip.Addr) {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil, nil
	}
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IPMode != nil && *in.IPMode == corev1.LoadBalancerIPModeProxy {
			continue
		}
		a, err := netip.ParseAddr(in.IP)
		if err != nil {
			continue
		}
		a = a.Unmap()
		if a.Is4() && !slices.Contains(v4, a) {
			v4 = append(v4, a)
		} else if a.Is6() && !slices.Contains(v6, a) {
			v6 = append(v6, a)
		}
	}
	return v4, v6
}

// affinityOf is the session affinity timeout of svc, 0 without affinity.
func affinityOf(svc *corev1.Service) time.Duration {
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		return 0
	}
	secs := corev1.DefaultClientIPServiceAffinitySeconds
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
		secs = *c.ClientIP.TimeoutSeconds
	}
	return time.Duration(secs) * time.Second
}

func familyName(v6 bool) string {
	if v6 {
		return "ipv6"
	}
	return "ipv4"
}

// endpointsOf returns the endpoints of port p in the family's slices: the
// ready ones or, when none is ready, those that still serve while they
// terminate (as upstream, so that a rollout's last pod keeps answering).
// They are sorted and unique.
func endpointsOf(eps []*discoveryv1.EndpointSlice, p corev1.ServicePort, v6 bool, node string) []endpoint {
	want := discoveryv1.AddressTypeIPv4
	if v6 {
		want = discoveryv1.AddressTypeIPv6
	}
	var ready, serving []endpoint
	for _, s := range eps {
		if s.AddressType != want {
			continue
		}
		port, ok := slicePort(s, p)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			isReady := e.Conditions.Ready == nil || *e.Conditions.Ready
			isServing := isReady
			if e.Conditions.Serving != nil {
				isServing = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			if len(e.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || a.Unmap().Is6() != v6 {
				continue
			}
			ep := endpoint{addr: netip.AddrPortFrom(a.Unmap(), port), local: e.NodeName != nil && *e.NodeName == node}
			switch {
			case isReady && !terminating:
				ready = append(ready, ep)
			case isServing && terminating:
				ep.terminating = true
				serving = append(serving, ep)
			}
		}
	}
	if len(ready) == 0 {
		ready = serving
	}
	slices.SortFunc(ready, func(a, b endpoint) int { return a.addr.Compare(b.addr) })
	return slices.CompactFunc(ready, func(a, b endpoint) bool { return a.addr == b.addr })
}

// slicePort finds the port of slice s that serves service port p: the one
// with p's name and protocol.
func slicePort(s *discoveryv1.EndpointSlice, p corev1.ServicePort) (uint16, bool) {
	for _, sp := range s.Ports {
		name, proto := "", corev1.ProtocolTCP
		if sp.Name != nil {
			name = *sp.Name
		}
		if sp.Protocol != nil {
			proto = *sp.Protocol
		}
		if name == p.Name && proto == p.Protocol && sp.Port != nil && *sp.Port > 0 && *sp.Port <= 65535 {
			return uint16(*sp.Port), true
		}
	}
	return 0, false
}

func localOnly(eps []endpoint) []endpoint {
	var out []endpoint
	for _, e := range eps {
		if e.local {
			out = append(out, e)
		}
	}
	return out
}
