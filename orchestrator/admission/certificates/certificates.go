// Package certificates holds the admission plugins that guard
// CertificateSigningRequests, as upstream's: CertificateApproval (approving or
// denying needs the "approve" verb on the request's signer), CertificateSigning
// (issuing needs "sign" on it) and CertificateSubjectRestriction (nobody asks
// the kube-apiserver-client signer for a system:masters certificate).
// Rights on a signer are rights on the synthetic resource "signers" of
// certificates.k8s.io, named by the signer name or by "<domain>/*".
//
// The plugins only allow or refuse; they must not change objects, and what a
// valid request looks like is the registry's business.
package certificates

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

var csrResource = certificatesv1.Resource("certificatesigningrequests")

// signerGuard is what the approval and signing plugins share: they judge
// updates, asking the authorizer about the request's signer.
type signerGuard struct {
	*admission.Handler
	name  string
	authz authorizer.Authorizer
}

func newSignerGuard(name string, authz authorizer.Authorizer) signerGuard {
	return signerGuard{Handler: admission.NewHandler(admission.Update), name: name, authz: authz}
}

// ValidateInitialization refuses a plugin without an authorizer.
func (g signerGuard) ValidateInitialization() error {
	if g.authz == nil {
		return errors.New(g.name + " requires an authorizer")
	}
	return nil
}

// authorizedForSigner reports whether u may verb the signer signerName, by
// that name or by the wildcard of its domain (kubernetes.io/*).
func authorizedForSigner(ctx context.Context, authz authorizer.Authorizer, u user.Info, verb, signerName string) bool {
	domain, _, _ := strings.Cut(signerName, "/")
	for _, name := range []string{signerName, domain + "/*"} {
		decision, reason, err := authz.Authorize(ctx, authorizer.AttributesRecord{
			User:            u,
			Verb:            verb,
			Name:            name,
			APIGroup:        certificatesv1.GroupName,
			APIVersion:      "*",
			Resource:        "signers",
			ResourceRequest: true,
		})
		if err != nil {
			// An authorizer that failed has not allowed; the wildcard may still.
			slog.Debug("authorizing for a signer", "verb", verb, "signer", name, "reason", reason, "err", err)
			continue
		}
		if decision == authorizer.DecisionAllow {
			return true
		}
	}
	return false
}

// csrOf returns obj as a CSR, or the error upstream gives for anything else.
func csrOf(a admission.Attributes, obj runtime.Object) (*certificatesv1.CertificateSigningRequest, error) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return nil, admission.NewForbidden(a, fmt.Errorf("expected type CertificateSigningRequest, got: %T", obj))
	}
	return csr, nil
}
