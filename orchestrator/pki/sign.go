package pki

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"k8s.io/client-go/util/cert"
)

// signBackdate is how far before now a signed certificate starts to be valid,
// so that a client whose clock is a little behind accepts it at once. It stays
// well below the shortest validity a request may ask for (ten minutes).
const signBackdate = 5 * time.Minute

// SignRequest issues a certificate for the key and names of req (a certificate
// signing request someone else has approved), signed by the CA and returned as
// PEM. The certificate is never a CA; it carries the usages given and only
// the subject and subject alternative names of req, none of its other
// extensions; it is valid for validity from now, but never past the CA's own
// expiry, since a client could not verify it after that.
//
// Deciding whether req deserves a certificate is the caller's business.
func (ca *CA) SignRequest(req *x509.CertificateRequest, usage x509.KeyUsage, extUsage []x509.ExtKeyUsage, validity time.Duration) ([]byte, error) {
	return ca.signRequest(req, usage, extUsage, validity, time.Now())
}

func (ca *CA) signRequest(req *x509.CertificateRequest, usage x509.KeyUsage, extUsage []x509.ExtKeyUsage, validity time.Duration, now time.Time) ([]byte, error) {
	if req == nil {
		return nil, errors.New("signing a certificate: no certificate request")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("signing a certificate for %q: validity %s is not positive", req.Subject.CommonName, validity)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signing a certificate for %q: the request's signature does not check: %w", req.Subject.CommonName, err)
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	notBefore := now.Add(-signBackdate)
	if notBefore.Before(ca.Cert.NotBefore) {
		notBefore = ca.Cert.NotBefore
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("signing a certificate for %q: the cluster CA expired at %s", req.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               req.Subject,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		EmailAddresses:        req.EmailAddresses,
		URIs:                  req.URIs,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           extUsage,
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, req.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing a certificate for %q: %w", req.Subject.CommonName, err)
	}
	return pemBlock(cert.CertificateBlockType, der), nil
}
