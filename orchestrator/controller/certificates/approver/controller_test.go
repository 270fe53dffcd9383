package approver

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
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

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
	nodeSubject   = pkix.Name{CommonName: "system:node:web-1", Organization: []string{"system:nodes"}}
	clientUsages  = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	servingUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	node          = &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "10.0.0.7"},
			{Type: corev1.NodeExternalIP, Address: "203.0.113.7"},
			{Type: corev1.NodeHostName, Address: "web-1.example.com"},
		}},
	}
)

// requester fills in who asked for csr, as the API server does.
func requester(user string, groups ...string) func(*certificatesv1.CertificateSigningRequest) {
	return func(c *certificatesv1.CertificateSigningRequest) {
		c.Spec.Username, c.Spec.UID, c.Spec.Groups = user, "uid-1", groups
		c.Spec.Extra = map[string]certificatesv1.ExtraValue{"scope": {"node"}}
	}
}

func newCSR(t *testing.T, signer string, tmpl *x509.CertificateRequest, usages []certificatesv1.KeyUsage, changes ...func(*certificatesv1.CertificateSigningRequest)) *certificatesv1.CertificateSigningRequest {
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "req"},
		Spec:       certificatesv1.CertificateSigningRequestSpec{Request: request(t, tmpl), SignerName: signer, Usages: usages},
	}
	for _, change := range changes {
		change(csr)
	}
	return csr
}

// fixture is an approver over a fake clientset whose SubjectAccessReviews
// allow the subresources in allowed.
type fixture struct {
	client  *fake.Clientset
	c       *Controller
	reviews []authorizationv1.SubjectAccessReviewSpec
}

func newFixture(t *testing.T, allowed []string, sarErr error, objs ...runtime.Object) *fixture {
	t.Helper()
	fx := &fixture{client: fake.NewClientset(objs...)}
	fx.client.PrependReactor("create", "subjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		sar := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		fx.reviews = append(fx.reviews, sar.Spec)
		if sarErr != nil {
			return true, nil, sarErr
		}
		ra := sar.Spec.ResourceAttributes
		for _, s := range allowed {
			if ra.Group == "certificates.k8s.io" && ra.Resource == "certificatesigningrequests" && ra.Verb == "create" && ra.Subresource == s {
				sar.Status.Allowed = true
			}
		}
		return true, sar, nil
	})
	f := informers.NewSharedInformerFactory(fx.client, 0)
	fx.c = New(fx.client, f)
	for _, o := range objs {
		switch o := o.(type) {
		case *certificatesv1.CertificateSigningRequest:
			f.Certificates().V1().CertificateSigningRequests().Informer().GetStore().Add(o)
		case *corev1.Node:
			f.Core().V1().Nodes().Informer().GetStore().Add(o)
		}
	}
	return fx
}

// approval returns the conditions written through the approval subresource,
// nil if nothing was.
func (fx *fixture) approval(t *testing.T) []certificatesv1.CertificateSigningRequestCondition {
	t.Helper()
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, a := range fx.client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		case "update":
			if a.GetSubresource() == "approval" {
				out = a.(clienttesting.UpdateAction).GetObject().(*certificatesv1.CertificateSigningRequest).Status.Conditions
				continue
			}
		case "create":
			if a.GetResource().Resource == "subjectaccessreviews" {
				continue
			}
		}
		t.Errorf("unexpected write %s %s/%s", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
	}
	return out
}

func approvedWith(message string) []certificatesv1.CertificateSigningRequestCondition {
	return []certificatesv1.CertificateSigningRequestCondition{{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "AutoApproved", Message: message,
	}}
}

func TestNodeClientCertificates(t *testing.T) {
	const (
		self      = "Auto approving self kubelet client certificate after SubjectAccessReview."
		bootstrap = "Auto approving kubelet client certificate after SubjectAccessReview."
	)
	bootstrapper := requester("system:bootstrap:abcdef", "system:bootstrappers", "system:authenticated")
	renewer := requester("system:node:web-1", "system:nodes", "system:authenticated")
	tests := []struct {
		name        string
		tmpl        *x509.CertificateRequest
		usages      []certificatesv1.KeyUsage
		change      func(*certificatesv1.CertificateSigningRequest)
		allowed     []string
		want        []certificatesv1.CertificateSigningRequestCondition
		wantReviews []string // subresources asked about
		wantErr     bool
	}{{
		name: "a bootstrapping node", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: clientUsages,
		change: bootstrapper, allowed: []string{"nodeclient"},
		want: approvedWith(bootstrap), wantReviews: []string{"nodeclient"},
	}, {
		name: "a node renewing its own", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: clientUsages,
		change: renewer, allowed: []string{"selfnodeclient"},
		want: approvedWith(self), wantReviews: []string{"selfnodeclient"},
	}, {
		name: "a node renewing its own with nodeclient rights", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: clientUsages,
		change: renewer, allowed: []string{"nodeclient"},
		want: approvedWith(bootstrap), wantReviews: []string{"selfnodeclient", "nodeclient"},
	}, {
		name: "a bootstrapper without rights", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: clientUsages,
		change: bootstrapper, allowed: []string{"selfnodeclient"},
		wantReviews: []string{"nodeclient"}, wantErr: true,
	}, {
		name: "a node asking for another node's", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: clientUsages,
		change: requester("system:node:web-2", "system:nodes"), allowed: []string{"selfnodeclient"},
		wantReviews: []string{"nodeclient"}, wantErr: true,
	}, {
		name: "more groups than system:nodes", usages: clientUsages,
		tmpl:   &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:web-1", Organization: []string{"system:nodes", "system:masters"}}},
		change: bootstrapper, allowed: []string{"nodeclient", "selfnodeclient"},
	}, {
		name: "alternative names", usages: clientUsages,
		tmpl:   &x509.CertificateRequest{Subject: nodeSubject, IPAddresses: []net.IP{net.ParseIP("10.0.0.7")}},
		change: bootstrapper, allowed: []string{"nodeclient"},
	}, {
		name: "serving usages", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: servingUsages,
		change: bootstrapper, allowed: []string{"nodeclient"},
	}, {
		name: "already approved", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: clientUsages,
		change: func(c *certificatesv1.CertificateSigningRequest) {
			bootstrapper(c)
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
		},
		allowed: []string{"nodeclient"},
	}, {
		name: "denied", tmpl: &x509.CertificateRequest{Subject: nodeSubject}, usages: clientUsages,
		change: func(c *certificatesv1.CertificateSigningRequest) {
			bootstrapper(c)
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue}}
		},
		allowed: []string{"nodeclient"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := newCSR(t, certificatesv1.KubeAPIServerClientKubeletSignerName, tt.tmpl, tt.usages, tt.change)
			fx := newFixture(t, tt.allowed, nil, csr)
			err := fx.c.sync(context.Background(), "req")
			if (err != nil) != tt.wantErr {
				t.Fatalf("sync error %v, want an error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, fx.approval(t)); diff != "" {
				t.Errorf("approval (-want +got):\n%s", diff)
			}
			var asked []string
			for _, r := range fx.reviews {
				asked = append(asked, r.ResourceAttributes.Subresource)
				want := authorizationv1.SubjectAccessReviewSpec{
					User: csr.Spec.Username, UID: "uid-1", Groups: csr.Spec.Groups,
					Extra: map[string]authorizationv1.ExtraValue{"scope": {"node"}},
					ResourceAttributes: &authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "certificatesigningrequests",
						Verb: "create", Subresource: r.ResourceAttributes.Subresource},
				}
				if diff := cmp.Diff(want, r); diff != "" {
					t.Errorf("review (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.wantReviews, asked); diff != "" {
				t.Errorf("reviews (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReviewErrorRetries(t *testing.T) {
	csr := newCSR(t, certificatesv1.KubeAPIServerClientKubeletSignerName, &x509.CertificateRequest{Subject: nodeSubject}, clientUsages,
		requester("system:bootstrap:abcdef", "system:bootstrappers"))
	fx := newFixture(t, nil, errors.New("authorizer down"), csr)
	if err := fx.c.sync(context.Background(), "req"); err == nil {
		t.Fatal("a failed review was not reported for a retry")
	}
	if got := fx.approval(t); got != nil {
		t.Errorf("approved: %v", got)
	}
}

func TestKubeletServingCertificates(t *testing.T) {
	const approvedMessage = "Auto approving kubelet serving certificate after checking the node's addresses."
	itself := requester("system:node:web-1", "system:nodes", "system:authenticated")
	serving := func(dns []string, ips ...string) *x509.CertificateRequest {
		r := &x509.CertificateRequest{Subject: nodeSubject, DNSNames: dns}
		for _, ip := range ips {
			r.IPAddresses = append(r.IPAddresses, net.ParseIP(ip))
		}
		return r
	}
	tests := []struct {
		name   string
		tmpl   *x509.CertificateRequest
		usages []certificatesv1.KeyUsage
		change func(*certificatesv1.CertificateSigningRequest)
		nodes  []runtime.Object
		want   bool
	}{
		{name: "its name, hostname and addresses", tmpl: serving([]string{"web-1", "web-1.example.com"}, "10.0.0.7", "203.0.113.7"),
			usages: servingUsages, change: itself, nodes: []runtime.Object{node}, want: true},
		{name: "one address", tmpl: serving(nil, "10.0.0.7"), usages: servingUsages, change: itself, nodes: []runtime.Object{node}, want: true},
		{name: "with key encipherment", tmpl: serving([]string{"web-1"}),
			usages: append([]certificatesv1.KeyUsage{certificatesv1.UsageKeyEncipherment}, servingUsages...), change: itself, nodes: []runtime.Object{node}, want: true},
		{name: "an address the node does not have", tmpl: serving([]string{"web-1"}, "10.0.0.7", "10.0.0.8"),
			usages: servingUsages, change: itself, nodes: []runtime.Object{node}},
		{name: "a name the node does not have", tmpl: serving([]string{"web-1", "kubernetes.default.svc"}, "10.0.0.7"),
			usages: servingUsages, change: itself, nodes: []runtime.Object{node}},
		{name: "a node without addresses", tmpl: serving([]string{"web-1"}, "10.0.0.7"), usages: servingUsages, change: itself,
			nodes: []runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}}}},
		{name: "its name only, before it has addresses", tmpl: serving([]string{"web-1"}), usages: servingUsages, change: itself,
			nodes: []runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}}}, want: true},
		{name: "no node yet", tmpl: serving([]string{"web-1"}, "10.0.0.7"), usages: servingUsages, change: itself},
		{name: "asked by another node", tmpl: serving([]string{"web-1"}, "10.0.0.7"), usages: servingUsages,
			change: requester("system:node:web-2", "system:nodes"), nodes: []runtime.Object{node}},
		{name: "asked by a user named like the node", tmpl: serving([]string{"web-1"}, "10.0.0.7"), usages: servingUsages,
			change: requester("system:node:web-1", "system:authenticated"), nodes: []runtime.Object{node}},
		{name: "client usages", tmpl: serving([]string{"web-1"}, "10.0.0.7"),
			usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth, certificatesv1.UsageClientAuth},
			change: itself, nodes: []runtime.Object{node}},
		{name: "already issued", tmpl: serving([]string{"web-1"}, "10.0.0.7"), usages: servingUsages,
			change: func(c *certificatesv1.CertificateSigningRequest) { itself(c); c.Status.Certificate = []byte("cert") }, nodes: []runtime.Object{node}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := newCSR(t, certificatesv1.KubeletServingSignerName, tt.tmpl, tt.usages, tt.change)
			fx := newFixture(t, []string{"nodeclient", "selfnodeclient"}, nil, append(tt.nodes, csr)...)
			if err := fx.c.sync(context.Background(), "req"); err != nil {
				t.Fatal(err)
			}
			var want []certificatesv1.CertificateSigningRequestCondition
			if tt.want {
				want = approvedWith(approvedMessage)
			}
			if diff := cmp.Diff(want, fx.approval(t)); diff != "" {
				t.Errorf("approval (-want +got):\n%s", diff)
			}
			if len(fx.reviews) != 0 {
				t.Errorf("asked %d SubjectAccessReviews for a serving certificate", len(fx.reviews))
			}
		})
	}
}

func TestOtherSignersAreLeftAlone(t *testing.T) {
	for _, signer := range []string{certificatesv1.KubeAPIServerClientSignerName, "example.com/issuer"} {
		t.Run(signer, func(t *testing.T) {
			csr := newCSR(t, signer, &x509.CertificateRequest{Subject: nodeSubject}, clientUsages, requester("system:node:web-1", "system:nodes"))
			fx := newFixture(t, []string{"nodeclient", "selfnodeclient"}, nil, csr)
			if err := fx.c.sync(context.Background(), "req"); err != nil {
				t.Fatal(err)
			}
			if got := fx.approval(t); got != nil || len(fx.reviews) != 0 {
				t.Errorf("approved %v after %d reviews", got, len(fx.reviews))
			}
		})
	}
}

func TestNodeChangeQueuesItsServingRequests(t *testing.T) {
	pendingServing := newCSR(t, certificatesv1.KubeletServingSignerName, &x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}},
		servingUsages, requester("system:node:web-1", "system:nodes"))
	otherNode := newCSR(t, certificatesv1.KubeletServingSignerName, &x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}},
		servingUsages, requester("system:node:web-2", "system:nodes"), func(c *certificatesv1.CertificateSigningRequest) { c.Name = "other" })
	issued := newCSR(t, certificatesv1.KubeletServingSignerName, &x509.CertificateRequest{Subject: nodeSubject, DNSNames: []string{"web-1"}},
		servingUsages, requester("system:node:web-1", "system:nodes"), func(c *certificatesv1.CertificateSigningRequest) {
			c.Name = "issued"
			c.Status.Certificate = []byte("cert")
		})
	client := newCSR(t, certificatesv1.KubeAPIServerClientKubeletSignerName, &x509.CertificateRequest{Subject: nodeSubject},
		clientUsages, requester("system:node:web-1", "system:nodes"), func(c *certificatesv1.CertificateSigningRequest) { c.Name = "client" })
	fx := newFixture(t, nil, nil, pendingServing, otherNode, issued, client)
	fx.c.nodeChanged(node)
	if n := fx.c.queue.Len(); n != 1 {
		t.Fatalf("queued %d requests, want web-1's pending serving request only", n)
	}
	if key, _ := fx.c.queue.Get(); key != "req" {
		t.Errorf("queued %q, want req", key)
	}
}
