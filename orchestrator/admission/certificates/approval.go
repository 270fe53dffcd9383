package certificates

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// ApprovalPluginName is the name upstream gives the approval plugin.
const ApprovalPluginName = "CertificateApproval"

// Approval is the CertificateApproval plugin: an update through the approval
// subresource needs the "approve" verb on the request's signer.
type Approval struct{ signerGuard }

var (
	_ admission.ValidationInterface     = (*Approval)(nil)
	_ admission.InitializationValidator = (*Approval)(nil)
)

// NewApproval returns the plugin, asking authz.
func NewApproval(authz authorizer.Authorizer) *Approval {
	return &Approval{newSignerGuard(ApprovalPluginName, authz)}
}

// Validate checks the user may approve requests for the signer.
func (p *Approval) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "approval" || a.GetResource().GroupResource() != csrResource {
		return nil
	}
	// The stored signer counts: the approval subresource cannot change it, and
	// asking about a new one would let a user pick a signer they may approve.
	csr, err := csrOf(a, a.GetOldObject())
	if err != nil {
		return err
	}
	if !authorizedForSigner(ctx, p.authz, a.GetUserInfo(), "approve", csr.Spec.SignerName) {
		return admission.NewForbidden(a, fmt.Errorf("user not permitted to approve requests with signerName %q", csr.Spec.SignerName))
	}
	return nil
}
