package registry

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
)

// Kubelets tells how the API server reaches the kubelet of a node, for the pod
// subresources that the kubelet answers (log, exec, attach, portforward).
type Kubelets interface {
	// Kubelet returns the base URL of node's kubelet (https://host:port) and the
	// transport that reaches it; the transport must speak HTTP/1.1, which
	// connection upgrades need.
	Kubelet(ctx context.Context, node string) (*url.URL, http.RoundTripper, error)
}

// nodeKubelets finds a kubelet where its Node says it serves: the node's first
// InternalIP (else ExternalIP, else Hostname) and
// status.daemonEndpoints.kubeletEndpoint.Port, over HTTPS with one transport.
type nodeKubelets struct {
	nodes     *genericregistry.Store
	transport http.RoundTripper
}

func (k *nodeKubelets) Kubelet(ctx context.Context, name string) (*url.URL, http.RoundTripper, error) {
	if k.transport == nil {
		return nil, nil, errors.NewServiceUnavailable(fmt.Sprintf("the API server has no transport to the kubelet of node %s", name))
	}
	obj, err := k.nodes.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	node := obj.(*corev1.Node)
	host := nodeAddress(node)
	if host == "" {
		return nil, nil, errors.NewServiceUnavailable(fmt.Sprintf("node %s reports no address for its kubelet", name))
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		return nil, nil, errors.NewServiceUnavailable(fmt.Sprintf("node %s reports no kubelet port", name))
	}
	return &url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(int(port)))}, k.transport, nil
}

// nodeAddress picks the address the API server dials, as upstream's default
// preference (InternalIP, ExternalIP, Hostname) does.
func nodeAddress(node *corev1.Node) string {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}
