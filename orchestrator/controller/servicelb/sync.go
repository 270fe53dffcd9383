package servicelb

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// Event reasons and messages, upstream's service controller's.
const (
	ReasonEnsuring    = "EnsuringLoadBalancer"
	ReasonEnsured     = "EnsuredLoadBalancer"
	ReasonUpdated     = "UpdatedLoadBalancer"
	ReasonDeleted     = "DeletedLoadBalancer"
	ReasonUnavailable = "UnAvailableLoadBalancer"
	ReasonSyncFailed  = "SyncLoadBalancerFailed"
)

// sync brings one Service's ingress addresses in line with the nodes.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key this controller queues; retrying cannot help
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.unavailable.remove(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting service %s from the cache: %w", key, err)
	}
	if !wantsAddresses(svc) {
		c.unavailable.remove(key)
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 {
			return nil // another implementation's, or nothing to clear
		}
		if err := c.writeStatus(ctx, svc, nil); err != nil {
			return err
		}
		c.recorder.Event(svc, corev1.EventTypeNormal, ReasonDeleted, "Deleted load balancer")
		return nil
	}

	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	want := c.ingress(svc, nodes)
	if len(want) == 0 {
		if c.unavailable.add(key) {
			c.recorder.Event(svc, corev1.EventTypeWarning, ReasonUnavailable, "There are no available nodes for LoadBalancer")
		}
	} else {
		c.unavailable.remove(key)
	}
	had := svc.Status.LoadBalancer.Ingress
	if sameIngress(had, want) {
		return nil
	}
	if len(had) == 0 {
		c.recorder.Event(svc, corev1.EventTypeNormal, ReasonEnsuring, "Ensuring load balancer")
	}
	if err := c.writeStatus(ctx, svc, want); err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonSyncFailed, "Error syncing load balancer: %v", err)
		return err
	}
	switch {
	case len(had) == 0:
		c.recorder.Event(svc, corev1.EventTypeNormal, ReasonEnsured, "Ensured load balancer")
	case len(want) > 0:
		c.recorder.Event(svc, corev1.EventTypeNormal, ReasonUpdated, "Updated load balancer with new hosts")
	}
	c.log.Info("load balancer addresses", "service", key, "ingress", ips(want))
	return nil
}

// writeStatus writes ingress as svc's load balancer status (a copy: svc is
// the cache's).
func (c *Controller) writeStatus(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	svc = svc.DeepCopy()
	svc.Status.LoadBalancer = corev1.LoadBalancerStatus{Ingress: ingress}
	if _, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // gone: nothing left to give addresses to
		}
		return fmt.Errorf("writing the load balancer status of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

// wantsAddresses says svc is a LoadBalancer this controller serves.
func wantsAddresses(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil && svc.DeletionTimestamp.IsZero()
}

// ingress is what svc's status should say: the host addresses of every
// node, of svc's families, sorted.
func (c *Controller) ingress(svc *corev1.Service, nodes []*corev1.Node) []corev1.LoadBalancerIngress {
	v4, v6 := families(svc)
	var addrs []netip.Addr
	for _, node := range nodes {
		for _, a := range c.hostAddresses(node) {
			if (a.Is4() && v4) || (a.Is6() && v6) {
				addrs = append(addrs, a)
			}
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	vip := corev1.LoadBalancerIPModeVIP
	out := make([]corev1.LoadBalancerIngress, len(addrs))
	for i, a := range addrs {
		out[i] = corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip}
	}
	return out
}

// families says which address families svc takes: spec.ipFamilies, or
// those of its ClusterIPs when they are not set yet.
func families(svc *corev1.Service) (v4, v6 bool) {
	for _, f := range svc.Spec.IPFamilies {
		v4, v6 = v4 || f == corev1.IPv4Protocol, v6 || f == corev1.IPv6Protocol
	}
	if v4 || v6 {
		return v4, v6
	}
	for _, s := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if a, err := netip.ParseAddr(s); err == nil {
			v4, v6 = v4 || a.Unmap().Is4(), v6 || a.Unmap().Is6()
		}
	}
	if !v4 && !v6 {
		return true, true // headless or unallocated: no family to go by
	}
	return v4, v6
}

// hostAddresses are the InternalIP addresses a node lends LoadBalancers,
// sorted; none unless it is Ready, schedulable, not being deleted, not
// excluded from load balancers (node.kubernetes.io/exclude-from-external-load-balancers,
// as upstream) and selected.
func (c *Controller) hostAddresses(node *corev1.Node) []netip.Addr {
	if node == nil || node.Spec.Unschedulable || !node.DeletionTimestamp.IsZero() || !ready(node) {
		return nil
	}
	if _, excluded := node.Labels[corev1.LabelNodeExcludeBalancers]; excluded || !c.selector.Matches(labels.Set(node.Labels)) {
		return nil
	}
	var out []netip.Addr
	for _, a := range node.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

func ready(node *corev1.Node) bool {
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// sameIngress compares ingress lists as the API keeps them: an unset ipMode
// of an address is VIP.
func sameIngress(a, b []corev1.LoadBalancerIngress) bool {
	mode := func(in corev1.LoadBalancerIngress) corev1.LoadBalancerIPMode {
		if in.IPMode == nil && in.IP != "" {
			return corev1.LoadBalancerIPModeVIP
		}
		if in.IPMode == nil {
			return ""
		}
		return *in.IPMode
	}
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && mode(x) == mode(y) && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}

func ips(ingress []corev1.LoadBalancerIngress) []string {
	out := make([]string, len(ingress))
	for i, in := range ingress {
		out[i] = in.IP
	}
	return out
}

// keySet is a set of Service keys safe for the workers to share.
type keySet struct {
	mu   sync.Mutex
	keys map[string]bool
}

func newKeySet() *keySet { return &keySet{keys: map[string]bool{}} }

// add adds key and says whether it was new.
func (s *keySet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[key] {
		return false
	}
	s.keys[key] = true
	return true
}

func (s *keySet) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}
