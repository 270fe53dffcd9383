package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestServiceCreate(t *testing.T) {
	for name, tc := range map[string]struct {
		svc  *corev1.Service
		want []fieldErr
	}{
		"no ports": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.Ports = nil }),
			want: []fieldErr{required("spec.ports")},
		},
		"headless without ports": {
			svc: updated(clusterIPService(), func(s *corev1.Service) {
				s.Spec.Ports = nil
				s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			}),
		},
		"cluster IP set without cluster IPs": {
			svc: updated(clusterIPService(), func(s *corev1.Service) { s.Spec.ClusterIPs = nil }),
		},
		"not yet allocated": {
			svc: updated(clusterIPService(), func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil }),
		},
		"port out of range": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }),
			want: []fieldErr{invalid("spec.ports[0].port", "must be between 1 and 65535, inclusive")},
		},
		"port protocol": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }),
			want: []fieldErr{notSupported("spec.ports[0].protocol")},
		},
		"names required with several ports": {
			svc:  updated(clusterIPService(), func(s *corev1.Service) { s.Spec.Ports[1].Name = "" }),
			want: []fieldErr{required("spec.ports[1].name")},
		},
		"port names unique": {
			svc:  updated(clusterIPService(), func(s *corev1.Service) { s.Spec.Ports[1].Name = "dns" }),
			want: []fieldErr{duplicate("spec.ports[1].name")},
		},
		"same port twice": {
			svc:  updated(clusterIPService(), func(s *corev1.Service) { s.Spec.Ports[1].Protocol = corev1.ProtocolUDP }),
			want: []fieldErr{duplicate("spec.ports[1]")},
		},
		"target port": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) }),
			want: []fieldErr{invalid("spec.ports[0].targetPort", "must be between 1 and 65535, inclusive")},
		},
		"named target port": {
			svc: updated(service(), func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("redis") }),
		},
		"type": {
			svc: updated(service(), func(s *corev1.Service) { s.Spec.Type = "Public" }),
			want: []fieldErr{
				notSupported("spec.type"),
				invalid("spec.externalTrafficPolicy", "may only be set for externally-accessible services"),
			},
		},
		"node port on a cluster IP service": {
			svc:  updated(clusterIPService(), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30053 }),
			want: []fieldErr{forbidden("spec.ports[0].nodePort", "may not be used when `type` is 'ClusterIP'")},
		},
		"cluster IP": {
			svc: updated(clusterIPService(), func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.300", []string{"10.96.0.300"}
			}),
			want: []fieldErr{invalid("spec.clusterIPs[0]", "must be a valid IP address")},
		},
		"cluster IPs disagree": {
			svc:  updated(clusterIPService(), func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} }),
			want: []fieldErr{invalid("spec.clusterIPs", "first value must match `clusterIP`")},
		},
		"headless node port": {
			svc: updated(service(), func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			}),
			want: []fieldErr{invalid("spec.clusterIPs[0]", "may not be set to 'None' for NodePort services")},
		},
		"selector": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "saythx redis"} }),
			want: []fieldErr{invalid("spec.selector", "a valid label must be")},
		},
		"session affinity": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }),
			want: []fieldErr{notSupported("spec.sessionAffinity")},
		},
		"client IP affinity needs its timeout": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }),
			want: []fieldErr{required("spec.sessionAffinityConfig")},
		},
		"external name required": {
			svc: &corev1.Service{ObjectMeta: objectMeta("db", "work"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, SessionAffinity: corev1.ServiceAffinityNone}},
			want: []fieldErr{required("spec.externalName")},
		},
		"external name with a cluster IP": {
			svc: &corev1.Service{ObjectMeta: objectMeta("db", "work"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", ClusterIP: "10.96.0.5", SessionAffinity: corev1.ServiceAffinityNone}},
			want: []fieldErr{forbidden("spec.clusterIPs", "may not be set for ExternalName services")},
		},
		"external IP": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} }),
			want: []fieldErr{invalid("spec.externalIPs[0]", "may not be in the loopback range")},
		},
		"external traffic policy on a cluster IP service": {
			svc: updated(clusterIPService(), func(s *corev1.Service) {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			}),
			want: []fieldErr{invalid("spec.externalTrafficPolicy", "may only be set for externally-accessible services")},
		},
		"load balancer": {
			svc: updated(service(), func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Spec.AllocateLoadBalancerNodePorts = ptr.To(true)
				s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
			}),
		},
		"source ranges only for load balancers": {
			svc:  updated(service(), func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} }),
			want: []fieldErr{forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(tc.svc), tc.want...)
		})
	}
}

func TestServiceUpdate(t *testing.T) {
	for name, tc := range map[string]struct {
		old    *corev1.Service
		mutate func(*corev1.Service)
		want   []fieldErr
	}{
		"ports and selector": {
			mutate: func(s *corev1.Service) {
				s.Spec.Ports[0].TargetPort = intstr.FromInt32(6380)
				s.Spec.Selector = map[string]string{"app": "redis", "role": "primary"}
			},
		},
		"cluster IP is fixed": {
			mutate: func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.43", []string{"10.96.0.43"} },
			want:   []fieldErr{invalid("spec.clusterIPs[0]", "may not change once set")},
		},
		"cluster IP unset": {
			mutate: func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil },
			want:   []fieldErr{invalid("spec.clusterIPs[0]", "primary clusterIP can not be unset")},
		},
		"to external name": {
			mutate: func(s *corev1.Service) {
				s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "redis.example.com", SessionAffinity: corev1.ServiceAffinityNone}
			},
		},
		"to cluster IP drops node ports": {
			mutate: func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalTrafficPolicy, s.Spec.Ports[0].NodePort = corev1.ServiceTypeClusterIP, "", 0
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			old := tc.old
			if old == nil {
				old = service()
			}
			obj := updated(old, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, Update(obj, old), tc.want...)
		})
	}
}

func TestServiceStatusUpdate(t *testing.T) {
	lb := updated(service(), func(s *corev1.Service) {
		s.Spec.Type, s.Spec.AllocateLoadBalancerNodePorts = corev1.ServiceTypeLoadBalancer, ptr.To(true)
	})
	for name, tc := range map[string]struct {
		old     *corev1.Service
		ingress []corev1.LoadBalancerIngress
		want    []fieldErr
	}{
		"address": {old: lb, ingress: []corev1.LoadBalancerIngress{{IP: "192.168.0.240", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}},
		"bad address": {
			old:     lb,
			ingress: []corev1.LoadBalancerIngress{{IP: "192.168.0", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}},
			want:    []fieldErr{invalid("status.loadBalancer.ingress[0].ip", "must be a valid IP address")},
		},
		"hostname is a name": {
			old:     lb,
			ingress: []corev1.LoadBalancerIngress{{Hostname: "10.0.0.1"}},
			want:    []fieldErr{invalid("status.loadBalancer.ingress[0].hostname", "must be a DNS name, not an IP address")},
		},
		"not a load balancer": {
			old:     service(),
			ingress: []corev1.LoadBalancerIngress{{IP: "192.168.0.240", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}},
			want:    []fieldErr{forbidden("status.loadBalancer.ingress", "may only be used when `spec.type` is 'LoadBalancer'")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := updated(tc.old, func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = tc.ingress })
			expect(t, StatusUpdate(obj, tc.old), tc.want...)
		})
	}
}

func TestEndpoints(t *testing.T) {
	for name, tc := range map[string]struct {
		subsets []corev1.EndpointSubset
		want    []fieldErr
	}{
		"no addresses": {
			subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}}}},
			want:    []fieldErr{required("subsets[0]")},
		},
		"loopback address": {
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "127.0.0.1"}}}},
			want:    []fieldErr{invalid("subsets[0].addresses[0].ip", "may not be in the loopback range")},
		},
		"unnamed ports": {
			subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5"}},
				Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP}}}},
			want: []fieldErr{required("subsets[0].ports[0].name")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(&corev1.Endpoints{ObjectMeta: objectMeta("web", "work"), Subsets: tc.subsets}), tc.want...)
		})
	}
}
