package bootstrap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/certificate"
)

// RenewClientCertificate renews the node's client certificate, which Join
// keeps in dir, before it expires, as upstream's kubelet does: client has the
// node's identity and asks for the new one as it (the server approves renewals
// of a node's own certificate). It runs until ctx ends.
func RenewClientCertificate(ctx context.Context, client kubernetes.Interface, nodeName, dir string) error {
	store, err := clientStore(dir)
	if err != nil {
		return err
	}
	template := &x509.CertificateRequest{Subject: nodeSubject(nodeName)}
	_, err = startManager(ctx, client, "kubelet-client", store, template, certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.UsageClientAuth)
	if err != nil {
		return fmt.Errorf("setting up the renewal of the node's certificate: %w", err)
	}
	return nil
}

// ServingConfig is what the kubelet's serving certificate needs.
type ServingConfig struct {
	// Client has the node's identity: the certificate is requested as it.
	Client   kubernetes.Interface
	NodeName string
	// IPs and DNSNames are the node's addresses and names the certificate
	// is for; they must be the Node's, or the server will not approve it.
	IPs      []net.IP
	DNSNames []string
	// Dir keeps the certificate and its key.
	Dir string
	// Fallback serves until the cluster has signed a certificate: the API
	// server does not trust it, so logs and exec wait for the signed one.
	Fallback *tls.Config
}

// ServingTLS returns the kubelet server's TLS configuration with a
// certificate the cluster signs (signer kubernetes.io/kubelet-serving),
// requested now and renewed before it expires, until ctx ends.
func ServingTLS(ctx context.Context, cfg ServingConfig) (*tls.Config, error) {
	store, err := certificate.NewFileStore("kubelet-server", cfg.Dir, cfg.Dir, "", "")
	if err != nil {
		return nil, fmt.Errorf("opening the kubelet's certificate store: %w", err)
	}
	template := &x509.CertificateRequest{Subject: nodeSubject(cfg.NodeName), IPAddresses: cfg.IPs, DNSNames: cfg.DNSNames}
	manager, err := startManager(ctx, cfg.Client, "kubelet-serving", store, template, certificatesv1.KubeletServingSignerName, certificatesv1.UsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("setting up the kubelet's serving certificate: %w", err)
	}
	config := cfg.Fallback.Clone()
	fallback := cfg.Fallback.GetCertificate
	config.Certificates = nil
	config.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := manager.Current(); c != nil {
			return c, nil
		}
		if fallback != nil {
			return fallback(hello)
		}
		if len(cfg.Fallback.Certificates) > 0 {
			return &cfg.Fallback.Certificates[0], nil
		}
		return nil, fmt.Errorf("the kubelet has no serving certificate yet")
	}
	return config, nil
}

// startManager runs client-go's certificate manager until ctx ends: as
// client's identity, it requests a certificate of template from signer when
// store holds none that is valid, and a new one before that expires.
func startManager(ctx context.Context, client kubernetes.Interface, name string, store certificate.Store,
	template *x509.CertificateRequest, signer string, usage certificatesv1.KeyUsage) (certificate.Manager, error) {
	manager, err := certificate.NewManager(&certificate.Config{
		ClientsetFn:      func(*tls.Certificate) (kubernetes.Interface, error) { return client, nil },
		Template:         template,
		SignerName:       signer,
		Usages:           []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, usage},
		CertificateStore: store,
		Name:             name,
		Ctx:              &ctx,
	})
	if err != nil {
		return nil, err
	}
	manager.Start()
	context.AfterFunc(ctx, manager.Stop)
	return manager, nil
}

// nodeSubject is the certificate subject of a node's identity, which the API
// server authenticates as user system:node:NAME in group system:nodes.
func nodeSubject(node string) pkix.Name {
	return pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}}
}
