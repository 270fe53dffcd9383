// Package signer issues the certificates of Kubernetes' built-in signers with
// the cluster CA, as kube-controller-manager's csrsigning controllers do:
// kubernetes.io/kube-apiserver-client (users and components),
// kubernetes.io/kube-apiserver-client-kubelet (nodes' client certificates) and
// kubernetes.io/kubelet-serving (kubelets' serving certificates). It signs a
// request once it is approved and neither denied nor failed, and marks a
// request its signer cannot honour as Failed; it writes through the status
// subresource.
//
// It must not approve anything (package approver and people do), touch
// requests for other signers, or know where the CA's key is kept.
package signer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"berth.dev/berth/orchestrator/controller/loop"
)

const (
	// name is how the controller logs and names its queue, as upstream.
	name = "csrsigning"
	// DefaultMaxDuration is how long certificates are valid at most unless
	// configured otherwise: kube-controller-manager's default
	// --cluster-signing-duration.
	DefaultMaxDuration = 365 * 24 * time.Hour
	// minDuration is the shortest validity issued, whatever a request asks:
	// twice the five minutes a certificate is backdated.
	minDuration = 10 * time.Minute
	// ReasonSignerValidationFailure is the reason of the Failed condition of a
	// request the signer will not honour.
	ReasonSignerValidationFailure = "SignerValidationFailure"
)

// Authority signs certificates: the cluster CA (*pki.CA).
type Authority interface {
	// SignRequest issues a certificate for req with the given usages, valid
	// for validity, and returns it as PEM.
	SignRequest(req *x509.CertificateRequest, usage x509.KeyUsage, extUsage []x509.ExtKeyUsage, validity time.Duration) ([]byte, error)
}

// Config is what the signer needs.
type Config struct {
	// Authority signs the certificates.
	Authority Authority
	// MaxDuration is the longest validity issued; a request's
	// spec.expirationSeconds may only shorten it. Zero means
	// DefaultMaxDuration.
	MaxDuration time.Duration
}

// Controller signs approved requests for the built-in signers.
type Controller struct {
	client    kubernetes.Interface
	authority Authority
	maxTTL    time.Duration
	csrs      certificateslisters.CertificateSigningRequestLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	now       func() time.Time
}

// New returns the signer; it registers its informer with f: start f after
// New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, cfg Config) (*Controller, error) {
	if cfg.Authority == nil {
		return nil, errors.New("certificate signer: no certificate authority")
	}
	if cfg.MaxDuration < 0 {
		return nil, fmt.Errorf("certificate signer: negative maximum duration %s", cfg.MaxDuration)
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	csrs := f.Certificates().V1().CertificateSigningRequests()
	c := &Controller{
		client:    client,
		authority: cfg.Authority,
		maxTTL:    cfg.MaxDuration,
		csrs:      csrs.Lister(),
		synced:    csrs.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
		now: time.Now,
	}
	csrs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && Signs(csr.Spec.SignerName) && len(csr.Status.Certificate) == 0 {
		c.queue.Add(csr.Name)
	}
}

// Run signs until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, name, c.queue, workers, c.sync, c.synced)
}

// sync signs the request named key if it is approved and waiting, or marks it
// Failed if its signer cannot honour it.
func (c *Controller) sync(ctx context.Context, key string) error {
	cached, err := c.csrs.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	check, ok := checks[cached.Spec.SignerName]
	if !ok || len(cached.Status.Certificate) > 0 || failed(cached) {
		return nil
	}
	if approved, denied := Approval(cached); !approved || denied {
		return nil
	}
	csr := cached.DeepCopy()
	req, err := ParseRequest(csr.Spec.Request)
	if err == nil {
		err = check(req, csr.Spec.Usages)
	}
	if err != nil {
		return c.fail(ctx, csr, err)
	}
	usage, extUsage, err := x509Usages(csr.Spec.Usages)
	if err != nil {
		return c.fail(ctx, csr, err)
	}
	cert, err := c.authority.SignRequest(req, usage, extUsage, c.duration(csr.Spec.ExpirationSeconds))
	if err != nil {
		return fmt.Errorf("signing CSR %s: %w", csr.Name, err)
	}
	csr.Status.Certificate = cert
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("storing the certificate of CSR %s: %w", csr.Name, err)
	}
	slog.Info("issued certificate", "controller", name, "csr", csr.Name, "signer", csr.Spec.SignerName, "subject", req.Subject.String())
	return nil
}

// fail marks csr Failed with why: asking again would not change the answer.
func (c *Controller) fail(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, why error) error {
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:           certificatesv1.CertificateFailed,
		Status:         corev1.ConditionTrue,
		Reason:         ReasonSignerValidationFailure,
		Message:        why.Error(),
		LastUpdateTime: metav1.NewTime(c.now()),
	})
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("marking CSR %s failed: %w", csr.Name, err)
	}
	slog.Info("refused certificate", "controller", name, "csr", csr.Name, "signer", csr.Spec.SignerName, "reason", why)
	return nil
}

// duration is the validity of a certificate whose request asks for
// expirationSeconds: what it asks, within [minDuration, maxTTL].
func (c *Controller) duration(expirationSeconds *int32) time.Duration {
	if expirationSeconds == nil {
		return c.maxTTL
	}
	return min(max(time.Duration(*expirationSeconds)*time.Second, minDuration), c.maxTTL)
}
