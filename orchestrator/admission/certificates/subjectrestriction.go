package certificates

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
)

// SubjectRestrictionPluginName is the name upstream gives the subject
// restriction plugin.
const SubjectRestrictionPluginName = "CertificateSubjectRestriction"

// SubjectRestriction is the CertificateSubjectRestriction plugin: a request to
// the kube-apiserver-client signer may not ask for the system:masters group,
// whose members no authorizer can refuse.
type SubjectRestriction struct {
	*admission.Handler
}

var _ admission.ValidationInterface = (*SubjectRestriction)(nil)

// NewSubjectRestriction returns the plugin.
func NewSubjectRestriction() *SubjectRestriction {
	return &SubjectRestriction{Handler: admission.NewHandler(admission.Create)}
}

// Validate refuses a new kube-apiserver-client request for system:masters.
func (p *SubjectRestriction) Validate(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != csrResource || a.GetSubresource() != "" {
		return nil
	}
	csr, err := csrOf(a, a.GetObject())
	if err != nil {
		return err
	}
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return nil
	}
	req, err := parseRequest(csr.Spec.Request)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("failed to parse CSR: %v", err))
	}
	if slices.Contains(req.Subject.Organization, user.SystemPrivilegedGroup) {
		return admission.NewForbidden(a, fmt.Errorf("use of %s signer with %s group is not allowed",
			certificatesv1.KubeAPIServerClientSignerName, user.SystemPrivilegedGroup))
	}
	return nil
}

func parseRequest(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}
