package printers

import (
	"fmt"
	"strings"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// networkingKinds are the printed kinds of the networking.k8s.io group.
func networkingKinds() map[string]kind {
	return map[string]kind{
		"ingresses":       cellsOf(ingressColumns(), ingressCells),
		"ingressclasses":  cellsOf(ingressClassColumns(), ingressClassCells),
		"networkpolicies": cellsOf(networkPolicyColumns(), networkPolicyCells),
	}
}

func ingressColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Class", "string", "The name of the IngressClass resource that should be used for additional configuration"),
		column("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
		column("Address", "string", "Address is a list containing ingress points for the load-balancer"),
		column("Ports", "string", "Ports of TLS configurations that open"),
		ageColumn(),
	}
}

func ingressCells(ing *networkingv1.Ingress, now time.Time) []any {
	address := loadBalancerAddresses(ing.Status.LoadBalancer.Ingress, func(in networkingv1.IngressLoadBalancerIngress) (string, string) {
		return in.IP, in.Hostname
	})
	ports := "80"
	if len(ing.Spec.TLS) > 0 {
		ports = "80, 443"
	}
	return []any{ing.Name, valueOr(ing.Spec.IngressClassName, "<none>"), ingressHosts(ing.Spec.Rules),
		strings.Join(address, ","), ports, since(ing.CreationTimestamp, now)}
}

// ingressHosts is the HOSTS cell: the hosts of the first three rules that have one and,
// when there are rules after those, how many rules there are beyond three; "*" when
// no rule names a host.
func ingressHosts(rules []networkingv1.IngressRule) string {
	const max = 3
	var hosts []string
	more := false
	for _, r := range rules {
		if len(hosts) == max {
			more = true
			break
		}
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	if len(hosts) == 0 {
		return "*"
	}
	if more {
		return fmt.Sprintf("%s + %d more...", strings.Join(hosts, ","), len(rules)-max)
	}
	return strings.Join(hosts, ",")
}

func ingressClassColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Controller", "string", "Controller that is responsible for handling this class"),
		column("Parameters", "string", "A reference to a resource with additional parameters"),
		ageColumn(),
	}
}

func ingressClassCells(ic *networkingv1.IngressClass, now time.Time) []any {
	parameters := "<none>"
	if p := ic.Spec.Parameters; p != nil {
		parameters = p.Kind
		if p.APIGroup != nil {
			parameters += "." + *p.APIGroup
		}
		parameters += "/" + p.Name
	}
	return []any{ic.Name, ic.Spec.Controller, parameters, since(ic.CreationTimestamp, now)}
}

func networkPolicyColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Pod-Selector", "string", networkingv1.NetworkPolicySpec{}.SwaggerDoc()["podSelector"]),
		ageColumn(),
	}
}

func networkPolicyCells(np *networkingv1.NetworkPolicy, now time.Time) []any {
	return []any{np.Name, metav1.FormatLabelSelector(&np.Spec.PodSelector), since(np.CreationTimestamp, now)}
}
