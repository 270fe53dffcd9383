package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	genericfilters "k8s.io/apiserver/pkg/server/filters"

	"berth.dev/berth/orchestrator/pki"
)

// longRunning marks the requests that the request timeout must not end:
// watches, and the pod subresources that stream from a kubelet, as upstream's
// API server marks them.
var longRunning = genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString("attach", "exec", "log", "portforward"))

// KubeletClientName is the common name of the client certificate the API server
// presents to kubelets (for pods/log, exec, attach and portforward): kubelets
// serve it, and only what they are told to trust.
const KubeletClientName = "kube-apiserver-kubelet-client"

// kubeletTransport reaches kubelets over HTTPS: it trusts serving certificates
// the cluster CA signed and presents a client certificate the CA issues to the
// API server. It speaks HTTP/1.1 only, since connection upgrades (exec,
// port-forward) cannot go over HTTP/2.
func kubeletTransport(ca *pki.CA) (*http.Transport, error) {
	issued, err := ca.Ensure(pki.Leaf{Name: "kube-apiserver-kubelet-client", CommonName: KubeletClientName, Organization: []string{"system:masters"}})
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(issued.CertFile, issued.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the kubelet client certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 25,
		IdleConnTimeout:     90 * time.Second,
	}, nil
}
