package ingress

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// fallbackCommonName names the certificate served to hosts without one of
// their own, so that users who see it know where it comes from.
const fallbackCommonName = "berth ingress fallback certificate"

// parsedSecret is a TLS Secret's data and what parsing it gave.
type parsedSecret struct {
	crt, key []byte
	cert     *tls.Certificate
	err      error
}

func (p parsedSecret) sameData(s *corev1.Secret) bool {
	return bytes.Equal(p.crt, s.Data[corev1.TLSCertKey]) && bytes.Equal(p.key, s.Data[corev1.TLSPrivateKeyKey])
}

// parseSecret reads the certificate and key of s. Like ingress-nginx it
// takes any Secret with tls.crt and tls.key, not only kubernetes.io/tls.
func parseSecret(s *corev1.Secret) parsedSecret {
	p := parsedSecret{crt: s.Data[corev1.TLSCertKey], key: s.Data[corev1.TLSPrivateKeyKey]}
	if len(p.crt) == 0 || len(p.key) == 0 {
		p.err = fmt.Errorf("TLS Secret %s/%s has no %s and %s: make it with kubectl create secret tls",
			s.Namespace, s.Name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
		return p
	}
	cert, err := tls.X509KeyPair(p.crt, p.key)
	if err != nil {
		p.err = fmt.Errorf("TLS Secret %s/%s does not hold a usable certificate and key: %w", s.Namespace, s.Name, err)
		return p
	}
	p.cert = &cert
	return p
}

// secretError says why Secret ns/name could not be read.
func secretError(ns, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("TLS Secret %s/%s not found: create it in the Ingress's namespace", ns, name)
	}
	return fmt.Errorf("reading TLS Secret %s/%s: %w", ns, name, err)
}

// certificate picks the certificate for a TLS handshake by SNI: an exact
// host's, else a wildcard host's, else the fallback.
func (c *Controller) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	t := c.table.Load()
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if cert := t.certs[name]; cert != nil {
		return cert, nil
	}
	if parent, ok := wildcardParent(name); ok {
		if cert := t.wildcardCerts[parent]; cert != nil {
			return cert, nil
		}
	}
	return c.fallback, nil
}

// fallbackCertificate makes a self-signed certificate for hosts without one
// of their own. It lives in memory only: a new one each start is fine,
// since no client can trust it anyway.
func fallbackCertificate(now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fallbackCommonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("reading back: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
