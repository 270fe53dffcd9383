package dns

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func service(ns, name string, mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP},
	}
	mut(s)
	return s
}

func slice(ns, name, svc string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: family,
		Endpoints:   eps,
		Ports:       ports,
	}
}

func ep(addr string, hostname string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)}}
	if hostname != "" {
		e.Hostname = ptr(hostname)
	}
	return e
}

// clusterObjects is the cluster the end-to-end tests query.
func clusterObjects() []runtime.Object {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	pgPorts := []discoveryv1.EndpointPort{{Name: ptr("pg"), Port: ptr[int32](5432), Protocol: &tcp}}
	return []runtime.Object{
		service("default", "web", func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.10"
			s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00:96::10"}
			s.Spec.Ports = []corev1.ServicePort{
				{Name: "http", Protocol: tcp, Port: 80},
				{Name: "metrics", Protocol: udp, Port: 9090},
			}
		}),
		slice("default", "web-1", "web", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr[int32](8080), Protocol: &tcp}},
			ep("10.244.1.1", "", true)),
		service("default", "db", func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
			s.Spec.Ports = []corev1.ServicePort{{Name: "pg", Protocol: tcp, Port: 5432}}
		}),
		slice("default", "db-v4", "db", discoveryv1.AddressTypeIPv4, pgPorts,
			ep("10.244.0.5", "db-0", true),
			ep("10.244.0.6", "", true),
			ep("10.244.0.7", "db-2", false)),
		slice("default", "db-v6", "db", discoveryv1.AddressTypeIPv6, pgPorts,
			ep("fd00:244::6", "", true)),
		service("default", "ext", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		}),
		service("default", "alias", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "web.default.svc.cluster.local"
		}),
	}
}

// upstream runs a resolver on 127.0.0.1 that knows example.com and
// tc.example (truncated over UDP, answered over TCP).
func upstream(t *testing.T) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		switch {
		case strings.EqualFold(q.Name, "example.com.") && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, mustRR(t, "example.com. 300 IN A 192.0.2.1"))
		case strings.EqualFold(q.Name, "tc.example.") && !tcp:
			m.Truncated = true
		case strings.EqualFold(q.Name, "tc.example.") && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, mustRR(t, "tc.example. 300 IN A 192.0.2.2"))
		case strings.EqualFold(q.Name, "1.2.0.192.in-addr.arpa."):
			m.Answer = append(m.Answer, mustRR(t, "1.2.0.192.in-addr.arpa. 300 IN PTR example.com."))
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	pc, l, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return l.Addr().String()
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// startServer runs a Server over a fake clientset holding objs.
func startServer(t *testing.T, upstreams []string, objs ...runtime.Object) (*Server, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	srv, err := New(Config{
		Listen:    []string{"127.0.0.1:0"},
		Upstreams: upstreams,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		factory.Shutdown()
	})
	return srv, client
}

func addrOf(t *testing.T, srv *Server, network string) string {
	t.Helper()
	for _, a := range srv.Addrs() {
		if a.Network() == network {
			return a.String()
		}
	}
	t.Fatalf("no %s address in %v", network, srv.Addrs())
	return ""
}

func query(t *testing.T, srv *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addrOf(t, srv, network))
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

// rrStrings renders records as "name ttl IN type rdata", sorted.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

func TestServerAnswers(t *testing.T) {
	srv, _ := startServer(t, []string{upstream(t)}, clusterObjects()...)

	const soa = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local."
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  int
		answer []string
		extra  []string
		soa    bool // the authority section holds the zone's SOA
		// upstream: the answer is relayed from the upstream, not authoritative.
		upstream bool
	}{
		{
			name: "ClusterIP A", qname: "web.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"},
		},
		{
			name: "ClusterIP AAAA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"web.default.svc.cluster.local. 5 IN AAAA fd00:96::10"},
		},
		{
			name: "case-insensitive", qname: "WEB.Default.SVC.Cluster.Local.", qtype: dns.TypeA,
			answer: []string{"WEB.Default.SVC.Cluster.Local. 5 IN A 10.96.0.10"},
		},
		{
			name: "ClusterIP SRV for a named port", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
			extra: []string{
				"web.default.svc.cluster.local. 5 IN A 10.96.0.10",
				"web.default.svc.cluster.local. 5 IN AAAA fd00:96::10",
			},
		},
		{
			name: "SRV with the wrong protocol", qname: "_http._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			rcode: dns.RcodeNameError, soa: true,
		},
		{
			name: "UDP port SRV", qname: "_metrics._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_metrics._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 9090 web.default.svc.cluster.local."},
			extra: []string{
				"web.default.svc.cluster.local. 5 IN A 10.96.0.10",
				"web.default.svc.cluster.local. 5 IN AAAA fd00:96::10",
			},
		},
		{
			name: "wrong type is NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeMX,
			soa: true,
		},
		{
			name: "headless A: ready endpoints only", qname: "db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{
				"db.default.svc.cluster.local. 5 IN A 10.244.0.5",
				"db.default.svc.cluster.local. 5 IN A 10.244.0.6",
			},
		},
		{
			name: "headless AAAA", qname: "db.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"db.default.svc.cluster.local. 5 IN AAAA fd00:244::6"},
		},
		{
			name: "endpoint by hostname", qname: "db-0.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.5"},
		},
		{
			name: "headless endpoint by dashed address", qname: "10-244-0-6.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-244-0-6.db.default.svc.cluster.local. 5 IN A 10.244.0.6"},
		},
		{
			name: "headless IPv6 endpoint by dashed address", qname: "fd00-244--6.db.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"fd00-244--6.db.default.svc.cluster.local. 5 IN AAAA fd00:244::6"},
		},
		{
			name: "not-ready endpoint has no name", qname: "db-2.db.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true,
		},
		{
			name: "endpoint of a ClusterIP Service has no dashed name", qname: "10-244-1-1.web.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true,
		},
		{
			name: "headless SRV names each endpoint", qname: "_pg._tcp.db.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 10-244-0-6.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 33 5432 fd00-244--6.db.default.svc.cluster.local.",
			},
			extra: []string{
				"10-244-0-6.db.default.svc.cluster.local. 5 IN A 10.244.0.6",
				"db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.5",
				"fd00-244--6.db.default.svc.cluster.local. 5 IN AAAA fd00:244::6",
			},
		},
		{
			name: "ExternalName CNAME", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeCNAME,
			answer: []string{"ext.default.svc.cluster.local. 5 IN CNAME example.com."},
		},
		{
			name: "ExternalName A follows the CNAME upstream", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{
				"example.com. 300 IN A 192.0.2.1",
				"ext.default.svc.cluster.local. 5 IN CNAME example.com.",
			},
		},
		{
			name: "ExternalName into the cluster domain", qname: "alias.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{
				"alias.default.svc.cluster.local. 5 IN CNAME web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 5 IN A 10.96.0.10",
			},
		},
		{
			name: "PTR of a ClusterIP", qname: "10.0.96.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"10.0.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local."},
		},
		{
			name:   "PTR of an IPv6 ClusterIP",
			qname:  "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.",
			qtype:  dns.TypePTR,
			answer: []string{"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa. 5 IN PTR web.default.svc.cluster.local."},
		},
		{
			name: "PTR of a headless endpoint", qname: "5.0.244.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"5.0.244.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local."},
		},
		{
			name: "PTR of an unknown address is forwarded", qname: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR,
			answer:   []string{"1.2.0.192.in-addr.arpa. 300 IN PTR example.com."},
			upstream: true,
		},
		{
			name: "pod A from its dashed name", qname: "10-244-3-4.kube-system.pod.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-244-3-4.kube-system.pod.cluster.local. 5 IN A 10.244.3.4"},
		},
		{
			name: "pod name that is no address", qname: "not-an-ip.default.pod.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true,
		},
		{
			name: "unknown Service", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true,
		},
		{
			name: "unknown namespace", qname: "nope.svc.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true,
		},
		{
			name: "namespace with Services is NODATA", qname: "default.svc.cluster.local.", qtype: dns.TypeA,
			soa: true,
		},
		{
			name: "unknown name in the domain", qname: "whatever.cluster.local.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, soa: true,
		},
		{
			name: "zone SOA", qname: "cluster.local.", qtype: dns.TypeSOA,
			answer: []string{soa + " "},
		},
		{
			name: "dns-version", qname: "dns-version.cluster.local.", qtype: dns.TypeTXT,
			answer: []string{`dns-version.cluster.local. 5 IN TXT "1.1.0"`},
		},
		{
			name: "forwarded", qname: "example.com.", qtype: dns.TypeA,
			answer:   []string{"example.com. 300 IN A 192.0.2.1"},
			upstream: true,
		},
		{
			name: "forwarded over TCP after truncation", qname: "tc.example.", qtype: dns.TypeA,
			answer:   []string{"tc.example. 300 IN A 192.0.2.2"},
			upstream: true,
		},
		{
			name: "forwarded NXDOMAIN is relayed", qname: "nothing.example.", qtype: dns.TypeA,
			rcode:    dns.RcodeNameError,
			upstream: true,
		},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				resp := query(t, srv, network, tt.qname, tt.qtype)
				if resp.Rcode != tt.rcode {
					t.Fatalf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				got := rrStrings(resp.Answer)
				if tt.qtype == dns.TypeSOA {
					// The serial is the start time: compare what precedes it.
					for i := range got {
						got[i] = got[i][:len(soa)+1]
					}
				}
				if !slices.Equal(got, tt.answer) {
					t.Errorf("answer:\n got %q\nwant %q", got, tt.answer)
				}
				var extra []dns.RR
				for _, rr := range resp.Extra {
					if rr.Header().Rrtype != dns.TypeOPT {
						extra = append(extra, rr)
					}
				}
				if got := rrStrings(extra); !slices.Equal(got, tt.extra) {
					t.Errorf("extra:\n got %q\nwant %q", got, tt.extra)
				}
				hasSOA := len(resp.Ns) == 1 && strings.HasPrefix(rrStrings(resp.Ns)[0], soa)
				if hasSOA != tt.soa {
					t.Errorf("authority = %q, want SOA: %v", rrStrings(resp.Ns), tt.soa)
				}
				if resp.Authoritative == tt.upstream {
					t.Errorf("authoritative = %v, want %v", resp.Authoritative, !tt.upstream)
				}
			})
		}
	}
}

func TestServerFollowsChanges(t *testing.T) {
	srv, client := startServer(t, []string{"192.0.2.53"})
	ctx := context.Background()
	svc := service("apps", "late", func(s *corev1.Service) {
		s.Spec.ClusterIP = "10.96.7.7"
		s.Spec.ClusterIPs = []string{"10.96.7.7"}
	})
	if resp := query(t, srv, "udp", "late.apps.svc.cluster.local.", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Fatalf("before creation: rcode %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}
	if _, err := client.CoreV1().Services("apps").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"late.apps.svc.cluster.local. 5 IN A 10.96.7.7"}
	var got []string
	for range 100 {
		got = rrStrings(query(t, srv, "udp", "late.apps.svc.cluster.local.", dns.TypeA).Answer)
		if slices.Equal(got, want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after creation: answer %q, want %q", got, want)
	}
}

func TestQueryWithoutQuestionIsFormErr(t *testing.T) {
	srv, _ := startServer(t, []string{"192.0.2.53"})
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.Id = dns.Id()
	resp, _, err := c.Exchange(m, addrOf(t, srv, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != dns.RcodeFormatError {
		t.Errorf("rcode = %s, want FORMERR", dns.RcodeToString[resp.Rcode])
	}
}

func TestTruncatesLargeUDPAnswers(t *testing.T) {
	var eps []discoveryv1.Endpoint
	for i := range 60 {
		eps = append(eps, ep("10.244.9."+strconv.Itoa(i+1), "", true))
	}
	objs := []runtime.Object{
		service("big", "many", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }),
		slice("big", "many-1", "many", discoveryv1.AddressTypeIPv4, nil, eps...),
	}
	srv, _ := startServer(t, []string{"192.0.2.53"}, objs...)
	udp := query(t, srv, "udp", "many.big.svc.cluster.local.", dns.TypeA)
	if !udp.Truncated {
		t.Errorf("UDP answer of %d records is not truncated", len(udp.Answer))
	}
	tcp := query(t, srv, "tcp", "many.big.svc.cluster.local.", dns.TypeA)
	if tcp.Truncated || len(tcp.Answer) != 60 {
		t.Errorf("TCP answer: truncated %v with %d records, want all 60", tcp.Truncated, len(tcp.Answer))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no listen address", Config{}},
		{"bad domain", Config{Domain: "bad domain", Listen: []string{"127.0.0.1:0"}}},
		{"bad listen address", Config{Listen: []string{"127.0.0.1"}}},
		{"bad upstream", Config{Listen: []string{"127.0.0.1:0"}, Upstreams: []string{"resolver.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if srv, err := New(tt.cfg, factory); err == nil {
				srv.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	srv, err := New(Config{
		Listen:    []string{"127.0.0.1:0"},
		Upstreams: []string{"192.0.2.53"},
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, factory)
	if err != nil {
		t.Fatal(err)
	}
	addr := addrOf(t, srv, "tcp")
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	query(t, srv, "tcp", "cluster.local.", dns.TypeSOA) // serving
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	factory.Shutdown()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Run returned", addr)
	}
}
