package registry

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	netutils "k8s.io/utils/net"
)

// serviceAllocations gives Services their cluster IPs and node ports when they are
// created or change type, and takes them back when they are deleted.
type serviceAllocations struct {
	ips   *allocator
	ports *allocator
	ipv6  bool
}

func owner(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// held lists the values a service holds in each range.
func held(svc *corev1.Service) (ips, ports []string) {
	if svc == nil {
		return nil, nil
	}
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			ips = append(ips, ip)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			ports = append(ports, fmt.Sprint(p.NodePort))
		}
	}
	if svc.Spec.HealthCheckNodePort != 0 {
		ports = append(ports, fmt.Sprint(svc.Spec.HealthCheckNodePort))
	}
	return ips, ports
}

// transaction remembers what one request took, to give it back if the request fails.
type transaction struct {
	taken []func(context.Context)
}

func (t *transaction) revert(ctx context.Context) {
	for _, undo := range t.taken {
		undo(ctx)
	}
}

func (s *serviceAllocations) beginCreate(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
	return s.begin(ctx, obj.(*corev1.Service), nil, len(options.DryRun) > 0)
}

func (s *serviceAllocations) beginUpdate(ctx context.Context, obj, old runtime.Object, options *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
	return s.begin(ctx, obj.(*corev1.Service), old.(*corev1.Service), len(options.DryRun) > 0)
}

// begin allocates what svc needs and old did not hold; on success of the request,
// what old held and svc no longer does is released.
func (s *serviceAllocations) begin(ctx context.Context, svc, old *corev1.Service, dryRun bool) (genericregistry.FinishFunc, error) {
	keepAllocated(svc, old)
	tx := &transaction{}
	var errs field.ErrorList
	errs = append(errs, s.allocateClusterIP(ctx, svc, old, dryRun, tx)...)
	errs = append(errs, s.allocateNodePorts(ctx, svc, old, dryRun, tx)...)
	if len(errs) > 0 {
		tx.revert(ctx)
		return nil, errors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	return func(ctx context.Context, success bool) {
		if !success {
			tx.revert(ctx)
			return
		}
		if !dryRun {
			s.releaseDropped(ctx, svc, old)
		}
	}, nil
}

// keepAllocated carries the allocated values of old into an update that leaves them
// out, as `kubectl apply` of a manifest without clusterIP or nodePort does.
func keepAllocated(svc, old *corev1.Service) {
	if old == nil {
		return
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName &&
		svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
		if svc.Spec.IPFamilies == nil {
			svc.Spec.IPFamilies = old.Spec.IPFamilies
		}
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
		}
	}
	if !needsNodePorts(svc) {
		return
	}
	used := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		used[p.NodePort] = true
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.NodePort != 0 {
			continue
		}
		for _, o := range old.Spec.Ports {
			// A node port the new spec gives another port is not carried over.
			if o.NodePort != 0 && o.Port == p.Port && o.Protocol == p.Protocol && !used[o.NodePort] {
				p.NodePort = o.NodePort
				used[o.NodePort] = true
				break
			}
		}
	}
	if svc.Spec.HealthCheckNodePort == 0 && needsHealthCheckNodePort(svc) {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func needsHealthCheckNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func (s *serviceAllocations) allocateClusterIP(ctx context.Context, svc, old *corev1.Service, dryRun bool, tx *transaction) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	path := field.NewPath("spec", "clusterIPs")
	ip := svc.Spec.ClusterIP
	if ip == "" && len(svc.Spec.ClusterIPs) > 0 {
		ip = svc.Spec.ClusterIPs[0]
	}
	family := corev1.IPv4Protocol
	if s.ipv6 {
		family = corev1.IPv6Protocol
	}
	single := corev1.IPFamilyPolicySingleStack
	if svc.Spec.IPFamilyPolicy == nil {
		svc.Spec.IPFamilyPolicy = &single
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{family}
	}
	switch {
	case ip == corev1.ClusterIPNone:
	case old != nil && ip == old.Spec.ClusterIP:
	case ip == "" && dryRun:
	case ip == "":
		next, err := s.ips.AllocateNext(ctx, owner(svc))
		if err != nil {
			return field.ErrorList{field.InternalError(path, fmt.Errorf("failed to allocate a serviceIP: %w", err))}
		}
		ip = next
		tx.taken = append(tx.taken, func(ctx context.Context) { s.ips.Release(ctx, next, owner(svc)) })
	default:
		if netutils.IsIPv6String(ip) != s.ipv6 {
			return field.ErrorList{field.Invalid(path, svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: %s", ip, s.ips.outOfRange(ip)))}
		}
		take := s.ips.Allocate
		if dryRun {
			take = s.ips.Check
		}
		if err := take(ctx, ip, owner(svc)); err != nil {
			return field.ErrorList{field.Invalid(path, []string{ip}, fmt.Sprintf("failed to allocate IP %s: %v", ip, err))}
		}
		if !dryRun {
			tx.taken = append(tx.taken, func(ctx context.Context) { s.ips.Release(ctx, ip, owner(svc)) })
		}
	}
	svc.Spec.ClusterIP = ip
	if ip != "" {
		svc.Spec.ClusterIPs = []string{ip}
	}
	return nil
}

func (s *serviceAllocations) allocateNodePorts(ctx context.Context, svc, old *corev1.Service, dryRun bool, tx *transaction) field.ErrorList {
	if !needsNodePorts(svc) {
		return nil
	}
	_, before := held(old)
	var errs field.ErrorList
	allocate := func(port *int32, path *field.Path) {
		if *port != 0 && slices.Contains(before, fmt.Sprint(*port)) {
			return
		}
		if *port == 0 {
			if dryRun {
				return
			}
			next, err := s.ports.AllocateNext(ctx, owner(svc))
			if err != nil {
				errs = append(errs, field.InternalError(path, fmt.Errorf("failed to allocate a nodePort: %w", err)))
				return
			}
			fmt.Sscan(next, port)
			tx.taken = append(tx.taken, func(ctx context.Context) { s.ports.Release(ctx, next, owner(svc)) })
			return
		}
		value := fmt.Sprint(*port)
		take := s.ports.Allocate
		if dryRun {
			take = s.ports.Check
		}
		if err := take(ctx, value, owner(svc)); err != nil {
			errs = append(errs, field.Invalid(path, *port, err.Error()))
			return
		}
		if !dryRun {
			tx.taken = append(tx.taken, func(ctx context.Context) { s.ports.Release(ctx, value, owner(svc)) })
		}
	}
	for i := range svc.Spec.Ports {
		allocate(&svc.Spec.Ports[i].NodePort, field.NewPath("spec", "ports").Index(i).Child("nodePort"))
	}
	if needsHealthCheckNodePort(svc) {
		allocate(&svc.Spec.HealthCheckNodePort, field.NewPath("spec", "healthCheckNodePort"))
	}
	return errs
}

// releaseDropped frees what old held and svc no longer holds.
func (s *serviceAllocations) releaseDropped(ctx context.Context, svc, old *corev1.Service) {
	oldIPs, oldPorts := held(old)
	newIPs, newPorts := held(svc)
	for _, ip := range oldIPs {
		if !slices.Contains(newIPs, ip) {
			s.release(ctx, s.ips, ip, old)
		}
	}
	for _, p := range oldPorts {
		if !slices.Contains(newPorts, p) {
			s.release(ctx, s.ports, p, old)
		}
	}
}

// afterDelete frees everything a deleted service held.
func (s *serviceAllocations) afterDelete(obj runtime.Object, options *metav1.DeleteOptions) {
	if len(options.DryRun) > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.releaseDropped(ctx, &corev1.Service{}, obj.(*corev1.Service))
}

func (s *serviceAllocations) release(ctx context.Context, a *allocator, value string, svc *corev1.Service) {
	if err := a.Release(ctx, value, owner(svc)); err != nil {
		// The startup repair frees it later; the service is already gone or changed.
		slog.Warn("releasing service allocation", "service", owner(svc), a.what, value, "err", err)
	}
}
