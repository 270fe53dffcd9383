package proxy

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDiff(t *testing.T) {
	ep := func(s string) endpoint { return endpoint{addr: netip.MustParseAddrPort(s)} }
	web := func(cluster, external []endpoint) []*servicePort {
		return []*servicePort{{id: "default/web/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr("10.96.0.10")},
			port: 80, nodePort: 30080, cluster: cluster, external: external}}
	}
	three := []endpoint{ep("10.0.0.11:80"), ep("10.0.0.12:80"), ep("10.0.0.13:80")}
	moved := []endpoint{ep("10.0.0.11:80"), ep("10.0.0.12:80"), ep("10.0.0.14:80")}
	base := buildRuleset(web(three, three))

	if c := diff(base, buildRuleset(web(three, three))); !c.empty() {
		t.Errorf("the same ruleset again: %+v, want no change", c)
	}
	t.Run("an endpoint replaced changes elements only", func(t *testing.T) {
		c := diff(base, buildRuleset(web(moved, moved)))
		if len(c.newChains)+len(c.writeChains)+len(c.delChains)+len(c.newSets)+len(c.delSets) != 0 {
			t.Errorf("change %+v touches chains or maps", c)
		}
		// The map element and the hairpin element of the endpoint.
		if len(c.addElems) != 2 || len(c.delElems) != 2 {
			t.Errorf("added %d and deleted %d elements, want 2 and 2", len(c.addElems), len(c.delElems))
		}
	})
	t.Run("one endpoint fewer rewrites both chains", func(t *testing.T) {
		c := diff(base, buildRuleset(web(three[:2], three[:2])))
		if want := []string{"external-default/web/tcp/http/ipv4", "service-default/web/tcp/http/ipv4"}; !slices.Equal(c.writeChains, want) {
			t.Errorf("rewrote %v, want %v", c.writeChains, want)
		}
	})
	t.Run("external endpoints of their own get a map of their own", func(t *testing.T) {
		c := diff(base, buildRuleset(web(three, three[:2])))
		if len(c.newSets) != 1 || len(c.delSets) != 0 {
			t.Errorf("new maps %v, deleted %v, want one new", c.newSets, c.delSets)
		}
	})
	t.Run("a Service gone deletes its maps, not their elements", func(t *testing.T) {
		c := diff(base, buildRuleset(nil))
		if len(c.delSets) != 1 || len(c.delChains) != 2 {
			t.Errorf("deleted maps %v and chains %v, want one and two", c.delSets, c.delChains)
		}
		for _, e := range c.delElems {
			if slices.Contains(c.delSets, e.set) {
				t.Errorf("deletes an element of deleted map %s", e.set)
			}
		}
	})
}

func TestServicePortsLoadBalancerAndAffinity(t *testing.T) {
	proxy := corev1.LoadBalancerIPModeProxy
	lb := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "lb"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10", "fd96::10"},
			Ports:           []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}, // no node port allocated
			SessionAffinity: corev1.ServiceAffinityClientIP,
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "192.0.2.10"}, {IP: "2001:db8::10"}, {IP: "192.0.2.11", IPMode: &proxy}, {Hostname: "lb.example.com"},
		}}},
	}
	name, port := "http", int32(8080)
	eps := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.11"}}},
	}
	sps := servicePorts(lb, []*discoveryv1.EndpointSlice{eps}, "node-a")
	if len(sps) != 2 {
		t.Fatalf("%d service ports, want one per family", len(sps))
	}
	for _, sp := range sps {
		want := []netip.Addr{netip.MustParseAddr("192.0.2.10")}
		if sp.v6 {
			want = []netip.Addr{netip.MustParseAddr("2001:db8::10")}
		}
		if !slices.Equal(sp.lbIPs, want) {
			t.Errorf("%s: load balancer IPs %v, want %v (not those of ipMode Proxy)", sp.id, sp.lbIPs, want)
		}
		if sp.affinity != 10800*time.Second {
			t.Errorf("%s: affinity %v, want upstream's default of 3h", sp.id, sp.affinity)
		}
	}
	if v4 := sps[0]; !slices.Equal(v4.external, v4.cluster) || len(v4.external) != 1 {
		t.Errorf("load balancer without node port: external endpoints %v, want %v", v4.external, v4.cluster)
	}

	lb.Spec.Type = corev1.ServiceTypeNodePort
	lb.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(60))}}
	for _, sp := range servicePorts(lb, nil, "node-a") {
		if len(sp.lbIPs) != 0 {
			t.Errorf("%s: a NodePort Service's stale load balancer status serves %v", sp.id, sp.lbIPs)
		}
		if sp.affinity != time.Minute {
			t.Errorf("%s: affinity %v, want the configured minute", sp.id, sp.affinity)
		}
	}
}

func TestLoadBalancerIPsShared(t *testing.T) {
	node := netip.MustParseAddr("10.0.0.1")
	lb := func(name, clusterIP string, eps ...endpoint) *servicePort {
		return &servicePort{id: "default/" + name + "/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr(clusterIP)},
			port: 80, lbIPs: []netip.Addr{node, netip.MustParseAddr(clusterIP)}, cluster: eps, external: eps}
	}
	ep := endpoint{addr: netip.MustParseAddrPort("10.0.0.11:8080")}
	// b has no endpoints, and comes first in the list, as listers order at
	// random; a's ClusterIP is given to b as a load balancer IP too.
	rs := buildRuleset([]*servicePort{lb("b", "10.96.0.11"), lb("a", "10.96.0.10", ep)})
	key := func(ip string) string { return string(serviceKey(netip.MustParseAddr(ip), unix.IPPROTO_TCP, 80)) }
	if to := rs.elems[elem{setName(mapServiceIPs, false), key("10.0.0.1")}]; to != "external-default/a/tcp/http/ipv4" {
		t.Errorf("the shared node address goes to %q, want the first Service by ID's external chain", to)
	}
	if _, ok := rs.elems[elem{setName(mapNoEndpointIPs, false), key("10.0.0.1")}]; ok {
		t.Error("the shared node address is also refused")
	}
	if to := rs.elems[elem{setName(mapServiceIPs, false), key("10.96.0.10")}]; to != "service-default/a/tcp/http/ipv4" {
		t.Errorf("a's ClusterIP goes to %q, want a's service chain", to)
	}
}

func TestDiffAffinity(t *testing.T) {
	ep := func(s string) endpoint { return endpoint{addr: netip.MustParseAddrPort(s)} }
	sticky := func(eps ...endpoint) []*servicePort {
		return []*servicePort{{id: "default/sticky/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr("10.96.0.10")},
			port: 80, nodePort: 30080, cluster: eps, external: eps, affinity: time.Hour}}
	}
	one := buildRuleset(sticky(ep("10.0.0.11:80")))
	if sets := one.pickSets(); len(sets) != 2 {
		t.Errorf("one endpoint with affinity: maps %v, want its endpoint map and affinity map", sets)
	}
	two := buildRuleset(sticky(ep("10.0.0.11:80"), ep("10.0.0.12:80")))
	if c := diff(one, two); len(c.staleAffinity) != 0 {
		t.Errorf("an endpoint added: affinity maps to forget %v, want none", c.staleAffinity)
	}
	if c := diff(two, one); len(c.staleAffinity) != 1 {
		t.Errorf("an endpoint removed: affinity maps to forget %v, want the one", c.staleAffinity)
	}
	if c := diff(two, buildRuleset(nil)); len(c.staleAffinity) != 0 || len(c.delSets) != 2 {
		t.Errorf("the Service gone: forget %v, delete %v; want its two maps deleted, nothing to forget", c.staleAffinity, c.delSets)
	}
}

// TestReadyAddrs: an endpoint kept only because no ready one is left is
// routed, but not as ready: a stopping pod does not wait for it.
func TestReadyAddrs(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}
	name, port, yes := "http", int32(8080), true
	endpoint := func(ip string, ready bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &yes, Terminating: new(!ready)}}
	}
	slice := func(eps ...discoveryv1.Endpoint) []*discoveryv1.EndpointSlice {
		return []*discoveryv1.EndpointSlice{{AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: &name, Port: &port}}, Endpoints: eps}}
	}
	a, b := netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12")

	sps := servicePorts(svc, slice(endpoint(a.String(), true), endpoint(b.String(), false)), "node-a")
	if got := *readyAddrs(sps); !got[a] || got[b] {
		t.Errorf("one ready, one terminating: ready addresses %v, want only %s", got, a)
	}
	sps = servicePorts(svc, slice(endpoint(a.String(), false), endpoint(b.String(), false)), "node-a")
	if len(sps[0].cluster) != 2 {
		t.Fatalf("all terminating: cluster endpoints %v, want both kept as a fallback", sps[0].cluster)
	}
	if got := *readyAddrs(sps); len(got) != 0 {
		t.Errorf("all terminating: ready addresses %v, want none", got)
	}
}
