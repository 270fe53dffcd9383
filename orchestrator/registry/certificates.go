package registry

// CertificateSigningRequests (certificates.k8s.io/v1), as upstream's
// registry/certificates: the requester's identity is stamped on create; after
// that spec never changes and status changes only through two subresources, so
// that approving and signing are separate rights (see package
// admission/certificates):
//
//   - /approval adds Approved or Denied conditions, and nothing else;
//   - /status issues the certificate (once) and adds other conditions, such as
//     Failed, but may not approve or deny.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"berth.dev/berth/orchestrator/apis/validation"
)

// legacyUnknownSignerName is the signer of certificates.k8s.io/v1beta1 requests
// that named none; v1 refuses it.
const legacyUnknownSignerName = "kubernetes.io/legacy-unknown"

var csrResource = certificatesv1.Resource("certificatesigningrequests")

// addCSRStorage gives the CSR storage its own create validation and status
// rules and adds the approval subresource; New calls it once the generic
// stores exist.
func addCSRStorage(out Storage, stores map[schema.GroupResource]*genericregistry.Store) {
	store := stores[csrResource]
	resources := out[certificatesv1.SchemeGroupVersion]
	if store == nil || resources == nil {
		return
	}
	base := store.CreateStrategy.(strategy)
	store.CreateStrategy = csrCreateStrategy{base}

	status := resources["certificatesigningrequests/status"].(*StatusREST)
	statusSt := csrStatusStrategy{statusStrategy{base}}
	status.store.UpdateStrategy = statusSt
	status.store.ResetFieldsStrategy = statusSt

	approval := *store
	approvalSt := csrApprovalStrategy{base}
	approval.CreateStrategy = nil
	approval.DeleteStrategy = nil
	approval.UpdateStrategy = approvalSt
	approval.ResetFieldsStrategy = approvalSt
	// The approval subresource reads and writes like status: the whole object
	// in, only the conditions kept.
	resources["certificatesigningrequests/approval"] = &StatusREST{store: &approval}
}

// prepareCSR records who asks for the certificate, from the request's
// authenticated user rather than anything the client sent, and clears status:
// nobody creates a request already approved or issued.
func prepareCSR(ctx context.Context, obj runtime.Object) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	if u, ok := genericapirequest.UserFrom(ctx); ok {
		csr.Spec.Username = u.GetName()
		csr.Spec.UID = u.GetUID()
		csr.Spec.Groups = u.GetGroups()
		if extra := u.GetExtra(); len(extra) > 0 {
			csr.Spec.Extra = make(map[string]certificatesv1.ExtraValue, len(extra))
			for k, v := range extra {
				csr.Spec.Extra[k] = certificatesv1.ExtraValue(v)
			}
		}
	}
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
}

// prepareCSRUpdate keeps spec and status as stored: an update of the main
// resource changes metadata only.
func prepareCSRUpdate(_ context.Context, obj, old runtime.Object) {
	csr, stored := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = stored.Spec
	csr.Status = stored.Status
	// The spec the client sent may have differed, which counted as a new
	// generation; it was thrown away.
	csr.Generation = stored.Generation
}

// csrCreateStrategy validates a new request with the rules the shared
// validation does not know.
type csrCreateStrategy struct{ strategy }

func (s csrCreateStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	errs := s.strategy.Validate(ctx, obj)
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	signerPath := field.NewPath("spec", "signerName")
	if hasErrorOn(errs, signerPath) {
		return errs
	}
	if csr.Spec.SignerName == legacyUnknownSignerName {
		return append(errs, field.Invalid(signerPath, csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	}
	return append(errs, validateSignerName(csr.Spec.SignerName, signerPath)...)
}

// csrStatusStrategy is the status subresource of CSRs: what a signer writes.
type csrStatusStrategy struct{ statusStrategy }

// PrepareForUpdate keeps spec and the Approved and Denied conditions as stored,
// unless conditions of those types were added or removed, which validation
// then refuses.
func (s csrStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s.statusStrategy.PrepareForUpdate(ctx, obj, old)
	csr, stored := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	stampConditions(csr, stored, metav1.Now())
	preserveConditions(csr, stored, certificatesv1.CertificateApproved)
	preserveConditions(csr, stored, certificatesv1.CertificateDenied)
}

func (s csrStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	errs := s.statusStrategy.ValidateUpdate(ctx, obj, old)
	csr, stored := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	conditions := field.NewPath("status", "conditions")
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
		now, before := csrConditions(csr, t), csrConditions(stored, t)
		switch {
		case len(now) < len(before):
			// Removing is refused by the shared validation already.
		case len(now) > len(before):
			errs = append(errs, field.Forbidden(conditions, fmt.Sprintf("updates may not add a condition of type %q", t)))
		case !equality.Semantic.DeepEqual(now, before):
			errs = append(errs, field.Forbidden(conditions, fmt.Sprintf("updates may not modify a condition of type %q", t)))
		}
	}
	// Certificates stored before this check existed stay updatable, as upstream.
	if !bytes.Equal(csr.Status.Certificate, stored.Status.Certificate) && checkCertificates(stored.Status.Certificate) == nil {
		if err := checkCertificates(csr.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", err.Error()))
		}
	}
	return errs
}

// csrApprovalStrategy is the approval subresource of CSRs: what an approver
// (`kubectl certificate approve`) writes.
type csrApprovalStrategy struct{ strategy }

// PrepareForUpdate keeps everything as stored except the conditions.
func (csrApprovalStrategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	csr, stored := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	stampConditions(csr, stored, metav1.Now())
	conditions := csr.Status.Conditions
	csr.Spec = stored.Spec
	csr.Status = stored.Status
	csr.Status.Conditions = conditions
	csr.Generation = stored.Generation
}

// ValidateUpdate is the status validation, which lets Approved and Denied be
// added but not removed, nor both be present; the certificate cannot change
// here since PrepareForUpdate kept it.
func (csrApprovalStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.StatusUpdate(obj, old)
}

func (s csrApprovalStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.res.gvr.GroupVersion().String()): fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("status", "certificate"),
		),
	}
}

// preserveConditions puts back the stored conditions of type t when the update
// has as many of them, so that a status writer cannot reword an approval.
func preserveConditions(csr, stored *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	now, before := conditionIndices(csr, t), conditionIndices(stored, t)
	if len(now) != len(before) {
		return
	}
	for i, at := range now {
		csr.Status.Conditions[at] = stored.Status.Conditions[before[i]]
	}
}

// stampConditions fills in the conditions' times a client left out: updated
// now, and changed now unless the stored object had the same type and status.
func stampConditions(csr, stored *certificatesv1.CertificateSigningRequest, now metav1.Time) {
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, o := range stored.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
				break
			}
		}
	}
}

func conditionIndices(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []int {
	var out []int
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, i)
		}
	}
	return out
}

func csrConditions(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, i := range conditionIndices(csr, t) {
		out = append(out, csr.Status.Conditions[i])
	}
	return out
}

// checkCertificates checks an issued certificate: one or more PEM CERTIFICATE
// blocks without headers, each parsing.
func checkCertificates(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	blocks := 0
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) != 0 {
			return errors.New("no PEM block headers are permitted")
		}
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return err
		}
		if len(certs) == 0 {
			return errors.New("found CERTIFICATE PEM block containing 0 certificates")
		}
		blocks++
		data = rest
	}
	if blocks == 0 {
		return errors.New("must contain at least one CERTIFICATE PEM block")
	}
	return nil
}

// validateSignerName checks a signer name as upstream: a domain of at least two
// DNS labels, a slash, and a path of at most a subdomain and a label
// ("example.com/namespace.name"), 571 characters in all.
func validateSignerName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	domain, path, ok := strings.Cut(name, "/")
	if !ok || strings.Contains(path, "/") {
		return field.ErrorList{field.Invalid(p, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	if len(domain) > utilvalidation.DNS1123SubdomainMaxLength {
		errs = append(errs, field.TooLong(p, domain, utilvalidation.DNS1123SubdomainMaxLength))
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		// One bad label says enough; the others would repeat it.
		if msgs := utilvalidation.IsDNS1123Label(l); len(msgs) > 0 {
			for _, m := range msgs {
				errs = append(errs, field.Invalid(p, domain, fmt.Sprintf("validating label %q: %s", l, m)))
			}
			break
		}
	}
	if len(labels) < 2 {
		errs = append(errs, field.Invalid(p, domain, "should be a domain with at least two segments separated by dots"))
	}
	if max := utilvalidation.DNS1123SubdomainMaxLength + utilvalidation.DNS1123LabelMaxLength + 1; len(path) > max {
		errs = append(errs, field.TooLong(p, path, max))
	}
	for _, m := range utilvalidation.IsDNS1123Subdomain(path) {
		errs = append(errs, field.Invalid(p, path, m))
	}
	return errs
}

func hasErrorOn(errs field.ErrorList, p *field.Path) bool {
	for _, e := range errs {
		if e.Field == p.String() {
			return true
		}
	}
	return false
}

var _ rest.RESTUpdateStrategy = csrApprovalStrategy{}
