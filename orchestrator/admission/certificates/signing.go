package certificates

import (
	"bytes"
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// SigningPluginName is the name upstream gives the signing plugin.
const SigningPluginName = "CertificateSigning"

// Signing is the CertificateSigning plugin: an update through the status
// subresource that changes the certificate or the conditions needs the "sign"
// verb on the request's signer.
type Signing struct{ signerGuard }

var (
	_ admission.ValidationInterface     = (*Signing)(nil)
	_ admission.InitializationValidator = (*Signing)(nil)
)

// NewSigning returns the plugin, asking authz.
func NewSigning(authz authorizer.Authorizer) *Signing {
	return &Signing{newSignerGuard(SigningPluginName, authz)}
}

// Validate checks the user may sign for the signer when the update issues a
// certificate or reports on the request (a Failed condition, say).
func (p *Signing) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "status" || a.GetResource().GroupResource() != csrResource {
		return nil
	}
	old, err := csrOf(a, a.GetOldObject())
	if err != nil {
		return err
	}
	csr, err := csrOf(a, a.GetObject())
	if err != nil {
		return err
	}
	if bytes.Equal(old.Status.Certificate, csr.Status.Certificate) && equality.Semantic.DeepEqual(old.Status.Conditions, csr.Status.Conditions) {
		return nil
	}
	if !authorizedForSigner(ctx, p.authz, a.GetUserInfo(), "sign", old.Spec.SignerName) {
		return admission.NewForbidden(a, fmt.Errorf("user not permitted to sign requests with signerName %q", old.Spec.SignerName))
	}
	return nil
}
