package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

func mustCA(t *testing.T, dir string) *CA {
	t.Helper()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatalf("LoadOrCreateCA: %v", err)
	}
	return ca
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	certs, err := cert.CertsFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	first := mustCA(t, dir)
	if first.CertFile != filepath.Join(dir, "ca.crt") {
		t.Errorf("CertFile = %s, want ca.crt in %s", first.CertFile, dir)
	}
	if !first.Cert.IsCA || first.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("the CA certificate cannot sign certificates: IsCA %v, KeyUsage %v", first.Cert.IsCA, first.Cert.KeyUsage)
	}
	if err := first.Cert.CheckSignatureFrom(first.Cert); err != nil {
		t.Errorf("the CA certificate is not self-signed: %v", err)
	}
	if !first.Cert.PublicKey.(*ecdsa.PublicKey).Equal(first.Key.Public()) {
		t.Error("the CA key does not match its certificate")
	}
	if time.Until(first.Cert.NotAfter) < 9*365*24*time.Hour {
		t.Errorf("the CA expires at %s, want about ten years from now", first.Cert.NotAfter)
	}
	for _, name := range []string{"ca.crt", "ca.key"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s was not written: %v", name, err)
		}
	}
	if info, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil && info.Mode().Perm()&0o077 != 0 {
		t.Errorf("ca.key has mode %v, readable by others", info.Mode().Perm())
	}
	crt, key := readFile(t, filepath.Join(dir, "ca.crt")), readFile(t, filepath.Join(dir, "ca.key"))

	second := mustCA(t, dir)
	if !second.Cert.Equal(first.Cert) {
		t.Error("the second call made a new CA certificate instead of loading the first")
	}
	if !second.Key.Public().(*ecdsa.PublicKey).Equal(first.Key.Public()) {
		t.Error("the second call loaded a different key")
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, "ca.crt")), crt) || !bytes.Equal(readFile(t, filepath.Join(dir, "ca.key")), key) {
		t.Error("the second call rewrote ca.crt or ca.key")
	}

	if other := mustCA(t, t.TempDir()); other.Cert.Equal(first.Cert) {
		t.Error("two directories share one CA")
	}
}

func TestLoadOrCreateCARefusesBrokenFiles(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{
			name: "certificate without its key",
			setup: func(t *testing.T, dir string) {
				mustCA(t, dir)
				if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "certificate that is not PEM",
			setup: func(t *testing.T, dir string) {
				mustCA(t, dir)
				if err := os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not a certificate"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "key that is not PEM",
			setup: func(t *testing.T, dir string) {
				mustCA(t, dir)
				if err := os.WriteFile(filepath.Join(dir, "ca.key"), []byte("not a key"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(t, dir)
			before := readFile(t, filepath.Join(dir, "ca.crt"))
			if _, err := LoadOrCreateCA(dir); err == nil {
				t.Fatal("LoadOrCreateCA succeeded, want an error")
			}
			if !bytes.Equal(readFile(t, filepath.Join(dir, "ca.crt")), before) {
				t.Error("LoadOrCreateCA replaced the broken CA instead of refusing it")
			}
		})
	}
}

// verify checks that issued is a certificate of ca for usage, with its key beside it.
func verify(t *testing.T, ca *CA, issued Issued, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	c := readCert(t, issued.CertFile)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		t.Errorf("%s does not verify against the CA for usage %v: %v", issued.CertFile, usage, err)
	}
	key, err := keyutil.PrivateKeyFromFile(issued.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(key.(*ecdsa.PrivateKey).Public()) {
		t.Errorf("%s does not match its certificate", issued.KeyFile)
	}
	return c
}

func TestEnsureIssues(t *testing.T) {
	cases := []struct {
		name      string
		leaf      Leaf
		wantUsage x509.ExtKeyUsage
		notUsage  x509.ExtKeyUsage
	}{
		{
			name: "serving certificate",
			leaf: Leaf{
				Name: "serving", CommonName: "kube-apiserver",
				DNSNames: []string{"localhost", "kubernetes.default.svc"},
				IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("10.43.0.1"), net.ParseIP("fd00::1")},
				Server:   true,
			},
			wantUsage: x509.ExtKeyUsageServerAuth,
			notUsage:  x509.ExtKeyUsageClientAuth,
		},
		{
			name:      "client certificate",
			leaf:      Leaf{Name: "admin", CommonName: "admin", Organization: []string{"system:masters"}},
			wantUsage: x509.ExtKeyUsageClientAuth,
			notUsage:  x509.ExtKeyUsageServerAuth,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ca := mustCA(t, dir)
			issued, err := ca.Ensure(c.leaf)
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			want := Issued{CertFile: filepath.Join(dir, c.leaf.Name+".crt"), KeyFile: filepath.Join(dir, c.leaf.Name+".key")}
			if issued != want {
				t.Errorf("Ensure = %+v, want %+v", issued, want)
			}
			got := verify(t, ca, issued, c.wantUsage)
			if slices.Contains(got.ExtKeyUsage, c.notUsage) {
				t.Errorf("ExtKeyUsage = %v, must not hold %v", got.ExtKeyUsage, c.notUsage)
			}
			if got.IsCA {
				t.Error("a leaf certificate is a CA")
			}
			if got.Subject.CommonName != c.leaf.CommonName || !slices.Equal(got.Subject.Organization, c.leaf.Organization) {
				t.Errorf("subject = %v, want CN=%s O=%v", got.Subject, c.leaf.CommonName, c.leaf.Organization)
			}
			if !slices.Equal(got.DNSNames, c.leaf.DNSNames) {
				t.Errorf("DNSNames = %v, want %v", got.DNSNames, c.leaf.DNSNames)
			}
			if len(got.IPAddresses) != len(c.leaf.IPs) {
				t.Errorf("IPAddresses = %v, want %v", got.IPAddresses, c.leaf.IPs)
			}
			for _, ip := range c.leaf.IPs {
				if !slices.ContainsFunc(got.IPAddresses, ip.Equal) {
					t.Errorf("IPAddresses = %v, missing %v", got.IPAddresses, ip)
				}
			}
			if info, err := os.Stat(issued.KeyFile); err == nil && info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %v, readable by others", issued.KeyFile, info.Mode().Perm())
			}
		})
	}
}

// writeLeaf puts a certificate for leaf signed by signer's key into dir, valid
// until notAfter, as an earlier run might have left it.
func writeLeaf(t *testing.T, dir string, signer *CA, leaf Leaf, notAfter time.Time, chain ...[]byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: leaf.CommonName, Organization: leaf.Organization},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     leaf.DNSNames,
		IPAddresses:  leaf.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer.Cert, key.Public(), signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := writePair(filepath.Join(dir, leaf.Name+".crt"), filepath.Join(dir, leaf.Name+".key"), der, key, chain...); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureReusesOrReissues(t *testing.T) {
	base := Leaf{
		Name: "serving", CommonName: "kube-apiserver", Organization: []string{"berth"},
		DNSNames: []string{"localhost", "kubernetes"},
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.ParseIP("10.43.0.1")},
		Server:   true,
	}
	with := func(change func(*Leaf)) Leaf {
		l := base
		l.DNSNames = slices.Clone(base.DNSNames)
		l.IPs = slices.Clone(base.IPs)
		change(&l)
		return l
	}
	cases := []struct {
		name string
		// prepare leaves on disk what an earlier run left, in the CA's directory.
		prepare     func(t *testing.T, ca *CA)
		ask         Leaf
		wantReissue bool
	}{
		{name: "same leaf again", ask: base},
		{name: "fewer names", ask: with(func(l *Leaf) { l.DNSNames = l.DNSNames[:1]; l.IPs = nil })},
		{name: "names in another order", ask: with(func(l *Leaf) { slices.Reverse(l.DNSNames); slices.Reverse(l.IPs) })},
		{name: "same IPv4 address in its 4-byte form", ask: with(func(l *Leaf) { l.IPs = []net.IP{net.IPv4(127, 0, 0, 1).To4()} })},
		{name: "a new DNS name", ask: with(func(l *Leaf) { l.DNSNames = append(l.DNSNames, "berth.example") }), wantReissue: true},
		{name: "a new IP", ask: with(func(l *Leaf) { l.IPs = append(l.IPs, net.ParseIP("192.168.1.10")) }), wantReissue: true},
		{name: "a new IPv6 address", ask: with(func(l *Leaf) { l.IPs = append(l.IPs, net.ParseIP("fd00::1")) }), wantReissue: true},
		{name: "another common name", ask: with(func(l *Leaf) { l.CommonName = "other" }), wantReissue: true},
		{name: "another organization", ask: with(func(l *Leaf) { l.Organization = []string{"system:masters"} }), wantReissue: true},
		{name: "no organization", ask: with(func(l *Leaf) { l.Organization = nil }), wantReissue: true},
		{name: "a client certificate under a server's name", ask: with(func(l *Leaf) { l.Server = false }), wantReissue: true},
		{
			name: "the key is gone",
			prepare: func(t *testing.T, ca *CA) {
				if err := os.Remove(filepath.Join(ca.dir, "serving.key")); err != nil {
					t.Fatal(err)
				}
			},
			ask:         base,
			wantReissue: true,
		},
		{
			name: "the certificate is unreadable",
			prepare: func(t *testing.T, ca *CA) {
				if err := os.WriteFile(filepath.Join(ca.dir, "serving.crt"), []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			ask:         base,
			wantReissue: true,
		},
		{
			name: "a leaf of another CA",
			prepare: func(t *testing.T, ca *CA) {
				writeLeaf(t, ca.dir, mustCA(t, t.TempDir()), base, time.Now().Add(leafValidity))
			},
			ask:         base,
			wantReissue: true,
		},
		{
			name: "a leaf that expires within the month",
			prepare: func(t *testing.T, ca *CA) {
				writeLeaf(t, ca.dir, ca, base, time.Now().Add(10*24*time.Hour))
			},
			ask:         base,
			wantReissue: true,
		},
		{
			name: "a leaf of this CA valid for two months",
			prepare: func(t *testing.T, ca *CA) {
				writeLeaf(t, ca.dir, ca, base, time.Now().Add(60*24*time.Hour), ca.Cert.Raw)
			},
			ask: base,
		},
		{
			name: "a serving leaf without the CA in its chain",
			prepare: func(t *testing.T, ca *CA) {
				writeLeaf(t, ca.dir, ca, base, time.Now().Add(60*24*time.Hour))
			},
			ask:         base,
			wantReissue: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ca := mustCA(t, t.TempDir())
			first, err := ca.Ensure(base)
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			if c.prepare != nil {
				c.prepare(t, ca)
			}
			var before []byte
			if b, err := os.ReadFile(first.CertFile); err == nil {
				before = b
			}
			second, err := ca.Ensure(c.ask)
			if err != nil {
				t.Fatalf("second Ensure: %v", err)
			}
			if second != first {
				t.Errorf("second Ensure = %+v, want the same files %+v", second, first)
			}
			after := readFile(t, second.CertFile)
			if reissued := !bytes.Equal(before, after); reissued != c.wantReissue {
				t.Errorf("reissued = %v, want %v", reissued, c.wantReissue)
			}
			usage := x509.ExtKeyUsageClientAuth
			if c.ask.Server {
				usage = x509.ExtKeyUsageServerAuth
			}
			got := verify(t, ca, second, usage)
			for _, name := range c.ask.DNSNames {
				if !slices.Contains(got.DNSNames, name) {
					t.Errorf("DNSNames = %v, missing %s", got.DNSNames, name)
				}
			}
			for _, ip := range c.ask.IPs {
				if !slices.ContainsFunc(got.IPAddresses, ip.Equal) {
					t.Errorf("IPAddresses = %v, missing %v", got.IPAddresses, ip)
				}
			}
			if time.Until(got.NotAfter) < 30*24*time.Hour {
				t.Errorf("the certificate expires at %s, within the month", got.NotAfter)
			}
		})
	}
}

func TestServingTLS(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ServingTLS(Leaf{Name: "client", CommonName: "client"}); err == nil {
		t.Fatal("ServingTLS accepted a client certificate")
	}
	cfg, err := ca.ServingTLS(Leaf{Name: "kubelet", CommonName: "kubelet", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || len(cfg.Certificates) != 1 {
		t.Fatalf("config asks %v of clients and serves %d certificates", cfg.ClientAuth, len(cfg.Certificates))
	}
	serving, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("serving certificate does not verify for 127.0.0.1 against the CA: %v", err)
	}
	client, err := ca.Ensure(Leaf{Name: "client", CommonName: "client"})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := cert.CertsFromFile(client.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: cfg.ClientCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("a client certificate the CA issued does not verify against ClientCAs: %v", err)
	}
}

func TestServingChainCarriesCA(t *testing.T) {
	ca := mustCA(t, t.TempDir())
	for _, leaf := range []Leaf{
		{Name: "serving", CommonName: "kube-apiserver", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true},
		{Name: "client", CommonName: "jane"},
	} {
		issued, err := ca.Ensure(leaf)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := cert.CertsFromFile(issued.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if leaf.Server {
			want = 2
		}
		if len(certs) != want {
			t.Fatalf("%s: %d certificates in the file, want %d", leaf.Name, len(certs), want)
		}
		if leaf.Server && !certs[1].Equal(ca.Cert) {
			t.Errorf("%s: the chain's second certificate is %s, not the CA", leaf.Name, certs[1].Subject)
		}
	}
}
