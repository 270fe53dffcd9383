package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"testing"
	"time"
)

func newRequest(t *testing.T, tmpl *x509.CertificateRequest) *x509.CertificateRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func parsePEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("not one PEM certificate: %q", b)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSignRequest(t *testing.T) {
	ca := mustCA(t, t.TempDir())
	// An hour into the CA's life, so that backdating stays inside it.
	now := ca.Cert.NotBefore.Add(time.Hour)
	tmpl := &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "system:node:web-1", Organization: []string{"system:nodes"}},
		DNSNames:    []string{"web-1"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.7")},
	}
	tests := []struct {
		name          string
		now           time.Time // zero for now
		validity      time.Duration
		usage         x509.KeyUsage
		extUsage      []x509.ExtKeyUsage
		wantNotBefore time.Time // zero for five minutes before now
		wantNotAfter  time.Time
	}{{
		name:         "serving certificate for a day",
		validity:     24 * time.Hour,
		usage:        x509.KeyUsageDigitalSignature,
		extUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		wantNotAfter: now.Add(24 * time.Hour),
	}, {
		name:         "client certificate for ten minutes",
		validity:     10 * time.Minute,
		usage:        x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		extUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		wantNotAfter: now.Add(10 * time.Minute),
	}, {
		name:         "longer than the CA lives is cut at the CA's expiry",
		validity:     20 * 365 * 24 * time.Hour,
		usage:        x509.KeyUsageDigitalSignature,
		extUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		wantNotAfter: ca.Cert.NotAfter,
	}, {
		name:          "a CA made a moment ago does not backdate past its own start",
		now:           ca.Cert.NotBefore.Add(time.Minute),
		validity:      time.Hour,
		usage:         x509.KeyUsageDigitalSignature,
		extUsage:      []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		wantNotBefore: ca.Cert.NotBefore,
		wantNotAfter:  ca.Cert.NotBefore.Add(time.Minute + time.Hour),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := now
			if !tt.now.IsZero() {
				now = tt.now
			}
			wantNotBefore := now.Add(-signBackdate)
			if !tt.wantNotBefore.IsZero() {
				wantNotBefore = tt.wantNotBefore
			}
			req := newRequest(t, tmpl)
			out, err := ca.signRequest(req, tt.usage, tt.extUsage, tt.validity, now)
			if err != nil {
				t.Fatal(err)
			}
			c := parsePEM(t, out)
			if err := c.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			if c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("IsCA %v, BasicConstraintsValid %v: want a leaf certificate", c.IsCA, c.BasicConstraintsValid)
			}
			if !c.PublicKey.(*ecdsa.PublicKey).Equal(req.PublicKey) {
				t.Error("the certificate is not for the request's key")
			}
			if c.Subject.CommonName != "system:node:web-1" || !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) {
				t.Errorf("subject %v, want the request's", c.Subject)
			}
			if !slices.Equal(c.DNSNames, []string{"web-1"}) || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) {
				t.Errorf("names %v %v, want the request's", c.DNSNames, c.IPAddresses)
			}
			if c.KeyUsage != tt.usage || !slices.Equal(c.ExtKeyUsage, tt.extUsage) {
				t.Errorf("usages %v %v, want %v %v", c.KeyUsage, c.ExtKeyUsage, tt.usage, tt.extUsage)
			}
			if !c.NotAfter.Equal(tt.wantNotAfter) {
				t.Errorf("NotAfter = %s, want %s", c.NotAfter, tt.wantNotAfter)
			}
			if !c.NotBefore.Equal(wantNotBefore) {
				t.Errorf("NotBefore = %s, want %s", c.NotBefore, wantNotBefore)
			}
		})
	}
}

func TestSignRequestRefuses(t *testing.T) {
	ca := mustCA(t, t.TempDir())
	good := newRequest(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}})
	tampered := newRequest(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}})
	tampered.Signature = slices.Clone(tampered.Signature)
	tampered.Signature[len(tampered.Signature)-1] ^= 0xff
	tests := []struct {
		name     string
		req      *x509.CertificateRequest
		validity time.Duration
		now      time.Time
	}{
		{"no request", nil, time.Hour, time.Now()},
		{"a bad signature", tampered, time.Hour, time.Now()},
		{"no validity", good, 0, time.Now()},
		{"an expired CA", good, time.Hour, ca.Cert.NotAfter.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := ca.signRequest(tt.req, x509.KeyUsageDigitalSignature, nil, tt.validity, tt.now); err == nil {
				t.Fatalf("signed %q", out)
			}
		})
	}
}
