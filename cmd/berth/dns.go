package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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

// newDNS makes the node's cluster DNS server, on the node's address at
// port, and publishes it as kube-system/kube-dns at the cluster DNS address,
// which pods get as their nameserver. Every node runs one and the Service's
// internal traffic policy is Local, so pods ask their own node's server (as
// NodeLocal DNSCache has it). It answers the pods (cluster CIDRs) and this
// node only: no open resolver for the node's network.
func newDNS(ctx context.Context, client kubernetes.Interface, factory informers.SharedInformerFactory, nodeName string, nodeIP net.IP, port int, network clusterNetwork) (func(context.Context) error, error) {
	if err := ensureDNSService(ctx, client, port, network.clusterDNS); err != nil {
		return nil, fmt.Errorf("publishing cluster DNS: %w", err)
	}
	self := &net.IPNet{IP: nodeIP.To16(), Mask: net.CIDRMask(128, 128)}
	if v4 := nodeIP.To4(); v4 != nil {
		self = &net.IPNet{IP: v4, Mask: net.CIDRMask(32, 32)}
	}
	clients := append([]*net.IPNet{self}, network.clusterCIDRs...)
	srv, err := dns.New(dns.Config{Domain: network.clusterDomain, Listen: []string{net.JoinHostPort(nodeIP.String(), strconv.Itoa(port))}, Clients: clients}, factory)
	if err != nil {
		return nil, fmt.Errorf("cluster DNS (is another DNS server listening there? --cluster-dns-port picks another port): %w", err)
	}
	return func(ctx context.Context) error {
		go publishDNSEndpoints(ctx, client, nodeName, nodeIP, port)
		return srv.Run(ctx)
	}, nil
}

// publishDNSEndpoints keeps this node's EndpointSlice of kube-dns. It belongs
// to the Node, so that it goes with it: wait for the agent to register the
// Node, and check now and then that the slice is still there (a Node deleted
// and registered again took its slice along).
func publishDNSEndpoints(ctx context.Context, client kubernetes.Interface, nodeName string, nodeIP net.IP, port int) {
	for {
		interval := 30 * time.Second
		err := ensureDNSEndpoints(ctx, client, nodeName, nodeIP, port)
		if err != nil {
			interval = time.Second
			if !apierrors.IsNotFound(err) && ctx.Err() == nil {
				slog.Error("publishing this node's cluster DNS server", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// ensureDNSService creates the kube-dns Service, which has no selector: each
// node's agent adds an EndpointSlice of its own server.
func ensureDNSService(ctx context.Context, client kubernetes.Interface, port int, clusterIP net.IP) error {
	labels := map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "kubernetes.io/cluster-service": "true"}
	local := corev1.ServiceInternalTrafficPolicyLocal
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: dnsService, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: corev1.ServiceSpec{
			ClusterIP:             clusterIP.String(),
			InternalTrafficPolicy: &local,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(int32(port))},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))},
			},
		},
	}
	services := client.CoreV1().Services(metav1.NamespaceSystem)
	existing, err := services.Get(ctx, dnsService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = services.Create(ctx, svc, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // another node made it
		}
		return err
	case err != nil:
		return err
	case existing.Spec.ClusterIP != clusterIP.String():
		return fmt.Errorf("service %s/%s holds cluster IP %s, not the cluster DNS address %s: delete it or pass --cluster-dns %[3]s to berth server",
			metav1.NamespaceSystem, dnsService, existing.Spec.ClusterIP, clusterIP)
	case existing.Spec.InternalTrafficPolicy == nil || *existing.Spec.InternalTrafficPolicy != local:
		existing.Spec.InternalTrafficPolicy = &local
		_, err = services.Update(ctx, existing, metav1.UpdateOptions{})
		return err
	}
	return nil
}

// ensureDNSEndpoints creates or updates the EndpointSlice of this node's DNS
// server, owned by its Node. It fails NotFound while there is no Node.
func ensureDNSEndpoints(ctx context.Context, client kubernetes.Interface, nodeName string, nodeIP net.IP, port int) error {
	node, err := client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	family := discoveryv1.AddressTypeIPv4
	if nodeIP.To4() == nil {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: dnsService + "-" + nodeName, Namespace: metav1.NamespaceSystem,
			Labels:          map[string]string{discoveryv1.LabelServiceName: dnsService, discoveryv1.LabelManagedBy: "berth"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
		},
		AddressType: family,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{nodeIP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   &nodeName,
		}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("dns"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolUDP)},
			{Name: ptr.To("dns-tcp"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)},
		},
	}
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem)
	old, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil && (old.AddressType != slice.AddressType || !equality.Semantic.DeepEqual(old.Endpoints, slice.Endpoints) ||
		!equality.Semantic.DeepEqual(old.Ports, slice.Ports) || !equality.Semantic.DeepEqual(old.OwnerReferences, slice.OwnerReferences)):
		slice.ResourceVersion = old.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	return err
}
