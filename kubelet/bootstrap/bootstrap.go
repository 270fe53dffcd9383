// Package bootstrap owns how a machine gets its identity as a node of a
// cluster: it trusts the server only after checking its certificate chain
// against the hash of the cluster CA's key it was given, asks with a bootstrap
// token for a client certificate (user system:node:NAME, group system:nodes)
// through the CertificateSigningRequest API, and keeps that certificate in a
// kubeconfig under the node's directory for the next start. It also keeps the
// kubelet's serving certificate, signed by the cluster, up to date. It must
// not decide whether a machine may join: the API server's approver does.
package bootstrap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/certificate/csr"
	"k8s.io/client-go/util/keyutil"
)

// Files under Config.Dir; the client certificate and its key are kept as
// client-go's certificate store keeps them, kubelet-client-current.pem
// linking to the newest pair, as upstream's kubelet keeps them.
const (
	kubeconfigFile = "kubelet.kubeconfig"
	caFile         = "ca.crt"
	clientPair     = "kubelet-client"
)

// clientStore keeps the node's client certificates in dir.
func clientStore(dir string) (certificate.FileStore, error) {
	store, err := certificate.NewFileStore(clientPair, dir, dir, "", "")
	if err != nil {
		return nil, fmt.Errorf("opening the node's certificate store: %w", err)
	}
	return store, nil
}

// Config is what joining needs.
type Config struct {
	// Server is the API server's URL (https://host:port).
	Server string
	// CAHash is "sha256:" and the hex SHA-256 of the cluster CA's
	// SubjectPublicKeyInfo: the server's chain must hold that CA.
	CAHash string
	// Token is the bootstrap token ("abcdef.0123456789abcdef").
	Token string
	// NodeName is the Node this machine runs as.
	NodeName string
	// Dir keeps the node's kubeconfig, key and certificates.
	Dir string
	// Timeout bounds the wait for the certificate (default 2 minutes).
	Timeout time.Duration
}

// Join returns a client configuration with the node's identity: the one kept
// in cfg.Dir from an earlier join when its certificate is still valid, else a
// new one the server signs. A server that does not prove it holds the
// cluster's CA never sees the token.
func Join(ctx context.Context, cfg Config) (*rest.Config, error) {
	kubeconfig := filepath.Join(cfg.Dir, kubeconfigFile)
	if config, err := loadValid(kubeconfig, cfg.NodeName); err == nil {
		return config, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--server %q: give the API server's URL, https://HOST:PORT", cfg.Server)
	}
	caPEM, err := discoverCA(ctx, u, cfg.CAHash)
	if err != nil {
		return nil, err
	}
	bootstrap := &rest.Config{
		Host:            cfg.Server,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM},
		BearerToken:     cfg.Token,
		UserAgent:       "berth-agent/bootstrap",
	}
	certPEM, keyPEM, err := requestClientCertificate(ctx, bootstrap, cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", cfg.Dir, err)
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, caFile), caPEM, 0o600); err != nil {
		return nil, fmt.Errorf("saving the cluster's CA: %w", err)
	}
	store, err := clientStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := store.Update(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("saving the node's certificate: %w", err)
	}
	if err := writeKubeconfig(kubeconfig, cfg.Server, cfg.NodeName, cfg.Dir, store.CurrentPath()); err != nil {
		return nil, err
	}
	return loadValid(kubeconfig, cfg.NodeName)
}

// loadValid reads a kubeconfig an earlier join wrote, if its certificate is
// for node and has not expired.
func loadValid(path, node string) (*rest.Config, error) {
	config, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) {
			return nil, statErr
		}
		return nil, fmt.Errorf("reading the node's kubeconfig %s: %w", path, err)
	}
	pair, err := tls.LoadX509KeyPair(config.CertFile, config.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the node's certificate: %w", err)
	}
	leaf := pair.Leaf
	if want := "system:node:" + node; leaf.Subject.CommonName != want {
		return nil, fmt.Errorf("the node's certificate in %s is for %q, not %q: remove the directory to join as %s", filepath.Dir(path), leaf.Subject.CommonName, want, node)
	}
	if time.Now().After(leaf.NotAfter) {
		// Expired: join again with the token.
		return nil, os.ErrNotExist
	}
	return config, nil
}

// discoverCA connects to the server without trusting it yet, finds in the
// chain it presents the CA whose key hashes to caHash, and checks that the
// server's certificate is that CA's, for the host dialled. It returns the CA.
func discoverCA(ctx context.Context, server *url.URL, caHash string) ([]byte, error) {
	host := server.Hostname()
	var ca *x509.Certificate
	dialer := &tls.Dialer{Config: &tls.Config{
		// Verified below, against the pinned CA, instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(state tls.ConnectionState) error {
			certs := state.PeerCertificates
			for _, c := range certs {
				if c.IsCA && hashKey(c) == caHash {
					ca = c
				}
			}
			if ca == nil {
				return fmt.Errorf("the server's certificate chain holds no CA with key hash %s: the token is for another cluster, or this is not the server", caHash)
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: host})
			return err
		},
	}}
	conn, err := dialer.DialContext(ctx, "tcp", hostPort(server))
	if err != nil {
		return nil, fmt.Errorf("checking the identity of the server at %s: %w", server.Host, err)
	}
	conn.Close()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

func hashKey(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// requestClientCertificate asks for the node's client certificate with the
// bootstrap credentials and waits for the server to sign it.
func requestClientCertificate(ctx context.Context, bootstrap *rest.Config, cfg Config) (certPEM, keyPEM []byte, err error) {
	client, err := kubernetes.NewForConfig(bootstrap)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: nodeSubject(cfg.NodeName),
	}, key)
	if err != nil {
		return nil, nil, err
	}
	request := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	name, uid, err := csr.RequestCertificateWithContext(ctx, client, request, "", certificatesv1.KubeAPIServerClientKubeletSignerName, nil, usages, key)
	if err != nil {
		if apierrors.IsUnauthorized(err) {
			return nil, nil, fmt.Errorf("the server refused the join token: check --token (berth server writes it to DATA-DIR/node-token)")
		}
		return nil, nil, fmt.Errorf("requesting the node's certificate: %w", err)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	certPEM, err = csr.WaitForCertificate(waitCtx, client, name, uid)
	if err != nil {
		return nil, nil, fmt.Errorf("waiting for certificate signing request %s to be approved and signed (kubectl get csr %s): %w", name, name, err)
	}
	return certPEM, keyPEM, nil
}

// writeKubeconfig writes the node's kubeconfig, its certificate and key in
// the one file pair; client-go rereads it when it changes, which is how a
// renewed certificate comes into use.
func writeKubeconfig(path, server, node, dir, pair string) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["berth"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: filepath.Join(dir, caFile)}
	config.AuthInfos["system:node:"+node] = &clientcmdapi.AuthInfo{ClientCertificate: pair, ClientKey: pair}
	config.Contexts["berth"] = &clientcmdapi.Context{Cluster: "berth", AuthInfo: "system:node:" + node}
	config.CurrentContext = "berth"
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		return fmt.Errorf("writing the node's kubeconfig: %w", err)
	}
	return nil
}
