package signer

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	nodeauth "berth.dev/berth/orchestrator/auth/node"
)

// What the checks below say, in upstream's words: clients read these messages
// in the Failed condition.
var (
	errNotSystemNodes    = errors.New("subject organization is not system:nodes")
	errNotSystemNode     = errors.New("subject common name does not begin with system:node:")
	errDNSOrIPRequired   = errors.New("DNS or IP subjectAltName is required")
	errDNSNotAllowed     = errors.New("DNS subjectAltNames are not allowed")
	errEmailNotAllowed   = errors.New("Email subjectAltNames are not allowed")
	errIPNotAllowed      = errors.New("IP subjectAltNames are not allowed")
	errURINotAllowed     = errors.New("URI subjectAltNames are not allowed")
	kubeletClientUsages  = []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth, certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment}
	kubeletServingUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageServerAuth}
)

// checks are what each signer this controller runs demands of a request.
var checks = map[string]func(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error{
	certificatesv1.KubeAPIServerClientSignerName:        CheckAPIServerClient,
	certificatesv1.KubeAPIServerClientKubeletSignerName: CheckKubeletClient,
	certificatesv1.KubeletServingSignerName:             CheckKubeletServing,
}

// Signs reports whether the controller issues certificates for signerName.
func Signs(signerName string) bool {
	_, ok := checks[signerName]
	return ok
}

// CheckAPIServerClient says why the kube-apiserver-client signer will not
// issue for a request with usages: it issues client certificates only.
func CheckAPIServerClient(_ *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	clientAuth := false
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
		case certificatesv1.UsageClientAuth:
			clientAuth = true
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !clientAuth {
		return fmt.Errorf("missing required usage for client certificate: %s", certificatesv1.UsageClientAuth)
	}
	return nil
}

// CheckKubeletClient says why req, with usages, is not a node's client
// certificate request, which the kube-apiserver-client-kubelet signer issues:
// user system:node:NAME in group system:nodes only, no alternative names,
// client auth and digital signature, key encipherment if the key is RSA.
func CheckKubeletClient(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	switch {
	case !slices.Equal(req.Subject.Organization, []string{user.NodesGroup}):
		return errNotSystemNodes
	case len(req.DNSNames) > 0:
		return errDNSNotAllowed
	case len(req.EmailAddresses) > 0:
		return errEmailNotAllowed
	case len(req.IPAddresses) > 0:
		return errIPNotAllowed
	case len(req.URIs) > 0:
		return errURINotAllowed
	case !strings.HasPrefix(req.Subject.CommonName, nodeauth.UserPrefix):
		return errNotSystemNode
	case !usagesAre(usages, kubeletClientUsages, certificatesv1.UsageKeyEncipherment):
		return fmt.Errorf("usages did not match %v", kubeletClientUsages)
	}
	return nil
}

// CheckKubeletServing says why req, with usages, is not a kubelet's serving
// certificate request, which the kubelet-serving signer issues: subject
// system:node:NAME in group system:nodes only, at least one DNS name or IP
// address and no other alternative names, server auth and digital signature,
// key encipherment if the key is RSA.
func CheckKubeletServing(req *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	switch {
	case !slices.Equal(req.Subject.Organization, []string{user.NodesGroup}):
		return errNotSystemNodes
	case len(req.DNSNames) == 0 && len(req.IPAddresses) == 0:
		return errDNSOrIPRequired
	case len(req.EmailAddresses) > 0:
		return errEmailNotAllowed
	case len(req.URIs) > 0:
		return errURINotAllowed
	case !usagesAre(usages, kubeletServingUsages, certificatesv1.UsageKeyEncipherment):
		return fmt.Errorf("usages did not match %v", kubeletServingUsages)
	case !strings.HasPrefix(req.Subject.CommonName, nodeauth.UserPrefix):
		return errNotSystemNode
	}
	return nil
}

// usagesAre reports whether usages are exactly want, or want without optional.
func usagesAre(usages, want []certificatesv1.KeyUsage, optional certificatesv1.KeyUsage) bool {
	set := map[certificatesv1.KeyUsage]bool{}
	for _, u := range usages {
		set[u] = true
	}
	for _, w := range want {
		if !set[w] && w != optional {
			return false
		}
		delete(set, w)
	}
	return len(set) == 0
}

// keyUsages and extKeyUsages translate the API's usages into X.509's.
var (
	keyUsages = map[certificatesv1.KeyUsage]x509.KeyUsage{
		certificatesv1.UsageSigning:           x509.KeyUsageDigitalSignature,
		certificatesv1.UsageDigitalSignature:  x509.KeyUsageDigitalSignature,
		certificatesv1.UsageContentCommitment: x509.KeyUsageContentCommitment,
		certificatesv1.UsageKeyEncipherment:   x509.KeyUsageKeyEncipherment,
		certificatesv1.UsageKeyAgreement:      x509.KeyUsageKeyAgreement,
		certificatesv1.UsageDataEncipherment:  x509.KeyUsageDataEncipherment,
		certificatesv1.UsageCertSign:          x509.KeyUsageCertSign,
		certificatesv1.UsageCRLSign:           x509.KeyUsageCRLSign,
		certificatesv1.UsageEncipherOnly:      x509.KeyUsageEncipherOnly,
		certificatesv1.UsageDecipherOnly:      x509.KeyUsageDecipherOnly,
	}
	extKeyUsages = map[certificatesv1.KeyUsage]x509.ExtKeyUsage{
		certificatesv1.UsageAny:             x509.ExtKeyUsageAny,
		certificatesv1.UsageServerAuth:      x509.ExtKeyUsageServerAuth,
		certificatesv1.UsageClientAuth:      x509.ExtKeyUsageClientAuth,
		certificatesv1.UsageCodeSigning:     x509.ExtKeyUsageCodeSigning,
		certificatesv1.UsageEmailProtection: x509.ExtKeyUsageEmailProtection,
		certificatesv1.UsageSMIME:           x509.ExtKeyUsageEmailProtection,
		certificatesv1.UsageIPsecEndSystem:  x509.ExtKeyUsageIPSECEndSystem,
		certificatesv1.UsageIPsecTunnel:     x509.ExtKeyUsageIPSECTunnel,
		certificatesv1.UsageIPsecUser:       x509.ExtKeyUsageIPSECUser,
		certificatesv1.UsageTimestamping:    x509.ExtKeyUsageTimeStamping,
		certificatesv1.UsageOCSPSigning:     x509.ExtKeyUsageOCSPSigning,
		certificatesv1.UsageMicrosoftSGC:    x509.ExtKeyUsageMicrosoftServerGatedCrypto,
		certificatesv1.UsageNetscapeSGC:     x509.ExtKeyUsageNetscapeServerGatedCrypto,
	}
)

// x509Usages translates usages; extended usages come out sorted and once each.
func x509Usages(usages []certificatesv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage, error) {
	var key x509.KeyUsage
	var ext []x509.ExtKeyUsage
	var unknown []certificatesv1.KeyUsage
	for _, u := range usages {
		if k, ok := keyUsages[u]; ok {
			key |= k
		} else if e, ok := extKeyUsages[u]; ok {
			ext = append(ext, e)
		} else {
			unknown = append(unknown, u)
		}
	}
	if len(unknown) > 0 {
		return 0, nil, fmt.Errorf("unrecognized usage values: %q", unknown)
	}
	slices.Sort(ext)
	return key, slices.Compact(ext), nil
}

// ParseRequest decodes a CSR's spec.request.
func ParseRequest(data []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

// Approval reports whether csr was approved and whether it was denied.
func Approval(csr *certificatesv1.CertificateSigningRequest) (approved, denied bool) {
	for _, c := range csr.Status.Conditions {
		switch {
		case c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue:
			approved = true
		case c.Type == certificatesv1.CertificateDenied && c.Status == corev1.ConditionTrue:
			denied = true
		}
	}
	return approved, denied
}

func failed(csr *certificatesv1.CertificateSigningRequest) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == certificatesv1.CertificateFailed && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
