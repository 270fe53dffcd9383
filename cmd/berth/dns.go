package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/dns"
)

// dnsService is the Service pods resolve through, named and labelled as
// upstream's kube-dns (CoreDNS) Service is, so that tools looking for it find
// it.
const dnsService = "kube-dns"

// startDNS serves cluster DNS on the node's address at port and publishes
// it as kube-system/kube-dns at clusterIP, which pods get as their
// nameserver. It answers the pods (clusterCIDRs) and this node only: no open
// resolver for the node's network.
func startDNS(ctx context.Context, client kubernetes.Interface, nodeIP net.IP, port int, clusterIP net.IP, domain string, clusterCIDRs []*net.IPNet) error {
	if err := ensureDNSService(ctx, client, nodeIP, port, clusterIP); err != nil {
		return fmt.Errorf("publishing cluster DNS: %w", err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	self := &net.IPNet{IP: nodeIP.To16(), Mask: net.CIDRMask(128, 128)}
	if v4 := nodeIP.To4(); v4 != nil {
		self = &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	clients := append([]*net.IPNet{self}, clusterCIDRs...)
	srv, err := dns.New(dns.Config{Domain: domain, Listen: []string{net.JoinHostPort(nodeIP.String(), strconv.Itoa(port))}, Clients: clients}, factory)
	if err != nil {
		return fmt.Errorf("cluster DNS (is another DNS server listening there? --cluster-dns-port picks another port): %w", err)
	}
	factory.Start(ctx.Done())
	go func() {
		if err := srv.Run(ctx); err != nil {
			slog.Error("cluster DNS stopped", "err", err)
		}
	}()
	return nil
}

// ensureDNSService creates (or points again at this node) the kube-dns
// Service, which has no selector, and the EndpointSlice that sends it here.
func ensureDNSService(ctx context.Context, client kubernetes.Interface, nodeIP net.IP, port int, clusterIP net.IP) error {
	labels := map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "kubernetes.io/cluster-service": "true"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: dnsService, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(int32(port))},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))},
			},
		},
	}
	existing, err := client.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, dnsService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := client.CoreV1().Services(metav1.NamespaceSystem).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return err
		}
	case err != nil:
		return err
	case existing.Spec.ClusterIP != clusterIP.String():
		return fmt.Errorf("service %s/%s holds cluster IP %s, not --cluster-dns %s: delete it or pass --cluster-dns %[3]s",
			metav1.NamespaceSystem, dnsService, existing.Spec.ClusterIP, clusterIP)
	}
	family := discoveryv1.AddressTypeIPv4
	if nodeIP.To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: dnsService, Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{discoveryv1.LabelServiceName: dnsService, discoveryv1.LabelManagedBy: "berth"},
		},
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{nodeIP.String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("dns"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolUDP)},
			{Name: ptr.To("dns-tcp"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)},
		},
	}
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem)
	old, err := slices.Get(ctx, dnsService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = old.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	return err
}
