package certificates

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// grants is a fake authorizer: it allows exactly the verb/signer pairs listed
// and records what it was asked.
type grants struct {
	allowed map[string]bool // "verb signer"
	fail    bool
	asked   []authorizer.Attributes
}

// authorizer is g as an authorizer.Authorizer.
func (g *grants) authorizer() authorizer.Authorizer { return authorizer.AuthorizerFunc(g.authorize) }

func (g *grants) authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	g.asked = append(g.asked, a)
	if g.fail {
		return authorizer.DecisionNoOpinion, "", errors.New("authorizer down")
	}
	if a.GetAPIGroup() == "certificates.k8s.io" && a.GetResource() == "signers" && a.IsResourceRequest() &&
		g.allowed[a.GetVerb()+" "+a.GetName()] {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

var jane = &user.DefaultInfo{Name: "jane", Groups: []string{"dev"}}

func csr(signer string, change func(*certificatesv1.CertificateSigningRequest)) *certificatesv1.CertificateSigningRequest {
	c := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "req"},
		Spec:       certificatesv1.CertificateSigningRequestSpec{SignerName: signer},
	}
	if change != nil {
		change(c)
	}
	return c
}

func attributes(obj, old runtime.Object, subresource string, op admission.Operation) admission.Attributes {
	return admission.NewAttributesRecord(obj, old, certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest"), "", "req",
		certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests"), subresource, op, nil, false, jane)
}

func approve(c *certificatesv1.CertificateSigningRequest) {
	c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue})
}

// wantResult checks err is nil, or a Forbidden error saying want.
func wantResult(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("refused: %v", err)
	case want != "" && err == nil:
		t.Fatalf("allowed, want %q", want)
	case want != "" && !apierrors.IsForbidden(err):
		t.Fatalf("error %v is not Forbidden", err)
	case want != "" && err.Error() != want:
		t.Fatalf("error %q, want %q", err.Error(), want)
	}
}

func TestApproval(t *testing.T) {
	const forbidden = `certificatesigningrequests.certificates.k8s.io "req" is forbidden: user not permitted to approve requests with signerName "example.com/issuer"`
	tests := []struct {
		name        string
		allowed     []string
		fail        bool
		subresource string
		old         runtime.Object
		want        string
	}{
		{name: "allowed for the signer", allowed: []string{"approve example.com/issuer"}, subresource: "approval"},
		{name: "allowed for the signer's domain", allowed: []string{"approve example.com/*"}, subresource: "approval"},
		{name: "no rights", subresource: "approval", want: forbidden},
		{name: "rights on another signer", allowed: []string{"approve example.com/other", "approve other.com/*"}, subresource: "approval", want: forbidden},
		{name: "signing is not approving", allowed: []string{"sign example.com/issuer"}, subresource: "approval", want: forbidden},
		{name: "a failing authorizer allows nothing", allowed: []string{"approve example.com/issuer"}, fail: true, subresource: "approval", want: forbidden},
		{name: "the status subresource is not its business", subresource: "status"},
		{name: "nor the main resource", subresource: ""},
		{name: "not a CSR", subresource: "approval", old: &corev1.Pod{},
			want: `certificatesigningrequests.certificates.k8s.io "req" is forbidden: expected type CertificateSigningRequest, got: *v1.Pod`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &grants{allowed: map[string]bool{}, fail: tt.fail}
			for _, a := range tt.allowed {
				g.allowed[a] = true
			}
			old := tt.old
			if old == nil {
				old = csr("example.com/issuer", nil)
			}
			// The signer the update names is not the one that counts.
			obj := csr("example.com/other", approve)
			err := NewApproval(g.authorizer()).Validate(context.Background(), attributes(obj, old, tt.subresource, admission.Update), nil)
			wantResult(t, err, tt.want)
		})
	}
}

func TestApprovalAsksAsUpstream(t *testing.T) {
	g := &grants{}
	NewApproval(g.authorizer()).Validate(context.Background(), attributes(csr("kubernetes.io/kubelet-serving", approve), csr("kubernetes.io/kubelet-serving", nil), "approval", admission.Update), nil)
	if len(g.asked) != 2 {
		t.Fatalf("asked %d times, want the signer and its wildcard", len(g.asked))
	}
	for i, name := range []string{"kubernetes.io/kubelet-serving", "kubernetes.io/*"} {
		a := g.asked[i]
		if a.GetUser().GetName() != "jane" || a.GetVerb() != "approve" || a.GetName() != name || a.GetAPIVersion() != "*" {
			t.Errorf("question %d: user %q verb %q name %q version %q", i, a.GetUser().GetName(), a.GetVerb(), a.GetName(), a.GetAPIVersion())
		}
	}
}

func TestSigning(t *testing.T) {
	const forbidden = `certificatesigningrequests.certificates.k8s.io "req" is forbidden: user not permitted to sign requests with signerName "example.com/issuer"`
	issue := func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("cert") }
	fail := func(c *certificatesv1.CertificateSigningRequest) {
		c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue})
	}
	label := func(c *certificatesv1.CertificateSigningRequest) { c.Labels = map[string]string{"a": "b"} }
	tests := []struct {
		name        string
		allowed     []string
		subresource string
		change      func(*certificatesv1.CertificateSigningRequest)
		want        string
	}{
		{name: "issue with rights on the signer", allowed: []string{"sign example.com/issuer"}, subresource: "status", change: issue},
		{name: "issue with rights on the domain", allowed: []string{"sign example.com/*"}, subresource: "status", change: issue},
		{name: "issue without rights", subresource: "status", change: issue, want: forbidden},
		{name: "approving is not signing", allowed: []string{"approve example.com/issuer"}, subresource: "status", change: issue, want: forbidden},
		{name: "report a failure without rights", subresource: "status", change: fail, want: forbidden},
		{name: "a status update that changes neither", subresource: "status", change: label},
		{name: "the approval subresource is not its business", subresource: "approval", change: issue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &grants{allowed: map[string]bool{}}
			for _, a := range tt.allowed {
				g.allowed[a] = true
			}
			old := csr("example.com/issuer", approve)
			obj := old.DeepCopy()
			tt.change(obj)
			err := NewSigning(g.authorizer()).Validate(context.Background(), attributes(obj, old, tt.subresource, admission.Update), nil)
			wantResult(t, err, tt.want)
		})
	}
}

func requestPEM(t *testing.T, organizations ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: organizations}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSubjectRestriction(t *testing.T) {
	const forbidden = `certificatesigningrequests.certificates.k8s.io "req" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed`
	masters := requestPEM(t, "dev", "system:masters")
	tests := []struct {
		name        string
		signer      string
		request     []byte
		subresource string
		want        string
	}{
		{name: "a client certificate for system:masters", signer: certificatesv1.KubeAPIServerClientSignerName, request: masters, want: forbidden},
		{name: "a client certificate for other groups", signer: certificatesv1.KubeAPIServerClientSignerName, request: requestPEM(t, "dev", "ops")},
		{name: "another signer may issue for system:masters", signer: "example.com/issuer", request: masters},
		{name: "a request that does not parse", signer: certificatesv1.KubeAPIServerClientSignerName, request: []byte("junk"),
			want: `certificatesigningrequests.certificates.k8s.io "req" is forbidden: failed to parse CSR: PEM block type must be CERTIFICATE REQUEST`},
		{name: "subresources are not its business", signer: certificatesv1.KubeAPIServerClientSignerName, request: masters, subresource: "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := csr(tt.signer, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = tt.request })
			err := NewSubjectRestriction().Validate(context.Background(), attributes(obj, nil, tt.subresource, admission.Create), nil)
			wantResult(t, err, tt.want)
		})
	}
}

func TestHandles(t *testing.T) {
	tests := []struct {
		name   string
		plugin admission.Interface
		want   map[admission.Operation]bool
	}{
		{ApprovalPluginName, NewApproval((&grants{}).authorizer()), map[admission.Operation]bool{admission.Update: true}},
		{SigningPluginName, NewSigning((&grants{}).authorizer()), map[admission.Operation]bool{admission.Update: true}},
		{SubjectRestrictionPluginName, NewSubjectRestriction(), map[admission.Operation]bool{admission.Create: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []admission.Operation{admission.Create, admission.Update, admission.Delete, admission.Connect} {
				if got := tt.plugin.Handles(op); got != tt.want[op] {
					t.Errorf("Handles(%s) = %v", op, got)
				}
			}
		})
	}
}

func TestRequiresAnAuthorizer(t *testing.T) {
	if err := NewApproval(nil).ValidateInitialization(); err == nil {
		t.Error("CertificateApproval initialized without an authorizer")
	}
	if err := NewSigning(nil).ValidateInitialization(); err == nil {
		t.Error("CertificateSigning initialized without an authorizer")
	}
	if err := NewApproval((&grants{}).authorizer()).ValidateInitialization(); err != nil {
		t.Error(err)
	}
}
