package endpoints

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// plan is what a sync writes: slices to create, update and delete.
type plan struct {
	create, update, remove []*discoveryv1.EndpointSlice
}

// syncSlices writes the Service's EndpointSlices. Slices are grouped by address
// type and by the ports their endpoints resolve to; an endpoint stays in the
// slice it is in, so that a change rewrites as few slices as it can, and new
// endpoints go to slices that are written anyway before new slices are made.
func (c *Controller) syncSlices(ctx context.Context, key string, svc *corev1.Service, pods []*corev1.Pod, trigger time.Time) error {
	existing, err := c.slices.EndpointSlices(svc.Namespace).List(sliceSelector(svc.Name))
	if err != nil {
		return err
	}
	cached := make(map[types.UID]string, len(existing))
	for _, s := range existing {
		cached[s.UID] = s.ResourceVersion
	}
	if c.sliceWrites.stale(key, cached) {
		return fmt.Errorf("endpointslices of %s: %w", key, errStale)
	}
	p := &plan{}
	addressTypes := addressTypes(svc)
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !slices.Contains(addressTypes, s.AddressType) || !ownedBy(s, svc) {
			p.remove = append(p.remove, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	for _, t := range addressTypes {
		c.planAddressType(p, svc, pods, byType[t], t)
	}
	return c.apply(ctx, key, svc, p, trigger)
}

// group is the endpoints that share one set of ports, in pod order.
type group struct {
	ports []discoveryv1.EndpointPort
	want  map[string]discoveryv1.Endpoint // pod name → endpoint
	order []string
}

// take removes and returns the wanted endpoint of a pod.
func (g *group) take(pod string) (discoveryv1.Endpoint, bool) {
	ep, ok := g.want[pod]
	delete(g.want, pod)
	return ep, ok
}

// rest is what no existing slice took.
func (g *group) rest() []discoveryv1.Endpoint {
	var out []discoveryv1.Endpoint
	for _, name := range g.order {
		if ep, ok := g.want[name]; ok {
			out = append(out, ep)
		}
	}
	return out
}

func (c *Controller) planAddressType(p *plan, svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, t discoveryv1.AddressType) {
	groups := map[string]*group{}
	for _, pod := range pods {
		if !hasEndpoint(pod, true) {
			continue
		}
		ep := c.endpointFor(pod, svc, t)
		if len(ep.Addresses) == 0 {
			continue
		}
		ports := slicePorts(svc, pod)
		k := slicePortsKey(ports)
		g := groups[k]
		if g == nil {
			g = &group{ports: ports, want: map[string]discoveryv1.Endpoint{}}
			groups[k] = g
		}
		if _, dup := g.want[pod.Name]; !dup {
			g.order = append(g.order, pod.Name)
		}
		g.want[pod.Name] = ep
	}
	existingByPorts := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := slicePortsKey(s.Ports)
		existingByPorts[k] = append(existingByPorts[k], s)
	}
	remain := 0
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		remain += c.planGroup(p, svc, existingByPorts[k], groups[k], t)
	}
	for k, ss := range existingByPorts {
		if groups[k] == nil {
			p.remove = append(p.remove, ss...)
		}
	}
	if remain > 0 {
		return
	}
	// A Service with no endpoints still has one empty slice, as upstream: it
	// tells readers the Service is handled and has nothing behind it.
	i := slices.IndexFunc(p.remove, func(s *discoveryv1.EndpointSlice) bool {
		return s.AddressType == t && len(s.Endpoints) == 0 && len(s.Ports) == 0 && ownedBy(s, svc)
	})
	if i < 0 {
		p.create = append(p.create, newSlice(svc, t, nil, nil))
		return
	}
	placeholder := p.remove[i]
	p.remove = slices.Delete(p.remove, i, i+1)
	if labels, changed := sliceLabels(placeholder.Labels, svc); changed {
		s := placeholder.DeepCopy()
		s.Labels = labels
		p.update = append(p.update, s)
	}
}

// planGroup fits a group's endpoints into the existing slices of its ports and
// new ones; it returns how many slices the group has afterwards.
func (c *Controller) planGroup(p *plan, svc *corev1.Service, existing []*discoveryv1.EndpointSlice, g *group, t discoveryv1.AddressType) int {
	var updated, unchanged []*discoveryv1.EndpointSlice
	for _, s := range existing {
		var eps []discoveryv1.Endpoint
		changed := false
		for _, ep := range s.Endpoints {
			want, ok := g.take(podOf(ep))
			if !ok {
				changed = true
				continue
			}
			if !equalEndpoints(ep, want) {
				changed = true
			}
			eps = append(eps, want)
		}
		labels, labelsChanged := sliceLabels(s.Labels, svc)
		switch {
		case len(eps) == 0:
			p.remove = append(p.remove, s)
		case changed || labelsChanged:
			n := s.DeepCopy()
			n.Endpoints, n.Labels = eps, labels
			updated = append(updated, n)
		default:
			unchanged = append(unchanged, s)
		}
	}
	rest := g.rest()
	// Slices written anyway take new endpoints first.
	for _, u := range updated {
		n := min(len(rest), c.maxPerSlice-len(u.Endpoints))
		if n > 0 {
			u.Endpoints = append(u.Endpoints, rest[:n]...)
			rest = rest[n:]
		}
	}
	var created []*discoveryv1.EndpointSlice
	for len(rest) >= c.maxPerSlice {
		created = append(created, newSlice(svc, t, g.ports, rest[:c.maxPerSlice]))
		rest = rest[c.maxPerSlice:]
	}
	if len(rest) > 0 {
		// The remainder goes to the untouched slice it fills best, else to a new one.
		best := -1
		for i, s := range unchanged {
			room := c.maxPerSlice - len(s.Endpoints)
			if room >= len(rest) && (best < 0 || room < c.maxPerSlice-len(unchanged[best].Endpoints)) {
				best = i
			}
		}
		if best >= 0 {
			n := unchanged[best].DeepCopy()
			n.Endpoints = append(n.Endpoints, rest...)
			updated = append(updated, n)
			unchanged = slices.Delete(unchanged, best, best+1)
		} else {
			created = append(created, newSlice(svc, t, g.ports, rest))
		}
	}
	p.update = append(p.update, updated...)
	p.create = append(p.create, created...)
	return len(updated) + len(unchanged) + len(created)
}

// apply writes a plan: creates, then updates, then deletes, so that an endpoint
// moving between slices is never missing from all of them.
func (c *Controller) apply(ctx context.Context, key string, svc *corev1.Service, p *plan, trigger time.Time) error {
	// Updating a slice that would be deleted costs readers less than a create
	// and a delete.
	var creates []*discoveryv1.EndpointSlice
	for _, cr := range p.create {
		i := slices.IndexFunc(p.remove, func(s *discoveryv1.EndpointSlice) bool {
			return s.AddressType == cr.AddressType && ownedBy(s, svc)
		})
		if i < 0 {
			creates = append(creates, cr)
			continue
		}
		n := p.remove[i].DeepCopy()
		n.Labels, n.Ports, n.Endpoints = cr.Labels, cr.Ports, cr.Endpoints
		p.update = append(p.update, n)
		p.remove = slices.Delete(p.remove, i, i+1)
	}
	api := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	var errs []error
	if svc.DeletionTimestamp == nil { // do not race the garbage collector
		for _, s := range creates {
			s.Annotations = withTriggerTime(s.Annotations, trigger)
			got, err := api.Create(ctx, s, metav1.CreateOptions{})
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("creating EndpointSlice: %w", err))
				continue
			}
			c.sliceWrites.wrote(key, got.UID, "", got.ResourceVersion)
		}
	}
	for _, s := range p.update {
		s.Annotations = withTriggerTime(s.Annotations, trigger)
		before := s.ResourceVersion
		got, err := api.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("updating EndpointSlice %s: %w", s.Name, err))
			continue
		}
		if got.ResourceVersion != before {
			c.sliceWrites.wrote(key, got.UID, before, got.ResourceVersion)
		}
	}
	for _, s := range p.remove {
		uid := s.UID
		err := api.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting EndpointSlice %s: %w", s.Name, err))
			continue
		}
		c.sliceWrites.deleted(key, s)
	}
	if err := errors.Join(errs...); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
			"Error updating Endpoint Slices for Service %s/%s: %v", svc.Namespace, svc.Name, err)
		return err
	}
	return nil
}

func withTriggerTime(annotations map[string]string, trigger time.Time) map[string]string {
	out := maps.Clone(annotations)
	if out == nil {
		out = map[string]string{}
	}
	setTriggerTime(out, trigger)
	return out
}

// endpointFor is a pod's endpoint in a slice of address type t. A terminating
// pod is never ready (unless the Service publishes not-ready addresses) but can
// still be serving, which lets proxies drain to it when nothing else is left.
func (c *Controller) endpointFor(pod *corev1.Pod, svc *corev1.Service, t discoveryv1.AddressType) discoveryv1.Endpoint {
	serving := podReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	for _, a := range podIPs(pod) {
		if a.Is4() == (t == discoveryv1.AddressTypeIPv4) {
			ep.Addresses = append(ep.Addresses, a.String())
		}
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
		if n, err := c.nodes.Get(node); err == nil && n.Labels[corev1.LabelTopologyZone] != "" {
			zone := n.Labels[corev1.LabelTopologyZone]
			ep.Zone = &zone
		}
	}
	if setHostname(pod, svc) {
		hostname := pod.Spec.Hostname
		ep.Hostname = &hostname
	}
	return ep
}

// slicePorts are the Service's ports as resolved on a pod; a port whose
// targetPort the pod does not have is left out.
func slicePorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	ports := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		n, ok := findPort(pod, sp)
		if !ok {
			continue
		}
		name, protocol := sp.Name, sp.Protocol
		ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &n, Protocol: &protocol, AppProtocol: sp.AppProtocol})
	}
	return ports
}

// slicePortsKey identifies a set of ports, whatever their order.
func slicePortsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		parts = append(parts, fmt.Sprintf("%s/%s/%d/%s", deref(p.Name), deref(p.Protocol), deref(p.Port), deref(p.AppProtocol)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ";")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// addressTypes are the address types of the Service's slices: its IP
// families, else its cluster IP's, else (headless without families) both.
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	switch endpointsFamily(svc) {
	case corev1.IPv4Protocol:
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
	case corev1.IPv6Protocol:
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}
	}
	return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}
}

// sliceLabels are a slice's labels: the Service's, except the reserved ones,
// which this controller sets. changed reports whether current differs.
func sliceLabels(current map[string]string, svc *corev1.Service) (map[string]string, bool) {
	want := map[string]string{}
	for k, v := range svc.Labels {
		if k != discoveryv1.LabelServiceName && k != discoveryv1.LabelManagedBy && k != corev1.IsHeadlessService {
			want[k] = v
		}
	}
	want[discoveryv1.LabelServiceName] = svc.Name
	want[discoveryv1.LabelManagedBy] = ManagedBy
	if headless(svc) {
		want[corev1.IsHeadlessService] = ""
	}
	return want, !equalLabels(current, want)
}

func newSlice(svc *corev1.Service, t discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	labels, _ := sliceLabels(nil, svc)
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: t,
		Ports:       slices.Clone(ports),
		Endpoints:   slices.Clone(eps),
	}
	if s.Ports == nil {
		s.Ports = []discoveryv1.EndpointPort{}
	}
	if s.Endpoints == nil {
		s.Endpoints = []discoveryv1.Endpoint{}
	}
	return s
}

func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.UID == svc.UID && o.Kind == "Service" && o.APIVersion == "v1" {
			return true
		}
	}
	return false
}

func podOf(ep discoveryv1.Endpoint) string {
	if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
		return ""
	}
	return ep.TargetRef.Name
}

// equalEndpoints compares endpoints, ignoring the target's resource version.
func equalEndpoints(a, b discoveryv1.Endpoint) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	for _, ep := range []*discoveryv1.Endpoint{&a, &b} {
		if ep.TargetRef != nil {
			ep.TargetRef.ResourceVersion = ""
		}
	}
	return equality.Semantic.DeepEqual(a, b)
}
