package registry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"berth.dev/berth/orchestrator/apis"
)

// csrStrategies are the four ways a CSR is written: create, update, and the
// status and approval subresources.
type csrStrategies struct {
	create   csrCreateStrategy
	update   strategy
	status   csrStatusStrategy
	approval csrApprovalStrategy
}

func newCSRStrategies(t *testing.T) csrStrategies {
	t.Helper()
	scheme, err := apis.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range builtins() {
		if res.groupResource() == csrResource {
			st := newStrategy(scheme, res)
			return csrStrategies{create: csrCreateStrategy{st}, update: st, status: csrStatusStrategy{statusStrategy{st}}, approval: csrApprovalStrategy{st}}
		}
	}
	t.Fatal("certificatesigningrequests is not a built-in resource")
	return csrStrategies{}
}

// requestPEM is a PEM certificate request for cn in organizations.
func requestPEM(t *testing.T, cn string, organizations ...string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: organizations}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// certificatePEM is a self-signed certificate, standing for an issued one.
func certificatePEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jane"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func newCSR(t *testing.T, change func(*certificatesv1.CertificateSigningRequest)) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "jane", ResourceVersion: "1"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    requestPEM(t, "jane", "dev"),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
			Username:   "jane",
		},
	}
	if change != nil {
		change(csr)
	}
	return csr
}

func condition(t certificatesv1.RequestConditionType, reason string) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason}
}

// errorStrings renders errors as "field: type", enough to tell them apart.
func errorStrings(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field+": "+string(e.Type))
	}
	return out
}

func TestCSRCreateRecordsTheRequester(t *testing.T) {
	st := newCSRStrategies(t)
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{
		Name: "system:node:web-1", UID: "u-1", Groups: []string{"system:nodes", "system:authenticated"},
		Extra: map[string][]string{"scopes": {"a", "b"}},
	})
	csr := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) {
		c.Spec.Username, c.Spec.UID, c.Spec.Groups = "system:admin", "forged", []string{"system:masters"}
		c.Spec.Extra = map[string]certificatesv1.ExtraValue{"forged": {"x"}}
		c.Status = certificatesv1.CertificateSigningRequestStatus{
			Conditions:  []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "Mine")},
			Certificate: certificatePEM(t),
		}
	})
	st.create.PrepareForCreate(ctx, csr)
	want := certificatesv1.CertificateSigningRequestSpec{
		Request: csr.Spec.Request, SignerName: csr.Spec.SignerName, Usages: csr.Spec.Usages,
		Username: "system:node:web-1", UID: "u-1", Groups: []string{"system:nodes", "system:authenticated"},
		Extra: map[string]certificatesv1.ExtraValue{"scopes": {"a", "b"}},
	}
	if diff := cmp.Diff(want, csr.Spec); diff != "" {
		t.Errorf("spec after create (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(certificatesv1.CertificateSigningRequestStatus{}, csr.Status); diff != "" {
		t.Errorf("a new request keeps a status (-want +got):\n%s", diff)
	}
	if errs := st.create.Validate(ctx, csr); len(errs) != 0 {
		t.Errorf("a valid request is refused: %v", errs)
	}

	anonymous := newCSR(t, nil)
	st.create.PrepareForCreate(context.Background(), anonymous)
	if anonymous.Spec.Username != "" || anonymous.Spec.Groups != nil {
		t.Errorf("without a user the request still names %q %v", anonymous.Spec.Username, anonymous.Spec.Groups)
	}
}

func TestCSRCreateValidation(t *testing.T) {
	st := newCSRStrategies(t)
	tests := []struct {
		name   string
		change func(*certificatesv1.CertificateSigningRequest)
		want   []string
		detail string // in the first error, when set
	}{{
		name: "a valid request",
	}, {
		name:   "a request that is not PEM",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("hello") },
		want:   []string{"spec.request: FieldValueInvalid"},
		detail: "PEM block type must be CERTIFICATE REQUEST",
	}, {
		name: "a request whose signature does not check",
		change: func(c *certificatesv1.CertificateSigningRequest) {
			block, _ := pem.Decode(c.Spec.Request)
			block.Bytes[len(block.Bytes)-1] ^= 0xff
			c.Spec.Request = pem.EncodeToMemory(block)
		},
		want: []string{"spec.request: FieldValueInvalid"},
	}, {
		name:   "no signer",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" },
		want:   []string{"spec.signerName: FieldValueRequired"},
	}, {
		name:   "a signer without a path",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com" },
		want:   []string{"spec.signerName: FieldValueInvalid"},
		detail: "must be a fully qualified domain and path of the form 'example.com/signer-name'",
	}, {
		name:   "a signer with two slashes",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/a/b" },
		want:   []string{"spec.signerName: FieldValueInvalid"},
		detail: "must be a fully qualified domain and path of the form 'example.com/signer-name'",
	}, {
		name:   "a signer whose domain has one label",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example/signer" },
		want:   []string{"spec.signerName: FieldValueInvalid"},
		detail: "should be a domain with at least two segments separated by dots",
	}, {
		name:   "a signer whose path is not a subdomain",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/My_Signer" },
		want:   []string{"spec.signerName: FieldValueInvalid"},
	}, {
		name:   "a signer with a namespace and name in its path",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/team-a.issuer" },
	}, {
		name:   "the legacy signer",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = legacyUnknownSignerName },
		want:   []string{"spec.signerName: FieldValueInvalid"},
		detail: "the legacy signerName is not allowed via this API version",
	}, {
		name:   "no usages",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil },
		want:   []string{"spec.usages: FieldValueRequired"},
	}, {
		name: "an unknown and a repeated usage",
		change: func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{"client auth", "flying", "client auth"}
		},
		want: []string{"spec.usages[1]: FieldValueNotSupported", "spec.usages[2]: FieldValueDuplicate"},
	}, {
		name:   "a duration under ten minutes",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](599) },
		want:   []string{"spec.expirationSeconds: FieldValueInvalid"},
		detail: "may not specify a duration less than 600 seconds (10 minutes)",
	}, {
		name:   "a duration of ten minutes",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](600) },
	}, {
		name:   "any name will do",
		change: func(c *certificatesv1.CertificateSigningRequest) { c.Name = "node-csr-Ab_C:d" },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := newCSR(t, tt.change)
			csr.ResourceVersion = ""
			ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "jane"})
			st.create.PrepareForCreate(ctx, csr)
			errs := st.create.Validate(ctx, csr)
			if diff := cmp.Diff(tt.want, errorStrings(errs)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s\n%v", diff, errs)
			}
			if tt.detail != "" && errs[0].Detail != tt.detail {
				t.Errorf("detail %q, want %q", errs[0].Detail, tt.detail)
			}
		})
	}
}

// update runs an update through st as the generic store does: prepare, then
// validate.
func update(st rest.RESTUpdateStrategy, obj, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
	ctx := context.Background()
	st.PrepareForUpdate(ctx, obj, old)
	return st.ValidateUpdate(ctx, obj, old)
}

func TestCSRUpdateKeepsSpecAndStatus(t *testing.T) {
	st := newCSRStrategies(t)
	old := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) { c.Generation = 1 })
	obj := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) {
		c.Generation = 1
		c.Labels = map[string]string{"team": "a"}
		c.Spec.SignerName = "example.com/other"
		c.Spec.Username = "someone-else"
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition(certificatesv1.CertificateApproved, "Mine")}
		c.Status.Certificate = []byte("forged")
	})
	if errs := update(st.update, obj, old); len(errs) != 0 {
		t.Fatalf("a metadata change is refused: %v", errs)
	}
	if diff := cmp.Diff(old.Spec, obj.Spec); diff != "" {
		t.Errorf("update changed spec (-stored +updated):\n%s", diff)
	}
	if diff := cmp.Diff(old.Status, obj.Status); diff != "" {
		t.Errorf("update changed status (-stored +updated):\n%s", diff)
	}
	if obj.Labels["team"] != "a" {
		t.Error("update lost the new labels")
	}
	if obj.Generation != 1 {
		t.Errorf("generation %d, want 1: spec did not change", obj.Generation)
	}
}

func TestCSRApproval(t *testing.T) {
	st := newCSRStrategies(t)
	approved := condition(certificatesv1.CertificateApproved, "KubectlApprove")
	denied := condition(certificatesv1.CertificateDenied, "KubectlDeny")
	failed := condition(certificatesv1.CertificateFailed, "SignerValidationFailure")
	issued := certificatePEM(t)
	tests := []struct {
		name       string
		stored     []certificatesv1.CertificateSigningRequestCondition
		conditions []certificatesv1.CertificateSigningRequestCondition
		want       []string
	}{
		{name: "approve", conditions: cs(approved)},
		{name: "deny", conditions: cs(denied)},
		{name: "approve and deny at once", conditions: cs(approved, denied), want: []string{"status.conditions[1].type: FieldValueInvalid"}},
		{name: "deny what was approved", stored: cs(approved), conditions: cs(approved, denied), want: []string{"status.conditions[1].type: FieldValueInvalid"}},
		{name: "withdraw an approval", stored: cs(approved), want: []string{"status.conditions: FieldValueForbidden"}},
		{name: "approve twice", stored: cs(approved), conditions: cs(approved, approved), want: []string{"status.conditions[1].type: FieldValueDuplicate"}},
		{name: "approve after a failure", stored: cs(failed), conditions: cs(failed, approved)},
		{name: "drop a failure", stored: cs(failed), conditions: cs(approved), want: []string{"status.conditions: FieldValueForbidden"}},
		{name: "an approval that is not true", conditions: cs(certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionFalse}),
			want: []string{"status.conditions[0].status: FieldValueNotSupported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Conditions = tt.stored })
			obj := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) {
				c.Spec.SignerName = "example.com/other"
				c.Status.Conditions = tt.conditions
				c.Status.Certificate = issued
			})
			errs := update(st.approval, obj, old)
			if diff := cmp.Diff(tt.want, errorStrings(errs)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s\n%v", diff, errs)
			}
			if obj.Spec.SignerName != old.Spec.SignerName || len(obj.Status.Certificate) != 0 {
				t.Errorf("approval changed spec (signer %q) or issued a certificate (%d bytes)", obj.Spec.SignerName, len(obj.Status.Certificate))
			}
			for _, c := range obj.Status.Conditions {
				if c.LastUpdateTime.IsZero() || c.LastTransitionTime.IsZero() {
					t.Errorf("condition %s has no times: %+v", c.Type, c)
				}
			}
		})
	}
}

func TestCSRStatus(t *testing.T) {
	st := newCSRStrategies(t)
	approved := condition(certificatesv1.CertificateApproved, "KubectlApprove")
	failed := condition(certificatesv1.CertificateFailed, "SignerValidationFailure")
	issued, other := certificatePEM(t), certificatePEM(t)
	key := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})
	tests := []struct {
		name             string
		stored, updated  certificatesv1.CertificateSigningRequestStatus
		want             []string
		detail           string
		wantApprovalKept bool
	}{{
		name:    "issue",
		stored:  status(nil, approved),
		updated: status(issued, approved),
	}, {
		name:    "issue a chain",
		stored:  status(nil, approved),
		updated: status(append(append([]byte{}, issued...), other...), approved),
	}, {
		name:    "fail",
		stored:  status(nil, approved),
		updated: status(nil, approved, failed),
	}, {
		name:    "issue again",
		stored:  status(issued, approved),
		updated: status(other, approved),
		want:    []string{"status.certificate: FieldValueForbidden"},
		detail:  "updates may not modify existing certificate content",
	}, {
		name:    "issue something that is not a certificate",
		stored:  status(nil, approved),
		updated: status(key, approved),
		want:    []string{"status.certificate: FieldValueInvalid"},
		detail:  `only CERTIFICATE PEM blocks are allowed, found "EC PRIVATE KEY"`,
	}, {
		name:    "issue garbage",
		stored:  status(nil, approved),
		updated: status([]byte("garbage"), approved),
		want:    []string{"status.certificate: FieldValueInvalid"},
		detail:  "must contain at least one CERTIFICATE PEM block",
	}, {
		name:    "approve through status",
		updated: status(nil, approved),
		want:    []string{"status.conditions: FieldValueForbidden"},
		detail:  `updates may not add a condition of type "Approved"`,
	}, {
		name:    "drop the approval through status",
		stored:  status(nil, approved),
		updated: status(nil),
		want:    []string{"status.conditions: FieldValueForbidden"},
		detail:  `updates may not remove a condition of type "Approved"`,
	}, {
		name:             "reword the approval through status",
		stored:           status(nil, approved),
		updated:          status(issued, condition(certificatesv1.CertificateApproved, "Reworded")),
		wantApprovalKept: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) { c.Status = tt.stored })
			obj := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) {
				c.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
				c.Status = tt.updated
			})
			errs := update(st.status, obj, old)
			if diff := cmp.Diff(tt.want, errorStrings(errs)); diff != "" {
				t.Fatalf("errors (-want +got):\n%s\n%v", diff, errs)
			}
			if tt.detail != "" && !strings.HasPrefix(errs[0].Detail, tt.detail) {
				t.Errorf("detail %q, want %q", errs[0].Detail, tt.detail)
			}
			if obj.Spec.Usages[0] != certificatesv1.UsageClientAuth {
				t.Errorf("status changed spec.usages to %v", obj.Spec.Usages)
			}
			if tt.wantApprovalKept && obj.Status.Conditions[0].Reason != "KubectlApprove" {
				t.Errorf("status reworded the approval: %+v", obj.Status.Conditions[0])
			}
		})
	}
}

func TestStampConditionsKeepsTransitions(t *testing.T) {
	then := metav1.NewTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
	now := metav1.NewTime(then.Add(time.Hour))
	stored := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) {
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Ready", Status: corev1.ConditionTrue, LastTransitionTime: then, LastUpdateTime: then}}
	})
	csr := newCSR(t, func(c *certificatesv1.CertificateSigningRequest) {
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{
			{Type: "Ready", Status: corev1.ConditionTrue},
			{Type: "Issued", Status: corev1.ConditionFalse},
		}
	})
	stampConditions(csr, stored, now)
	want := []certificatesv1.CertificateSigningRequestCondition{
		{Type: "Ready", Status: corev1.ConditionTrue, LastTransitionTime: then, LastUpdateTime: now},
		{Type: "Issued", Status: corev1.ConditionFalse, LastTransitionTime: now, LastUpdateTime: now},
	}
	if diff := cmp.Diff(want, csr.Status.Conditions); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
}

func cs(c ...certificatesv1.CertificateSigningRequestCondition) []certificatesv1.CertificateSigningRequestCondition {
	return c
}

func status(certificate []byte, c ...certificatesv1.CertificateSigningRequestCondition) certificatesv1.CertificateSigningRequestStatus {
	return certificatesv1.CertificateSigningRequestStatus{Certificate: certificate, Conditions: c}
}

func TestAddCSRStorage(t *testing.T) {
	st := newCSRStrategies(t)
	store := &genericregistry.Store{CreateStrategy: st.update, UpdateStrategy: st.update, DeleteStrategy: st.update, ResetFieldsStrategy: st.update}
	out := Storage{certificatesv1.SchemeGroupVersion: {
		"certificatesigningrequests":        &REST{Store: store},
		"certificatesigningrequests/status": &StatusREST{store: statusStore(store)},
	}}
	addCSRStorage(out, map[schema.GroupResource]*genericregistry.Store{csrResource: store})

	resources := out[certificatesv1.SchemeGroupVersion]
	if _, ok := store.CreateStrategy.(csrCreateStrategy); !ok {
		t.Errorf("create strategy %T, want the CSR one", store.CreateStrategy)
	}
	if _, ok := store.UpdateStrategy.(strategy); !ok {
		t.Errorf("update strategy %T, want the common one with the CSR hooks", store.UpdateStrategy)
	}
	status := resources["certificatesigningrequests/status"].(*StatusREST).store
	if _, ok := status.UpdateStrategy.(csrStatusStrategy); !ok {
		t.Errorf("status strategy %T, want the CSR one", status.UpdateStrategy)
	}
	approval, ok := resources["certificatesigningrequests/approval"].(*StatusREST)
	if !ok {
		t.Fatalf("no approval subresource: %T", resources["certificatesigningrequests/approval"])
	}
	if _, ok := approval.store.UpdateStrategy.(csrApprovalStrategy); !ok || approval.store.CreateStrategy != nil || approval.store.DeleteStrategy != nil {
		t.Errorf("approval strategies: update %T, create %T, delete %T", approval.store.UpdateStrategy, approval.store.CreateStrategy, approval.store.DeleteStrategy)
	}
	if got := approval.store.GetResetFields()["certificates.k8s.io/v1"]; got == nil || !got.Has(fieldpath.MakePathOrDie("status", "certificate")) || got.Has(fieldpath.MakePathOrDie("status", "conditions")) {
		t.Errorf("approval resets %v, want spec and status.certificate", got)
	}
}
