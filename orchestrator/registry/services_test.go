package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// svcOption changes a Service built by newService.
type svcOption func(*corev1.Service)

func newService(opts ...svcOption) *corev1.Service {
	svc := &corev1.Service{}
	svc.Namespace, svc.Name = "default", "web"
	svc.Spec.Type = corev1.ServiceTypeClusterIP
	for _, o := range opts {
		o(svc)
	}
	return svc
}

func withType(t corev1.ServiceType) svcOption {
	return func(s *corev1.Service) { s.Spec.Type = t }
}

func withClusterIP(ip string) svcOption {
	return func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip} }
}

func withFamily(f corev1.IPFamily, p corev1.IPFamilyPolicy) svcOption {
	return func(s *corev1.Service) { s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = []corev1.IPFamily{f}, &p }
}

func withPort(port, nodePort int32, protocol corev1.Protocol) svcOption {
	return func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: port, NodePort: nodePort, Protocol: protocol})
	}
}

func withLocalTraffic(healthCheckNodePort int32) svcOption {
	return func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = healthCheckNodePort
	}
}

func withLBNodePorts(allocate bool) svcOption {
	return func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptr.To(allocate) }
}

func TestKeepAllocated(t *testing.T) {
	const tcp, udp = corev1.ProtocolTCP, corev1.ProtocolUDP
	v4 := withFamily(corev1.IPv4Protocol, corev1.IPFamilyPolicySingleStack)
	cases := []struct {
		name           string
		svc, old, want *corev1.Service
	}{
		{
			name: "create keeps the request as it is",
			svc:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 0, tcp)),
			want: newService(withType(corev1.ServiceTypeNodePort), withPort(80, 0, tcp)),
		},
		{
			name: "an update without clusterIP keeps the old one and its families",
			svc:  newService(withPort(80, 0, tcp)),
			old:  newService(withClusterIP("10.43.0.10"), v4, withPort(80, 0, tcp)),
			want: newService(withClusterIP("10.43.0.10"), v4, withPort(80, 0, tcp)),
		},
		{
			name: "a node port the update gives another port is not carried over",
			svc:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 0, tcp), withPort(8080, 30001, tcp)),
			old:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 30001, tcp)),
			want: newService(withType(corev1.ServiceTypeNodePort), withPort(80, 0, tcp), withPort(8080, 30001, tcp)),
		},
		{
			name: "a headless service stays headless",
			svc:  newService(),
			old:  newService(withClusterIP(corev1.ClusterIPNone)),
			want: newService(withClusterIP(corev1.ClusterIPNone)),
		},
		{
			name: "a family policy the update sets is kept",
			svc:  newService(withFamily(corev1.IPv4Protocol, corev1.IPFamilyPolicyPreferDualStack)),
			old:  newService(withClusterIP("10.43.0.10"), v4),
			want: newService(withFamily(corev1.IPv4Protocol, corev1.IPFamilyPolicyPreferDualStack), func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.10", []string{"10.43.0.10"}
			}),
		},
		{
			name: "an explicit clusterIP is not replaced",
			svc:  newService(withClusterIP("10.43.0.20")),
			old:  newService(withClusterIP("10.43.0.10"), v4),
			want: newService(withClusterIP("10.43.0.20")),
		},
		{
			name: "a service becoming ExternalName gets no clusterIP",
			svc:  newService(withType(corev1.ServiceTypeExternalName)),
			old:  newService(withClusterIP("10.43.0.10"), v4),
			want: newService(withType(corev1.ServiceTypeExternalName)),
		},
		{
			name: "an ExternalName service becoming ClusterIP gets a new clusterIP",
			svc:  newService(),
			old:  newService(withType(corev1.ServiceTypeExternalName)),
			want: newService(),
		},
		{
			name: "node ports are kept by port and protocol",
			svc:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 0, tcp), withPort(53, 0, udp), withPort(53, 0, tcp), withPort(8080, 0, tcp)),
			old:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 30080, tcp), withPort(53, 30053, udp)),
			want: newService(withType(corev1.ServiceTypeNodePort), withPort(80, 30080, tcp), withPort(53, 30053, udp), withPort(53, 0, tcp), withPort(8080, 0, tcp)),
		},
		{
			name: "an explicit node port is not replaced",
			svc:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 30001, tcp)),
			old:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 30080, tcp)),
			want: newService(withType(corev1.ServiceTypeNodePort), withPort(80, 30001, tcp)),
		},
		{
			name: "a NodePort service becoming ClusterIP drops its node ports",
			svc:  newService(withPort(80, 0, tcp)),
			old:  newService(withType(corev1.ServiceTypeNodePort), withPort(80, 30080, tcp)),
			want: newService(withPort(80, 0, tcp)),
		},
		{
			name: "a load balancer without node ports gets none",
			svc:  newService(withType(corev1.ServiceTypeLoadBalancer), withLBNodePorts(false), withPort(80, 0, tcp)),
			old:  newService(withType(corev1.ServiceTypeLoadBalancer), withPort(80, 30080, tcp)),
			want: newService(withType(corev1.ServiceTypeLoadBalancer), withLBNodePorts(false), withPort(80, 0, tcp)),
		},
		{
			name: "a load balancer keeps its health check node port with Local traffic",
			svc:  newService(withType(corev1.ServiceTypeLoadBalancer), withLocalTraffic(0), withPort(80, 0, tcp)),
			old:  newService(withType(corev1.ServiceTypeLoadBalancer), withLocalTraffic(31000), withPort(80, 30080, tcp)),
			want: newService(withType(corev1.ServiceTypeLoadBalancer), withLocalTraffic(31000), withPort(80, 30080, tcp)),
		},
		{
			name: "no health check node port with Cluster traffic",
			svc:  newService(withType(corev1.ServiceTypeLoadBalancer), withPort(80, 0, tcp)),
			old:  newService(withType(corev1.ServiceTypeLoadBalancer), withLocalTraffic(31000), withPort(80, 30080, tcp)),
			want: newService(withType(corev1.ServiceTypeLoadBalancer), withPort(80, 30080, tcp)),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var oldCopy *corev1.Service
			if c.old != nil {
				oldCopy = c.old.DeepCopy()
			}
			keepAllocated(c.svc, c.old)
			if diff := cmp.Diff(c.want, c.svc); diff != "" {
				t.Errorf("service after keepAllocated (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(oldCopy, c.old); diff != "" {
				t.Errorf("keepAllocated changed the old service (-before +after):\n%s", diff)
			}
		})
	}
}

func TestHeld(t *testing.T) {
	cases := []struct {
		name             string
		svc              *corev1.Service
		wantIPs, wantPts []string
	}{
		{name: "no service", svc: nil},
		{name: "headless", svc: newService(withClusterIP(corev1.ClusterIPNone))},
		{name: "empty cluster IPs are skipped", svc: newService(func(s *corev1.Service) { s.Spec.ClusterIPs = []string{""} })},
		{
			name:    "dual stack",
			svc:     newService(func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.43.0.10", "fd00::a"} }),
			wantIPs: []string{"10.43.0.10", "fd00::a"},
		},
		{
			name:    "node ports and the health check port",
			svc:     newService(withClusterIP("10.43.0.10"), withPort(80, 30080, corev1.ProtocolTCP), withPort(81, 0, corev1.ProtocolTCP), withLocalTraffic(31000)),
			wantIPs: []string{"10.43.0.10"},
			wantPts: []string{"30080", "31000"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ips, ports := held(c.svc)
			if diff := cmp.Diff(c.wantIPs, ips); diff != "" {
				t.Errorf("IPs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.wantPts, ports); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNeedsNodePorts(t *testing.T) {
	cases := []struct {
		name string
		svc  *corev1.Service
		want bool
	}{
		{"ClusterIP", newService(), false},
		{"ExternalName", newService(withType(corev1.ServiceTypeExternalName)), false},
		{"NodePort", newService(withType(corev1.ServiceTypeNodePort)), true},
		{"LoadBalancer by default", newService(withType(corev1.ServiceTypeLoadBalancer)), true},
		{"LoadBalancer allocating node ports", newService(withType(corev1.ServiceTypeLoadBalancer), withLBNodePorts(true)), true},
		{"LoadBalancer without node ports", newService(withType(corev1.ServiceTypeLoadBalancer), withLBNodePorts(false)), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := needsNodePorts(c.svc); got != c.want {
				t.Errorf("needsNodePorts = %v, want %v", got, c.want)
			}
		})
	}
}
