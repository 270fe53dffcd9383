// Package pki owns the cluster's certificate authority and the certificates it
// issues: the API server's serving certificate and client certificates for users and
// components; and, next to them, the key that signs service account tokens.
// Everything is kept as PEM files under one directory, created on first use and
// reused afterwards. It must not decide who may do what: that is authorization's
// job.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
)

// CA is a certificate authority kept in a directory.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertFile is the PEM file of Cert, for clients and kubeconfigs.
	CertFile string
	dir      string
}

// LoadOrCreateCA returns the CA kept in dir as ca.crt and ca.key, creating both if
// neither exists.
func LoadOrCreateCA(dir string) (*CA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	ca := &CA{CertFile: certFile, dir: dir}
	switch _, err := os.Stat(certFile); {
	case err == nil:
		certs, err := cert.CertsFromFile(certFile)
		if err != nil {
			return nil, fmt.Errorf("reading cluster CA: %w", err)
		}
		key, err := keyutil.PrivateKeyFromFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("reading cluster CA key: %w", err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("cluster CA key %s cannot sign", keyFile)
		}
		ca.Cert, ca.Key = certs[0], signer
		return ca, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("reading cluster CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("berth-ca@%d", now.Unix())},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating cluster CA: %w", err)
	}
	if ca.Cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.Key = key
	if err := writePair(certFile, keyFile, der, key); err != nil {
		return nil, fmt.Errorf("writing cluster CA: %w", err)
	}
	return ca, nil
}

// Leaf describes a certificate the CA issues.
type Leaf struct {
	// Name is the file name stem: <Name>.crt and <Name>.key in the CA's directory.
	Name         string
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	Server       bool // for serving TLS; otherwise for client authentication
}

// Issued is a certificate and key on disk.
type Issued struct {
	CertFile, KeyFile string
}

// Ensure returns the certificate described by leaf, issuing a new one when none is
// on disk, when the one on disk does not carry every name and address asked for, or
// when it is about to expire.
func (ca *CA) Ensure(leaf Leaf) (Issued, error) {
	out := Issued{CertFile: filepath.Join(ca.dir, leaf.Name+".crt"), KeyFile: filepath.Join(ca.dir, leaf.Name+".key")}
	if certs, err := cert.CertsFromFile(out.CertFile); err == nil && covers(certs[0], leaf) && ca.signed(certs[0]) && (!leaf.Server || len(certs) > 1) {
		if _, err := os.Stat(out.KeyFile); err == nil {
			return out, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return out, err
	}
	now := time.Now()
	usage := x509.ExtKeyUsageClientAuth
	if leaf.Server {
		usage = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: leaf.CommonName, Organization: leaf.Organization},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     leaf.DNSNames,
		IPAddresses:  leaf.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return out, fmt.Errorf("issuing certificate %q: %w", leaf.Name, err)
	}
	var chain [][]byte
	if leaf.Server {
		// Serving certificates come with the CA: a machine joining with the
		// hash of the CA's key finds the CA in the chain the server presents.
		chain = append(chain, ca.Cert.Raw)
	}
	if err := writePair(out.CertFile, out.KeyFile, der, key, chain...); err != nil {
		return out, fmt.Errorf("writing certificate %q: %w", leaf.Name, err)
	}
	return out, nil
}

func (ca *CA) signed(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(ca.Cert) == nil
}

// covers reports whether c, still valid for a month, names everything leaf asks for.
func covers(c *x509.Certificate, leaf Leaf) bool {
	if time.Until(c.NotAfter) < 30*24*time.Hour || c.Subject.CommonName != leaf.CommonName {
		return false
	}
	if !slices.Equal(c.Subject.Organization, leaf.Organization) {
		return false
	}
	usage := x509.ExtKeyUsageClientAuth
	if leaf.Server {
		usage = x509.ExtKeyUsageServerAuth
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{usage}) {
		return false
	}
	for _, name := range leaf.DNSNames {
		if !slices.Contains(c.DNSNames, name) {
			return false
		}
	}
	for _, ip := range leaf.IPs {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// writePair writes the certificate der, followed by the chain, and its key.
func writePair(certFile, keyFile string, der []byte, key *ecdsa.PrivateKey, chain ...[]byte) error {
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := keyutil.WriteKey(keyFile, pemBlock(keyutil.ECPrivateKeyBlockType, keyDER)); err != nil {
		return err
	}
	certPEM := pemBlock(cert.CertificateBlockType, der)
	for _, c := range chain {
		certPEM = append(certPEM, pemBlock(cert.CertificateBlockType, c)...)
	}
	return cert.WriteCert(certFile, certPEM)
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// ServingTLS issues (or reuses) the serving certificate leaf describes and
// returns a TLS configuration that serves it and verifies client certificates
// against the CA: what a kubelet's server needs to let the API server in.
func (ca *CA) ServingTLS(leaf Leaf) (*tls.Config, error) {
	if !leaf.Server {
		return nil, fmt.Errorf("certificate %q is not a serving certificate", leaf.Name)
	}
	issued, err := ca.Ensure(leaf)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(issued.CertFile, issued.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading certificate %q: %w", leaf.Name, err)
	}
	clients := x509.NewCertPool()
	clients.AddCert(ca.Cert)
	return &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: clients, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}
