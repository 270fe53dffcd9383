package envvars

import (
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// serviceVars returns the variables the Services give a container, as docker
// links did: FOO_SERVICE_HOST, FOO_SERVICE_PORT, FOO_SERVICE_PORT_<NAME>,
// FOO_PORT and FOO_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}. Services without a
// cluster IP (headless, ExternalName) give none.
func serviceVars(services []*corev1.Service) map[string]string {
	out := map[string]string{}
	for _, svc := range services {
		if !hasClusterIP(svc) {
			continue
		}
		name := varName(svc.Name)
		host := svc.Spec.ClusterIP
		out[name+"_SERVICE_HOST"] = host
		if len(svc.Spec.Ports) == 0 {
			continue
		}
		out[name+"_SERVICE_PORT"] = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		for _, sp := range svc.Spec.Ports {
			if sp.Name != "" {
				out[name+"_SERVICE_PORT_"+varName(sp.Name)] = strconv.Itoa(int(sp.Port))
			}
		}
		for i, sp := range svc.Spec.Ports {
			proto := string(sp.Protocol)
			if proto == "" {
				proto = string(corev1.ProtocolTCP)
			}
			port := strconv.Itoa(int(sp.Port))
			url := strings.ToLower(proto) + "://" + net.JoinHostPort(host, port)
			prefix := name + "_PORT_" + port + "_" + strings.ToUpper(proto)
			if i == 0 {
				out[name+"_PORT"] = url
			}
			out[prefix] = url
			out[prefix+"_PROTO"] = strings.ToLower(proto)
			out[prefix+"_PORT"] = port
			out[prefix+"_ADDR"] = host
		}
	}
	return out
}

func hasClusterIP(svc *corev1.Service) bool {
	ip := svc.Spec.ClusterIP
	return ip != "" && ip != corev1.ClusterIPNone
}

// varName turns a Service or port name into its variable form: my-svc → MY_SVC.
func varName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}
