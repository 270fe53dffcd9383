package validation

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxClientIPAffinitySeconds is the longest a ClientIP session may stick: a day.
const maxClientIPAffinitySeconds = 86400

var (
	serviceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	sessionAffinities  = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	trafficPolicies    = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	internalPolicies   = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	ipFamilies         = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	ipFamilyPolicies   = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	trafficDistributed = []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameNode, corev1.ServiceTrafficDistributionPreferSameZone}
)

// clusterIPs returns the cluster IPs of a service. The REST layer keeps
// spec.clusterIP and spec.clusterIPs in step; a service that gives only the
// former is read as if it gave both.
func clusterIPs(spec *corev1.ServiceSpec) []string {
	if len(spec.ClusterIPs) == 0 && spec.ClusterIP != "" {
		return []string{spec.ClusterIP}
	}
	return spec.ClusterIPs
}

func isHeadless(spec *corev1.ServiceSpec) bool {
	ips := clusterIPs(spec)
	return len(ips) == 1 && ips[0] == corev1.ClusterIPNone
}

// externallyAccessible reports a service reachable from outside the cluster.
func externallyAccessible(spec *corev1.ServiceSpec) bool {
	return spec.Type == corev1.ServiceTypeLoadBalancer || spec.Type == corev1.ServiceTypeNodePort ||
		(spec.Type == corev1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0)
}

func needsHealthCheck(spec *corev1.ServiceSpec) bool {
	return spec.Type == corev1.ServiceTypeLoadBalancer && spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func validateService(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	p := specPath
	var errs field.ErrorList
	headless := isHeadless(spec)
	if len(spec.Ports) == 0 && !headless && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(p.Child("ports"), ""))
	}
	switch spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if headless {
			errs = append(errs, field.Invalid(p.Child("clusterIPs").Index(0), corev1.ClusterIPNone,
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		if len(clusterIPs(spec)) > 0 {
			errs = append(errs, field.Forbidden(p.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(p.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(p.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// The name may end with a dot to mark it fully qualified.
		if name := strings.TrimSuffix(spec.ExternalName, "."); name != "" {
			errs = append(errs, dnsSubdomain(name, p.Child("externalName"))...)
		} else {
			errs = append(errs, field.Required(p.Child("externalName"), ""))
		}
	}

	names := map[string]bool{}
	for i := range spec.Ports {
		errs = append(errs, validateServicePort(&spec.Ports[i], len(spec.Ports) > 1, names, p.Child("ports").Index(i))...)
	}
	if spec.Selector != nil {
		errs = append(errs, validateLabels(spec.Selector, p.Child("selector"))...)
	}
	errs = append(errs, oneOf(spec.SessionAffinity, p.Child("sessionAffinity"), sessionAffinities...)...)
	errs = append(errs, validateSessionAffinityConfig(spec, p.Child("sessionAffinityConfig"))...)
	errs = append(errs, validateClusterIPs(spec, p)...)
	for i, ip := range spec.ExternalIPs {
		ipp := p.Child("externalIPs").Index(i)
		if e := validIP(ip, ipp); len(e) > 0 {
			errs = append(errs, e...)
		} else {
			errs = append(errs, nonSpecialIP(ip, ipp)...)
		}
	}
	errs = append(errs, oneOf(spec.Type, p.Child("type"), serviceTypes...)...)

	nodePorts, ports := map[string]bool{}, map[string]bool{}
	for i, port := range spec.Ports {
		pp := p.Child("ports").Index(i)
		if port.NodePort != 0 {
			if spec.Type == corev1.ServiceTypeClusterIP {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
			key := fmt.Sprintf("%s/%d", port.Protocol, port.NodePort)
			if nodePorts[key] {
				errs = append(errs, field.Duplicate(pp.Child("nodePort"), port.NodePort))
			}
			nodePorts[key] = true
		}
		key := fmt.Sprintf("%s/%d", port.Protocol, port.Port)
		if ports[key] {
			errs = append(errs, field.Duplicate(pp, corev1.ServicePort{Protocol: port.Protocol, Port: port.Port}))
		}
		ports[key] = true
	}

	loadBalancer := spec.Type == corev1.ServiceTypeLoadBalancer
	onlyLoadBalancer := "may only be used when `type` is 'LoadBalancer'"
	if len(spec.LoadBalancerSourceRanges) > 0 {
		rp := p.Child("LoadBalancerSourceRanges")
		if !loadBalancer {
			errs = append(errs, field.Forbidden(rp, onlyLoadBalancer))
		}
		for i, r := range spec.LoadBalancerSourceRanges {
			errs = append(errs, utilvalidation.IsValidCIDR(rp.Index(i), strings.TrimSpace(r))...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && !loadBalancer {
		errs = append(errs, field.Forbidden(p.Child("allocateLoadBalancerNodePorts"), onlyLoadBalancer))
	}
	if loadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, field.Required(p.Child("allocateLoadBalancerNodePorts"), ""))
	}
	if spec.LoadBalancerClass != nil {
		if loadBalancer {
			errs = append(errs, qualifiedName(*spec.LoadBalancerClass, p.Child("loadBalancerClass"))...)
		} else {
			errs = append(errs, field.Forbidden(p.Child("loadBalancerClass"), onlyLoadBalancer))
		}
	}

	switch {
	case !externallyAccessible(spec) && spec.ExternalTrafficPolicy != "":
		errs = append(errs, field.Invalid(p.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
	case externallyAccessible(spec):
		errs = append(errs, oneOf(spec.ExternalTrafficPolicy, p.Child("externalTrafficPolicy"), trafficPolicies...)...)
	}
	switch {
	case !needsHealthCheck(spec) && spec.HealthCheckNodePort != 0:
		errs = append(errs, field.Invalid(p.Child("healthCheckNodePort"), spec.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	case needsHealthCheck(spec) && spec.HealthCheckNodePort == 0:
		errs = append(errs, field.Required(p.Child("healthCheckNodePort"), ""))
	case needsHealthCheck(spec):
		errs = append(errs, portNum(spec.HealthCheckNodePort, p.Child("healthCheckNodePort"))...)
	}
	if spec.InternalTrafficPolicy == nil {
		if spec.Type != corev1.ServiceTypeExternalName && spec.Type != "" {
			errs = append(errs, field.Required(p.Child("internalTrafficPolicy"), ""))
		}
	} else {
		errs = append(errs, supportedValue(*spec.InternalTrafficPolicy, p.Child("internalTrafficPolicy"), internalPolicies...)...)
	}
	if spec.TrafficDistribution != nil {
		errs = append(errs, supportedValue(*spec.TrafficDistribution, p.Child("trafficDistribution"), trafficDistributed...)...)
	}
	return errs
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case requireName && sp.Name == "":
		errs = append(errs, field.Required(p.Child("name"), ""))
	case sp.Name != "":
		errs = append(errs, dnsLabel(sp.Name, p.Child("name"))...)
		if names[sp.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), sp.Name))
		}
		names[sp.Name] = true
	}
	errs = append(errs, portNum(sp.Port, p.Child("port"))...)
	errs = append(errs, oneOf(sp.Protocol, p.Child("protocol"), protocols...)...)
	errs = append(errs, portNumOrName(sp.TargetPort, p.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		errs = append(errs, qualifiedName(*sp.AppProtocol, p.Child("appProtocol"))...)
	}
	return errs
}

func validateSessionAffinityConfig(spec *corev1.ServiceSpec, p *field.Path) field.ErrorList {
	c := spec.SessionAffinityConfig
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		if c != nil {
			return field.ErrorList{field.Forbidden(p, "must not be set when session affinity is None")}
		}
	case corev1.ServiceAffinityClientIP:
		const when = "when session affinity type is ClientIP"
		switch {
		case c == nil:
			return field.ErrorList{field.Required(p, when)}
		case c.ClientIP == nil:
			return field.ErrorList{field.Required(p.Child("clientIP"), when)}
		case c.ClientIP.TimeoutSeconds == nil:
			return field.ErrorList{field.Required(p.Child("clientIP", "timeoutSeconds"), when)}
		case *c.ClientIP.TimeoutSeconds <= 0 || *c.ClientIP.TimeoutSeconds > maxClientIPAffinitySeconds:
			return field.ErrorList{field.Invalid(p.Child("clientIP", "timeoutSeconds"), c.ClientIP.TimeoutSeconds,
				fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
		}
	}
	return nil
}

// validateClusterIPs checks spec.clusterIP(s), spec.ipFamilies and
// spec.ipFamilyPolicy of a service that has cluster IPs.
func validateClusterIPs(spec *corev1.ServiceSpec, p *field.Path) field.ErrorList {
	if spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var errs field.ErrorList
	ipsPath := p.Child("clusterIPs")
	ips := clusterIPs(spec)
	switch {
	case spec.ClusterIP != "" && ips[0] != spec.ClusterIP:
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
	case spec.ClusterIP == "" && len(ips) != 0:
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	seen := map[corev1.IPFamily]bool{}
	for i, f := range spec.IPFamilies {
		errs = append(errs, supportedValue(f, p.Child("ipFamilies").Index(i), ipFamilies...)...)
		if seen[f] {
			errs = append(errs, field.Duplicate(p.Child("ipFamilies").Index(i), f))
		}
		seen[f] = true
	}
	if spec.IPFamilyPolicy != nil {
		errs = append(errs, supportedValue(*spec.IPFamilyPolicy, p.Child("ipFamilyPolicy"), ipFamilyPolicies...)...)
	}
	invalid := false
	for i, ip := range ips {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(ips) > 1 {
				invalid = true
				errs = append(errs, field.Invalid(ipsPath, ips, "'None' must be the first and only value"))
			}
			continue
		}
		if e := validIP(ip, ipsPath.Index(i)); len(e) > 0 {
			invalid = true
			errs = append(errs, e...)
		}
	}
	if len(ips) > 2 {
		errs = append(errs, field.Invalid(ipsPath, ips, "may only hold up to 2 values"))
	}
	if invalid {
		return errs
	}
	if len(ips) == 2 && isIPv6(ips[0]) == isIPv6(ips[1]) {
		errs = append(errs, field.Invalid(ipsPath, ips, "may specify no more than one IP for each IP family"))
	}
	if !isHeadless(spec) {
		for i, ip := range ips {
			if i >= len(spec.IPFamilies) {
				break
			}
			if want := spec.IPFamilies[i]; (want == corev1.IPv6Protocol) != isIPv6(ip) {
				errs = append(errs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%v]`", want, i)))
			}
		}
	}
	return errs
}

func isIPv6(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() == nil
}

// validateServiceUpdate keeps the cluster IPs a service was given, allowing only
// a secondary IP to be added or released, unless the service is or becomes an
// ExternalName one.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	spec, oldSpec := &svc.Spec, &old.Spec
	var errs field.ErrorList
	external := spec.Type == corev1.ServiceTypeExternalName || oldSpec.Type == corev1.ServiceTypeExternalName
	if !external && !(isHeadless(spec) && isHeadless(oldSpec)) {
		ipsPath := specPath.Child("clusterIPs")
		ips, oldIPs := clusterIPs(spec), clusterIPs(oldSpec)
		switch {
		case len(ips) == len(oldIPs):
			for i := range oldIPs {
				if ips[i] != oldIPs[i] {
					errs = append(errs, field.Invalid(ipsPath.Index(i), ips, "may not change once set"))
				}
			}
		case len(ips) < len(oldIPs):
			if len(ips) == 0 {
				errs = append(errs, field.Invalid(ipsPath.Index(0), ips, "primary clusterIP can not be unset"))
			} else if ips[0] != oldIPs[0] {
				errs = append(errs, field.Invalid(ipsPath.Index(0), ips, "may not change once set"))
			}
			if len(ips) == 1 && (spec.IPFamilyPolicy == nil || *spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
				errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
			}
		case len(oldIPs) > 0 && ips[0] != oldIPs[0]:
			errs = append(errs, field.Invalid(ipsPath.Index(0), ips, "may not change once set"))
		}
	}
	if !external && isHeadless(spec) == isHeadless(oldSpec) && !isHeadless(spec) &&
		len(spec.IPFamilies) > 0 && len(oldSpec.IPFamilies) > 0 && spec.IPFamilies[0] != oldSpec.IPFamilies[0] {
		errs = append(errs, field.Invalid(specPath.Child("ipFamilies").Index(0), spec.IPFamilies, "may not change once set"))
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && oldSpec.Type == corev1.ServiceTypeLoadBalancer &&
		!equalPtr(spec.LoadBalancerClass, oldSpec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(specPath.Child("loadBalancerClass"), spec.LoadBalancerClass, "may not change once set"))
	}
	if needsHealthCheck(spec) && needsHealthCheck(oldSpec) && spec.HealthCheckNodePort != oldSpec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(specPath.Child("healthCheckNodePort"), immutableMsg))
	}
	return errs
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// validateServiceStatus checks the load balancer a controller reports.
func validateServiceStatus(svc, _ *corev1.Service) field.ErrorList {
	p := field.NewPath("status", "loadBalancer", "ingress")
	ingress := svc.Status.LoadBalancer.Ingress
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(ingress) != 0 {
		return field.ErrorList{field.Forbidden(p, "may only be used when `spec.type` is 'LoadBalancer'")}
	}
	var errs field.ErrorList
	for i, in := range ingress {
		ip := p.Index(i)
		if in.IP != "" {
			errs = append(errs, validIP(in.IP, ip.Child("ip"))...)
		}
		switch {
		case in.IPMode == nil && in.IP != "":
			errs = append(errs, field.Required(ip.Child("ipMode"), "must be specified when `ip` is set"))
		case in.IPMode != nil && in.IP == "":
			errs = append(errs, field.Forbidden(ip.Child("ipMode"), "may not be specified when `ip` is not set"))
		case in.IPMode != nil:
			errs = append(errs, supportedValue(*in.IPMode, ip.Child("ipMode"), corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP)...)
		}
		errs = append(errs, validateLoadBalancerHostname(in.Hostname, ip.Child("hostname"))...)
	}
	return errs
}

func validateLoadBalancerHostname(hostname string, p *field.Path) field.ErrorList {
	if hostname == "" {
		return nil
	}
	errs := dnsSubdomain(hostname, p)
	if net.ParseIP(hostname) != nil {
		errs = append(errs, field.Invalid(p, hostname, "must be a DNS name, not an IP address"))
	}
	return errs
}

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range ep.Subsets {
		sp := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(a, sp.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(a, sp.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, dnsLabel(port.Name, pp.Child("name"))...)
			}
			errs = append(errs, portNum(port.Port, pp.Child("port"))...)
			errs = append(errs, oneOf(port.Protocol, pp.Child("protocol"), protocols...)...)
			if port.AppProtocol != nil {
				errs = append(errs, qualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return errs
}

func validateEndpointAddress(a corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := validIP(a.IP, p.Child("ip"))
	if a.Hostname != "" {
		errs = append(errs, dnsLabel(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validName(nameSubdomain, *a.NodeName, p.Child("nodeName"))...)
	}
	return append(errs, nonSpecialIP(a.IP, p.Child("ip"))...)
}
