package ingress

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// serviceIndex indexes EndpointSlices by the namespace/name of their Service.
const serviceIndex = "berth-ingress-service"

func indexSliceService(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	svc := es.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + svc}, nil
}

// backend is one Service port of an Ingress with the endpoints it had when
// the table was built.
type backend struct {
	// name is namespace/service:port, for logs.
	name string
	// addrs are the ready endpoints as host:port, sorted.
	addrs []string
	// why says, when addrs is empty, why there are none.
	why string
	// next counts picks; it is carried from table to table while the
	// backend stays, so a rebuild does not send every backend's next
	// request to its first endpoint.
	next *atomic.Uint64
}

// pick returns the next endpoint, round robin.
func (b *backend) pick() (string, bool) {
	if len(b.addrs) == 0 {
		return "", false
	}
	return b.addrs[(b.next.Add(1)-1)%uint64(len(b.addrs))], true
}

// other returns the next endpoint that is not failed.
func (b *backend) other(failed string) (string, bool) {
	for range len(b.addrs) {
		if a, _ := b.pick(); a != failed {
			return a, true
		}
	}
	return "", false
}

// backendName is the key of a Service backend in ns.
func backendName(ns string, sb *networkingv1.IngressServiceBackend) string {
	return ns + "/" + sb.Name + ":" + portString(sb.Port)
}

// portString is a backend's port as users write it: a name or a number.
func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

// resolve finds the ready endpoints of a Service backend in ns: the
// Service's port (by number or name), then each EndpointSlice's port of the
// same name, which holds the target port of the endpoints in that slice.
func (b *builder) resolve(ns string, sb *networkingv1.IngressServiceBackend) (addrs []string, why string) {
	svc, err := b.services.Services(ns).Get(sb.Name)
	if err != nil {
		return nil, fmt.Sprintf("Service %s/%s: %v", ns, sb.Name, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, fmt.Sprintf("Service %s/%s is an ExternalName Service, which ingress does not proxy to", ns, sb.Name)
	}
	var sp *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if (sb.Port.Name != "" && p.Name == sb.Port.Name) || (sb.Port.Name == "" && p.Port == sb.Port.Number) {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	if sp == nil {
		return nil, fmt.Sprintf("Service %s/%s has no TCP port %s", ns, sb.Name, portString(sb.Port))
	}
	objs, err := b.slices.ByIndex(serviceIndex, ns+"/"+sb.Name)
	if err != nil {
		return nil, fmt.Sprintf("listing EndpointSlices of Service %s/%s: %v", ns, sb.Name, err)
	}
	for _, o := range objs {
		addrs = append(addrs, sliceAddrs(o.(*discoveryv1.EndpointSlice), sp.Name)...)
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	if len(addrs) == 0 {
		return nil, fmt.Sprintf("Service %s/%s has no ready endpoints", ns, sb.Name)
	}
	return addrs, ""
}

// sliceAddrs returns host:port of the ready endpoints of es on its TCP port
// named portName.
func sliceAddrs(es *discoveryv1.EndpointSlice, portName string) []string {
	if es.AddressType == discoveryv1.AddressTypeFQDN {
		return nil
	}
	port := -1
	for _, p := range es.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name == portName && p.Port != nil && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) {
			port = int(*p.Port)
			break
		}
	}
	if port < 0 {
		return nil
	}
	var out []string
	for _, ep := range es.Endpoints {
		// Ready unset means unknown, which consumers are told to take as
		// ready.
		if (ep.Conditions.Ready != nil && !*ep.Conditions.Ready) || len(ep.Addresses) == 0 {
			continue
		}
		// The addresses of one endpoint are fungible; the first will do.
		out = append(out, net.JoinHostPort(ep.Addresses[0], strconv.Itoa(port)))
	}
	return out
}
