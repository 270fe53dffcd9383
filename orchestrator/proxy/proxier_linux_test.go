package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

var (
	nodeIP      = netip.MustParseAddr("10.0.0.1")
	ep1         = netip.MustParseAddr("10.0.0.11")
	ep2         = netip.MustParseAddr("10.0.0.12")
	serviceCIDR = netip.MustParsePrefix("10.96.0.0/16")
)

func service(name, clusterIP string, port int32, nodePort int32) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  clusterIP,
			ClusterIPs: []string{clusterIP},
			Ports:      []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if nodePort != 0 {
		svc.Spec.Type = corev1.ServiceTypeNodePort
		svc.Spec.Ports[0].NodePort = nodePort
	}
	return svc
}

func slice(svc string, port int32, ips ...netip.Addr) *discoveryv1.EndpointSlice {
	name, proto, ready := "http", corev1.ProtocolTCP, true
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// loadBalancer makes svc a LoadBalancer Service with the given ingress
// addresses.
func loadBalancer(svc *corev1.Service, ips ...string) *corev1.Service {
	svc.Spec.Type = corev1.ServiceTypeLoadBalancer
	for _, ip := range ips {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return svc
}

// runProxier runs a Proxier of node-a, with nodeIP and serviceCIDR, over
// client in ns until the test ends or stop is called; it returns once the
// table is written.
func runProxier(t *testing.T, ns *testNS, client *fake.Clientset) (p *Proxier, table string, stop func() error) {
	t.Helper()
	f := informers.NewSharedInformerFactory(client, 0)
	table = uniqueTable()
	p, err := New(Config{
		NodeName:       "node-a",
		NodeIPs:        []net.IP{nodeIP.AsSlice()},
		ServiceCIDRs:   []*net.IPNet{{IP: serviceCIDR.Addr().AsSlice(), Mask: net.CIDRMask(16, 32)}},
		Table:          table,
		NetNS:          ns.fd,
		TeardownOnExit: true,
		Log:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	f.Start(ctx.Done())
	go func() { done <- p.Run(ctx) }()
	waitFor(t, 5*time.Second, func() bool { return slices.Contains(ns.tables(t), table) })
	return p, table, stop
}

func TestProxier(t *testing.T) {
	lbIP := netip.MustParsePrefix("192.0.2.0/24")
	ns := newTestNS(t)
	ns.setupLinks(t,
		[]netip.Prefix{netip.PrefixFrom(nodeIP, 24), netip.PrefixFrom(ep1, 24), netip.PrefixFrom(ep2, 24)},
		[]netip.Prefix{serviceCIDR, lbIP})
	ns.serve(t, "ep1", netip.AddrPortFrom(ep1, 8080))
	ns.serve(t, "ep2", netip.AddrPortFrom(ep2, 8080))

	client := fake.NewClientset(
		service("web", "10.96.0.10", 80, 30080), slice("web", 8080, ep1, ep2),
		service("empty", "10.96.0.20", 80, 30081),
		service("self", "10.96.0.30", 80, 0), slice("self", 8080, ep1),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "headless"},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
		// A cloud's address, routed to the node, and the node's own, as
		// k3s's service load balancer gives.
		loadBalancer(service("lb", "10.96.0.50", 81, 30082), "192.0.2.10", nodeIP.String()), slice("lb", 8080, ep2),
		loadBalancer(service("lb-empty", "10.96.0.51", 81, 30083), "192.0.2.11"),
	)
	p, table, stop := runProxier(t, ns, client)
	ctx := context.Background()

	web := netip.MustParseAddrPort("10.96.0.10:80")
	waitFor(t, 5*time.Second, func() bool { _, err := ns.ask(web, netip.Addr{}); return err == nil })

	t.Run("cluster IP balances over both endpoints", func(t *testing.T) {
		seen := map[string]int{}
		for range 40 {
			s, err := ns.ask(web, netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			seen[strings.Fields(s)[0]]++
		}
		if seen["ep1"] == 0 || seen["ep2"] == 0 || len(seen) != 2 {
			t.Errorf("40 connections reached %v, want both ep1 and ep2", seen)
		}
	})
	t.Run("node port reaches an endpoint", func(t *testing.T) {
		s, err := ns.ask(netip.AddrPortFrom(nodeIP, 30080), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		if name := strings.Fields(s)[0]; name != "ep1" && name != "ep2" {
			t.Errorf("node port answered %q", s)
		}
	})
	for _, to := range []string{"192.0.2.10:81", nodeIP.String() + ":81"} {
		t.Run("load balancer address "+to+" reaches the endpoint", func(t *testing.T) {
			s, err := ns.ask(netip.MustParseAddrPort(to), netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			if name := strings.Fields(s)[0]; name != "ep2" {
				t.Errorf("%s answered %q, want ep2", to, s)
			}
		})
	}
	for _, tc := range []struct{ name, addr string }{
		{"service without endpoints is refused", "10.96.0.20:80"},
		{"load balancer address without endpoints is refused", "192.0.2.11:81"},
		{"node port without endpoints is refused", "10.0.0.1:30081"},
		{"unallocated service address is refused", "10.96.0.99:80"},
		{"headless service has no rules", "10.96.0.40:80"},
		{"cluster IP port that is not served is refused", "10.96.0.10:81"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := ns.ask(netip.MustParseAddrPort(tc.addr), netip.Addr{})
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("connecting to %s: %v after %v, want connection refused", tc.addr, err, time.Since(start))
			}
		})
	}
	t.Run("hairpin connection is masqueraded", func(t *testing.T) {
		s, err := ns.ask(netip.MustParseAddrPort("10.96.0.30:80"), ep1)
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(s); f[0] != "ep1" || f[1] == ep1.String() {
			t.Errorf("endpoint answered %q to its own connection through the service, want another source than %s", s, ep1)
		}
	})
	t.Run("endpoint removal reaches the rules", func(t *testing.T) {
		if !p.Routes(ep1) || !p.Routes(ep2) {
			t.Fatalf("Routes(%s), Routes(%s) = %v, %v before the removal, want true", ep1, ep2, p.Routes(ep1), p.Routes(ep2))
		}
		start := time.Now()
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, slice("web", 8080, ep2), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool {
			for range 20 {
				if s, err := ns.ask(web, netip.Addr{}); err != nil || !strings.HasPrefix(s, "ep2 ") {
					return false
				}
			}
			return true
		})
		t.Logf("endpoint removal reached the rules within %v", time.Since(start))
		// Service self still sends to ep1; once it does not either, ep1
		// is not routed.
		if !p.Routes(ep1) {
			t.Errorf("Routes(%s) is false while Service self sends to it", ep1)
		}
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, slice("self", 8080), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool { return !p.Routes(ep1) })
	})
	t.Run("removing the last endpoint rejects", func(t *testing.T) {
		if err := client.DiscoveryV1().EndpointSlices("default").Delete(ctx, "web-abc", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool {
			_, err := ns.ask(web, netip.Addr{})
			return errors.Is(err, syscall.ECONNREFUSED)
		})
	})
	t.Run("run deletes the table at exit when asked", func(t *testing.T) {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(ns.tables(t), table) {
			t.Errorf("table %s is still there", table)
		}
	})
}

func TestTeardown(t *testing.T) {
	ns := newTestNS(t)
	name := uniqueTable()
	tb := &table{name: name, netns: ns.fd}
	sp := &servicePort{id: "default/web/tcp/http/ipv4", proto: unix.IPPROTO_TCP, ips: []netip.Addr{netip.MustParseAddr("10.96.0.10")}, port: 80,
		cluster: []endpoint{{addr: netip.MustParseAddrPort("10.0.0.11:8080")}}}
	if err := tb.writeAll(buildRuleset([]*servicePort{sp})); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ns.tables(t), name) {
		t.Fatalf("table %s was not written", name)
	}
	// Teardown works on this process's namespace: call it from a thread
	// that joined the test namespace (and is dropped afterwards).
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- errors.Join(Teardown(name), Teardown(name))
	}()
	if err := <-errc; err != nil {
		t.Fatalf("teardown (twice): %v", err)
	}
	if slices.Contains(ns.tables(t), name) {
		t.Errorf("table %s is still there after Teardown", name)
	}
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not done within %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTableIPv6 writes an IPv6 table straight from service ports and
// connects through it: balancing over a map of IPv6 endpoints shared by the
// ClusterIP and the NodePort, a single endpoint, and hairpin masquerade.
func TestTableIPv6(t *testing.T) {
	var (
		node = netip.MustParseAddr("fd00::1")
		a    = netip.MustParseAddr("fd00::11")
		b    = netip.MustParseAddr("fd00::12")
		cidr = netip.MustParsePrefix("fd96::/112")
	)
	ns := newTestNS(t)
	ns.setupLinks(t, []netip.Prefix{netip.PrefixFrom(node, 64), netip.PrefixFrom(a, 64), netip.PrefixFrom(b, 64)}, []netip.Prefix{cidr})
	ns.serve(t, "a", netip.AddrPortFrom(a, 8080))
	ns.serve(t, "b", netip.AddrPortFrom(b, 8080))
	eps := []endpoint{{addr: netip.AddrPortFrom(a, 8080)}, {addr: netip.AddrPortFrom(b, 8080)}}
	sps := []*servicePort{
		{id: "default/web/tcp/http/ipv6", proto: unix.IPPROTO_TCP, v6: true, ips: []netip.Addr{netip.MustParseAddr("fd96::10")}, port: 80, nodePort: 30080, cluster: eps, external: eps},
		{id: "default/self/tcp/http/ipv6", proto: unix.IPPROTO_TCP, v6: true, ips: []netip.Addr{netip.MustParseAddr("fd96::30")}, port: 80, cluster: eps[:1]},
		{id: "default/sticky/tcp/http/ipv6", proto: unix.IPPROTO_TCP, v6: true, ips: []netip.Addr{netip.MustParseAddr("fd96::50")}, port: 80, cluster: eps,
			affinity: time.Hour},
	}
	rs := buildRuleset(sps)
	if sets := rs.pickSets(); len(sets) != 3 {
		t.Errorf("pick maps %v, want one endpoint map shared by the service and external chains, and the sticky one's two", sets)
	}
	tb := &table{name: uniqueTable(), netns: ns.fd, static: staticConfig{nodeIPs: []netip.Addr{node}, serviceCIDRs: []netip.Prefix{cidr}}}
	if err := tb.writeAll(rs); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"[fd96::10]:80", "[fd00::1]:30080"} {
		seen := map[string]int{}
		for range 40 {
			s, err := ns.ask(netip.MustParseAddrPort(to), netip.Addr{})
			if err != nil {
				t.Fatalf("connecting to %s: %v", to, err)
			}
			seen[strings.Fields(s)[0]]++
		}
		if seen["a"] == 0 || seen["b"] == 0 || len(seen) != 2 {
			t.Errorf("40 connections to %s reached %v, want both a and b", to, seen)
		}
	}
	seen := map[string]int{}
	for range 20 {
		s, err := ns.ask(netip.MustParseAddrPort("[fd96::50]:80"), node)
		if err != nil {
			t.Fatalf("connecting to the sticky service: %v", err)
		}
		seen[strings.Fields(s)[0]]++
	}
	if len(seen) != 1 {
		t.Errorf("20 connections from one client to a sticky service reached %v, want one endpoint", seen)
	}
	// IPv6 masquerade on one host keeps the source address (it is the best
	// match for itself), but fully random masquerade changes the port.
	from := netip.AddrPortFrom(a, 40123)
	s, err := ns.askFrom(netip.MustParseAddrPort("[fd96::30]:80"), from)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(s); f[0] != "a" || f[2] == "40123" {
		t.Errorf("endpoint answered %q to its own connection through the service from %s, want it masqueraded", s, from)
	}
	if _, err := ns.ask(netip.MustParseAddrPort("[fd96::99]:80"), netip.Addr{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("unallocated service address: %v, want connection refused", err)
	}
}
