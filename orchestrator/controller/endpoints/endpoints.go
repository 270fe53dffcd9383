package endpoints

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// syncEndpoints writes the Service's core/v1 Endpoints object.
func (c *Controller) syncEndpoints(ctx context.Context, key string, svc *corev1.Service, pods []*corev1.Pod, trigger time.Time) error {
	subsets := buildSubsets(svc, pods)
	subsets, truncated := truncate(subsets, maxEndpointsCapacity)
	current, err := c.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	cached := map[types.UID]string{}
	switch {
	case apierrors.IsNotFound(err):
		current = nil
	case err != nil:
		return err
	default:
		cached[current.UID] = current.ResourceVersion
	}
	if c.endpointWrites.stale(key, cached) {
		return fmt.Errorf("endpoints %s: %w", key, errStale)
	}
	wantLabels := endpointsLabels(svc)
	if current != nil && equalSubsets(current.Subsets, subsets) && equalLabels(current.Labels, wantLabels) &&
		(current.Annotations[corev1.EndpointsOverCapacity] == "truncated") == truncated {
		return nil
	}
	next := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace}}
	if current != nil {
		next = current.DeepCopy()
	}
	next.Subsets = subsets
	next.Labels = wantLabels
	next.Annotations = maps.Clone(next.Annotations)
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	setTriggerTime(next.Annotations, trigger)
	if truncated {
		next.Annotations[corev1.EndpointsOverCapacity] = "truncated"
	} else {
		delete(next.Annotations, corev1.EndpointsOverCapacity)
	}

	api := c.client.CoreV1().Endpoints(svc.Namespace) //nolint:staticcheck // still served
	var written *corev1.Endpoints
	if current == nil {
		written, err = api.Create(ctx, next, metav1.CreateOptions{})
	} else {
		written, err = api.Update(ctx, next, metav1.UpdateOptions{})
	}
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // creates keep failing in a terminating namespace
		}
		if current == nil {
			c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s/%s: %v", svc.Namespace, svc.Name, err)
		} else {
			c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s/%s: %v", svc.Namespace, svc.Name, err)
		}
		return fmt.Errorf("writing endpoints %s: %w", key, err)
	}
	before := ""
	if current != nil {
		before = current.ResourceVersion
	}
	if current == nil || written.ResourceVersion != before {
		c.endpointWrites.wrote(key, written.UID, before, written.ResourceVersion)
	}
	return nil
}

// endpointsLabels are the Service's labels plus the headless marker.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := maps.Clone(svc.Labels)
	if out == nil {
		out = map[string]string{}
	}
	delete(out, corev1.IsHeadlessService)
	if headless(svc) {
		out[corev1.IsHeadlessService] = ""
	}
	return out
}

func headless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone
}

func setTriggerTime(annotations map[string]string, trigger time.Time) {
	if trigger.IsZero() {
		delete(annotations, corev1.EndpointsLastChangeTriggerTime)
		return
	}
	annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
}

// endpointsFamily is the one address family an Endpoints object lists: the
// Service's primary family, else its cluster IP's; "" for a headless Service
// that has none, which then takes each pod's first address.
func endpointsFamily(svc *corev1.Service) corev1.IPFamily {
	if len(svc.Spec.IPFamilies) > 0 {
		return svc.Spec.IPFamilies[0]
	}
	if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
		if a.Unmap().Is4() {
			return corev1.IPv4Protocol
		}
		return corev1.IPv6Protocol
	}
	return ""
}

func addrOfFamily(pod *corev1.Pod, family corev1.IPFamily) string {
	for _, a := range podIPs(pod) {
		if family == "" || a.Is4() == (family == corev1.IPv4Protocol) {
			return a.String()
		}
	}
	return ""
}

// buildSubsets groups the Service's pods by the ports they resolve to, in a
// stable order: subsets by ports, addresses by IP.
func buildSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	family := endpointsFamily(svc)
	groups := map[string]*corev1.EndpointSubset{}
	for _, pod := range pods {
		if !hasEndpoint(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		ip := addrOfFamily(pod, family)
		if ip == "" {
			continue
		}
		addr := corev1.EndpointAddress{IP: ip, TargetRef: &corev1.ObjectReference{
			Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}}
		if pod.Spec.NodeName != "" {
			node := pod.Spec.NodeName
			addr.NodeName = &node
		}
		if setHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			if n, ok := findPort(pod, sp); ok {
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
			}
		}
		switch {
		case len(svc.Spec.Ports) == 0 && !headless(svc):
			continue // nothing to reach it on
		case len(svc.Spec.Ports) > 0 && len(ports) == 0:
			continue // none of the Service's ports resolve on this pod
		}
		k := endpointPortsKey(ports)
		g := groups[k]
		if g == nil {
			g = &corev1.EndpointSubset{Ports: ports}
			groups[k] = g
		}
		if svc.Spec.PublishNotReadyAddresses || podReady(pod) {
			g.Addresses = append(g.Addresses, addr)
		} else {
			g.NotReadyAddresses = append(g.NotReadyAddresses, addr)
		}
	}
	var out []corev1.EndpointSubset
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		sortAddresses(g.Addresses)
		sortAddresses(g.NotReadyAddresses)
		out = append(out, *g)
	}
	return out
}

func endpointPortsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		fmt.Fprintf(&b, "%s/%s/%d/%s;", p.Name, p.Protocol, p.Port, app)
	}
	return b.String()
}

func sortAddresses(addrs []corev1.EndpointAddress) {
	slices.SortFunc(addrs, func(a, b corev1.EndpointAddress) int {
		if c := strings.Compare(a.IP, b.IP); c != 0 {
			return c
		}
		return strings.Compare(a.TargetRef.Name, b.TargetRef.Name)
	})
}

// truncate keeps at most limit addresses, ready ones first, and reports whether
// it dropped any.
func truncate(subsets []corev1.EndpointSubset, limit int) ([]corev1.EndpointSubset, bool) {
	total := 0
	for _, s := range subsets {
		total += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	if total <= limit {
		return subsets, false
	}
	room := limit
	for i := range subsets {
		n := min(room, len(subsets[i].Addresses))
		subsets[i].Addresses = subsets[i].Addresses[:n]
		room -= n
	}
	for i := range subsets {
		n := min(room, len(subsets[i].NotReadyAddresses))
		subsets[i].NotReadyAddresses = subsets[i].NotReadyAddresses[:n]
		room -= n
	}
	kept := subsets[:0]
	for _, s := range subsets {
		if len(s.Addresses)+len(s.NotReadyAddresses) > 0 {
			kept = append(kept, s)
		}
	}
	return kept, true
}

// equalSubsets compares subsets, ignoring the resource versions of target
// references, which change with every pod update.
func equalSubsets(a, b []corev1.EndpointSubset) bool {
	return equality.Semantic.DeepEqual(withoutRefVersions(a), withoutRefVersions(b))
}

func withoutRefVersions(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	out := make([]corev1.EndpointSubset, len(subsets))
	for i, s := range subsets {
		s = *s.DeepCopy()
		for _, addrs := range [][]corev1.EndpointAddress{s.Addresses, s.NotReadyAddresses} {
			for j := range addrs {
				if addrs[j].TargetRef != nil {
					addrs[j].TargetRef.ResourceVersion = ""
				}
			}
		}
		out[i] = s
	}
	return out
}
