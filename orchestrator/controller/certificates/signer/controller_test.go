package signer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/pki"
)

var _ Authority = (*pki.CA)(nil)

// signed records what the fake authority was asked to sign.
type signed struct {
	subject  string
	usage    x509.KeyUsage
	extUsage []x509.ExtKeyUsage
	validity time.Duration
}

type fakeAuthority struct {
	calls []signed
	err   error
}

func (a *fakeAuthority) SignRequest(req *x509.CertificateRequest, usage x509.KeyUsage, extUsage []x509.ExtKeyUsage, validity time.Duration) ([]byte, error) {
	a.calls = append(a.calls, signed{req.Subject.CommonName, usage, extUsage, validity})
	if a.err != nil {
		return nil, a.err
	}
	return []byte("certificate of " + req.Subject.CommonName), nil
}

func request(t *testing.T, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

var (
	nodeSubject = pkix.Name{CommonName: "system:node:web-1", Organization: []string{"system:nodes"}}
	approved    = certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "KubectlApprove"}
	denied      = certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "KubectlDeny"}
	failedCond  = certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue, Reason: "Other"}
)

func newCSR(t *testing.T, signer string, tmpl *x509.CertificateRequest, usages []certificatesv1.KeyUsage, change func(*certificatesv1.CertificateSigningRequest)) *certificatesv1.CertificateSigningRequest {
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "req"},
		Spec:       certificatesv1.CertificateSigningRequestSpec{Request: request(t, tmpl), SignerName: signer, Usages: usages},
		Status:     certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{approved}},
	}
	if change != nil {
		change(csr)
	}
	return csr
}

// syncOnce builds the signer over csr, fills its cache and syncs csr.
func syncOnce(t *testing.T, authority Authority, maxDuration time.Duration, csr *certificatesv1.CertificateSigningRequest) (*fake.Clientset, error) {
	t.Helper()
	client := fake.NewClientset(csr)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, f, Config{Authority: authority, MaxDuration: maxDuration})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) }
	if err := f.Certificates().V1().CertificateSigningRequests().Informer().GetStore().Add(csr); err != nil {
		t.Fatal(err)
	}
	return client, c.sync(context.Background(), csr.Name)
}

func stored(t *testing.T, client *fake.Clientset) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	csr, err := client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), "req", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// writes returns the updates the controller made, as "verb/subresource".
func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, v+"/"+a.GetSubresource())
		}
	}
	return out
}

func TestSigns(t *testing.T) {
	client := func(u ...certificatesv1.KeyUsage) []certificatesv1.KeyUsage { return u }
	tests := []struct {
		name   string
		signer string
		tmpl   *x509.CertificateRequest
		usages []certificatesv1.KeyUsage
		change func(*certificatesv1.CertificateSigningRequest)
		want   signed
	}{{
		name:   "a user's client certificate",
		signer: certificatesv1.KubeAPIServerClientSignerName,
		tmpl:   &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}}},
		usages: client(certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth),
		want: signed{subject: "jane", usage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, validity: DefaultMaxDuration},
	}, {
		name:   "a node's client certificate for an hour",
		signer: certificatesv1.KubeAPIServerClientKubeletSignerName,
		tmpl:   &x509.CertificateRequest{Subject: nodeSubject},
		usages: client(certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth),
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](3600) },
		want: signed{subject: "system:node:web-1", usage: x509.KeyUsageDigitalSignature,
			extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, validity: time.Hour},
	}, {
		name:   "a kubelet's serving certificate asking for more than the maximum",
		signer: certificatesv1.KubeletServingSignerName,
		tmpl:   &x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.7")}},
		usages: client(certificatesv1.UsageKeyEncipherment, certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth),
		change: func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.ExpirationSeconds = ptr.To[int32](2 * 365 * 24 * 3600)
		},
		want: signed{subject: "system:node:web-1", usage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, validity: DefaultMaxDuration},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authority := &fakeAuthority{}
			client, err := syncOnce(t, authority, 0, newCSR(t, tt.signer, tt.tmpl, tt.usages, tt.change))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]signed{tt.want}, authority.calls, cmp.AllowUnexported(signed{})); diff != "" {
				t.Fatalf("signed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"update/status"}, writes(client)); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			csr := stored(t, client)
			if string(csr.Status.Certificate) != "certificate of "+tt.want.subject {
				t.Errorf("status.certificate = %q", csr.Status.Certificate)
			}
			if diff := cmp.Diff([]certificatesv1.CertificateSigningRequestCondition{approved}, csr.Status.Conditions); diff != "" {
				t.Errorf("conditions changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeavesAlone(t *testing.T) {
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}
	tests := []struct {
		name   string
		signer string
		change func(*certificatesv1.CertificateSigningRequest)
	}{
		{"pending", certificatesv1.KubeAPIServerClientSignerName, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Conditions = nil }},
		{"denied", certificatesv1.KubeAPIServerClientSignerName, func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{denied}
		}},
		{"approved but failed", certificatesv1.KubeAPIServerClientSignerName, func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = append(c.Status.Conditions, failedCond)
		}},
		{"already issued", certificatesv1.KubeAPIServerClientSignerName, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("cert") }},
		{"an approval that is not true", certificatesv1.KubeAPIServerClientSignerName, func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions[0].Status = corev1.ConditionFalse
		}},
		{"another signer", "example.com/issuer", nil},
		{"the legacy signer", "kubernetes.io/legacy-unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authority := &fakeAuthority{}
			client, err := syncOnce(t, authority, 0, newCSR(t, tt.signer, tmpl, usages, tt.change))
			if err != nil {
				t.Fatal(err)
			}
			if len(authority.calls) != 0 || len(writes(client)) != 0 {
				t.Errorf("signed %v, wrote %v", authority.calls, writes(client))
			}
		})
	}
}

func TestFails(t *testing.T) {
	serving := &x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}}
	servingUsages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	nodeClient := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	tests := []struct {
		name    string
		signer  string
		tmpl    *x509.CertificateRequest
		usages  []certificatesv1.KeyUsage
		message string
	}{
		{"a client certificate that would serve", certificatesv1.KubeAPIServerClientSignerName, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}},
			[]certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageServerAuth}, "invalid usage for client certificate: server auth"},
		{"a client certificate without client auth", certificatesv1.KubeAPIServerClientSignerName, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}},
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature}, "missing required usage for client certificate: client auth"},
		{"a node client outside system:nodes", certificatesv1.KubeAPIServerClientKubeletSignerName,
			&x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:web-1", Organization: []string{"system:nodes", "system:masters"}}},
			nodeClient, "subject organization is not system:nodes"},
		{"a node client that is not a node", certificatesv1.KubeAPIServerClientKubeletSignerName,
			&x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"system:nodes"}}},
			nodeClient, "subject common name does not begin with system:node:"},
		{"a node client with a name", certificatesv1.KubeAPIServerClientKubeletSignerName,
			&x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}}, nodeClient, "DNS subjectAltNames are not allowed"},
		{"a node client with an address", certificatesv1.KubeAPIServerClientKubeletSignerName,
			&x509.CertificateRequest{Subject: nodeSubject, IPAddresses: []net.IP{net.ParseIP("10.0.0.7")}}, nodeClient, "IP subjectAltNames are not allowed"},
		{"a node client that would serve", certificatesv1.KubeAPIServerClientKubeletSignerName, &x509.CertificateRequest{Subject: nodeSubject},
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth, certificatesv1.UsageServerAuth},
			"usages did not match [client auth digital signature key encipherment]"},
		{"a serving certificate without names", certificatesv1.KubeletServingSignerName, &x509.CertificateRequest{Subject: nodeSubject},
			servingUsages, "DNS or IP subjectAltName is required"},
		{"a serving certificate with an email address", certificatesv1.KubeletServingSignerName,
			&x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}, EmailAddresses: []string{"a@example.com"}},
			servingUsages, "Email subjectAltNames are not allowed"},
		{"a serving certificate for clients", certificatesv1.KubeletServingSignerName, serving,
			[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}, "usages did not match [digital signature key encipherment server auth]"},
		{"a serving certificate for someone else", certificatesv1.KubeletServingSignerName,
			&x509.CertificateRequest{Subject: pkix.Name{CommonName: "web-1", Organization: []string{"system:nodes"}}, DNSNames: []string{"web-1"}},
			servingUsages, "subject common name does not begin with system:node:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authority := &fakeAuthority{}
			client, err := syncOnce(t, authority, 0, newCSR(t, tt.signer, tt.tmpl, tt.usages, nil))
			if err != nil {
				t.Fatal(err)
			}
			if len(authority.calls) != 0 {
				t.Errorf("signed %v", authority.calls)
			}
			want := []certificatesv1.CertificateSigningRequestCondition{approved, {
				Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue,
				Reason: "SignerValidationFailure", Message: tt.message,
				LastUpdateTime: metav1.NewTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)),
			}}
			csr := stored(t, client)
			if diff := cmp.Diff(want, csr.Status.Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if len(csr.Status.Certificate) != 0 || !slices.Equal(writes(client), []string{"update/status"}) {
				t.Errorf("certificate %q, writes %v", csr.Status.Certificate, writes(client))
			}
		})
	}
}

func TestAuthorityErrorRetries(t *testing.T) {
	csr := newCSR(t, certificatesv1.KubeAPIServerClientSignerName, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}},
		[]certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}, nil)
	client, err := syncOnce(t, &fakeAuthority{err: errors.New("CA unavailable")}, 0, csr)
	if err == nil {
		t.Fatal("a failed signature was not reported for a retry")
	}
	if w := writes(client); len(w) != 0 {
		t.Errorf("wrote %v after failing to sign", w)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		name    string
		max     time.Duration
		seconds *int32
		want    time.Duration
	}{
		{"nothing asked", 0, nil, DefaultMaxDuration},
		{"nothing asked, a configured maximum", 24 * time.Hour, nil, 24 * time.Hour},
		{"less than the maximum", 0, ptr.To[int32](7200), 2 * time.Hour},
		{"more than the maximum", 24 * time.Hour, ptr.To[int32](48 * 3600), 24 * time.Hour},
		{"less than the minimum", 0, ptr.To[int32](60), 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(fake.NewClientset(), informers.NewSharedInformerFactory(fake.NewClientset(), 0), Config{Authority: &fakeAuthority{}, MaxDuration: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.duration(tt.seconds); got != tt.want {
				t.Errorf("duration = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	for name, cfg := range map[string]Config{
		"no authority":       {},
		"a negative maximum": {Authority: &fakeAuthority{}, MaxDuration: -time.Hour},
	} {
		if _, err := New(fake.NewClientset(), f, cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSignsWithTheClusterCA checks the certificate the real CA issues is one a
// client of the kubelet's serving port would accept.
func TestSignsWithTheClusterCA(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	csr := newCSR(t, certificatesv1.KubeletServingSignerName,
		&x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.7")}},
		[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth},
		func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](3600) })
	client, err := syncOnce(t, ca, 0, csr)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(stored(t, client).Status.Certificate)
	if block == nil {
		t.Fatal("no certificate issued")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "10.0.0.7", Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the serving certificate does not verify: %v", err)
	}
	if d := cert.NotAfter.Sub(time.Now()); d > time.Hour || d < 50*time.Minute {
		t.Errorf("valid for another %s, want an hour", d)
	}
}
