// Package approver approves the certificate requests of nodes, as
// kube-controller-manager's csrapproving controller does: a node's client
// certificate (signer kubernetes.io/kube-apiserver-client-kubelet) once a
// SubjectAccessReview says the requester may create
// certificatesigningrequests/nodeclient, or /selfnodeclient when it renews its
// own. berth also approves a kubelet's serving certificate (signer
// kubernetes.io/kubelet-serving) when the node asks for itself and names only
// its own addresses.
//
// It only approves: it never denies (people do) and never signs (package
// signer does). It writes through the approval subresource.
package approver

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	certificateslisters "k8s.io/client-go/listers/certificates/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	nodeauth "berth.dev/berth/orchestrator/auth/node"
	"berth.dev/berth/orchestrator/controller/certificates/signer"
	"berth.dev/berth/orchestrator/controller/loop"
)

const (
	// name is how the controller logs and names its queue, as upstream.
	name = "csrapproving"
	// ReasonAutoApproved is the reason of the approvals this controller gives.
	ReasonAutoApproved = "AutoApproved"
)

// Controller approves nodes' certificate requests.
type Controller struct {
	client kubernetes.Interface
	csrs   certificateslisters.CertificateSigningRequestLister
	nodes  corelisters.NodeLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New returns the approver; it registers its informers with f: start f after
// New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory) *Controller {
	csrs, nodes := f.Certificates().V1().CertificateSigningRequests(), f.Core().V1().Nodes()
	c := &Controller{
		client: client,
		csrs:   csrs.Lister(),
		nodes:  nodes.Lister(),
		synced: []cache.InformerSynced{csrs.Informer().HasSynced, nodes.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name}),
	}
	csrs.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
	})
	// A serving request waits for its Node to exist and show the addresses
	// it names.
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.nodeChanged,
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.Node), obj.(*corev1.Node)
			if !equality.Semantic.DeepEqual(o.Status.Addresses, n.Status.Addresses) {
				c.nodeChanged(obj)
			}
		},
	})
	return c
}

func (c *Controller) enqueue(obj any) {
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok && pending(csr) {
		c.queue.Add(csr.Name)
	}
}

// nodeChanged queues the pending serving requests of the node.
func (c *Controller) nodeChanged(obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	csrs, err := c.csrs.List(labels.Everything())
	if err != nil {
		return
	}
	for _, csr := range csrs {
		if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName && csr.Spec.Username == nodeauth.UserPrefix+node.Name && pending(csr) {
			c.queue.Add(csr.Name)
		}
	}
}

// pending reports whether nobody has decided on csr yet.
func pending(csr *certificatesv1.CertificateSigningRequest) bool {
	if len(csr.Status.Certificate) > 0 {
		return false
	}
	approved, denied := signer.Approval(csr)
	return !approved && !denied
}

// Run approves until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	loop.Run(ctx, name, c.queue, workers, c.sync, c.synced...)
}

// sync approves the request named key if it is a node's that may be approved.
func (c *Controller) sync(ctx context.Context, key string) error {
	csr, err := c.csrs.Get(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !pending(csr) {
		return nil
	}
	switch csr.Spec.SignerName {
	case certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.KubeletServingSignerName:
	default:
		return nil
	}
	req, err := signer.ParseRequest(csr.Spec.Request)
	if err != nil {
		// The API server validated the request: this cannot be, and asking
		// again will not help.
		slog.Warn("unparseable certificate request", "controller", name, "csr", csr.Name, "err", err)
		return nil
	}
	if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName {
		return c.syncServing(ctx, csr, req)
	}
	return c.syncClient(ctx, csr, req)
}

// Upstream's recognizers of node client requests: renewing one's own
// certificate needs selfnodeclient, asking for a node's (when bootstrapping,
// as system:bootstrap:TOKEN) needs nodeclient.
var clientRecognizers = []struct {
	subresource string
	self        bool
	message     string
}{
	{subresource: "selfnodeclient", self: true, message: "Auto approving self kubelet client certificate after SubjectAccessReview."},
	{subresource: "nodeclient", message: "Auto approving kubelet client certificate after SubjectAccessReview."},
}

func (c *Controller) syncClient(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) error {
	if signer.CheckKubeletClient(req, csr.Spec.Usages) != nil {
		return nil // not a node's: left to people
	}
	var tried []string
	for _, r := range clientRecognizers {
		if r.self && csr.Spec.Username != req.Subject.CommonName {
			continue
		}
		tried = append(tried, r.subresource)
		allowed, err := c.authorize(ctx, csr, r.subresource)
		if err != nil {
			return err
		}
		if allowed {
			return c.approve(ctx, csr, r.message)
		}
	}
	// Rights may be granted later: try again, backing off.
	return fmt.Errorf("recognized csr %q as %v but subject access review was not approved", csr.Name, tried)
}

// authorize asks whether the requester may create
// certificatesigningrequests/subresource.
func (c *Controller) authorize(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, subresource string) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(csr.Spec.Extra))
	for k, v := range csr.Spec.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   csr.Spec.Username,
			UID:    csr.Spec.UID,
			Groups: csr.Spec.Groups,
			Extra:  extra,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group:       certificatesv1.GroupName,
				Resource:    "certificatesigningrequests",
				Subresource: subresource,
				Verb:        "create",
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("reviewing whether %s may create certificatesigningrequests/%s: %w", csr.Spec.Username, subresource, err)
	}
	return review.Status.Allowed, nil
}

// syncServing approves a kubelet's serving certificate request when the node
// asks for itself and names only its own addresses. Upstream leaves these to
// an approver outside the cluster; berth joins a node in one command and its
// kubelet needs a serving certificate the API server trusts (for logs, exec
// and port forwarding) without anyone approving it by hand. The check is
// what makes that safe: a node can only get a certificate for the names and
// addresses its Node already shows.
func (c *Controller) syncServing(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) error {
	why, err := c.servingRefusal(csr, req)
	if err != nil {
		return err
	}
	if why != "" {
		// A change of the Node's addresses queues the request again.
		slog.Debug("not approving serving certificate", "controller", name, "csr", csr.Name, "reason", why)
		return nil
	}
	return c.approve(ctx, csr, "Auto approving kubelet serving certificate after checking the node's addresses.")
}

// servingRefusal says why csr may not be approved automatically, or "" if it
// may.
func (c *Controller) servingRefusal(csr *certificatesv1.CertificateSigningRequest, req *x509.CertificateRequest) (string, error) {
	if err := signer.CheckKubeletServing(req, csr.Spec.Usages); err != nil {
		return err.Error(), nil
	}
	cn := req.Subject.CommonName
	nodeName := strings.TrimPrefix(cn, nodeauth.UserPrefix)
	switch {
	case nodeName == "":
		return "no node name in the subject", nil
	case csr.Spec.Username != cn:
		return fmt.Sprintf("requested by %q, not by node %q", csr.Spec.Username, nodeName), nil
	case !slices.Contains(csr.Spec.Groups, user.NodesGroup):
		return fmt.Sprintf("requester is not in group %s", user.NodesGroup), nil
	}
	node, err := c.nodes.Get(nodeName)
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("node %q does not exist yet", nodeName), nil
	}
	if err != nil {
		return "", err
	}
	for _, ip := range req.IPAddresses {
		if !slices.ContainsFunc(node.Status.Addresses, func(a corev1.NodeAddress) bool {
			return ip.Equal(net.ParseIP(a.Address))
		}) {
			return fmt.Sprintf("IP address %s is not one of node %q's addresses", ip, nodeName), nil
		}
	}
	for _, dns := range req.DNSNames {
		if dns != nodeName && !slices.Contains(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: dns}) {
			return fmt.Sprintf("DNS name %q is neither node %q's name nor its hostname", dns, nodeName), nil
		}
	}
	return "", nil
}

// approve adds the Approved condition through the approval subresource.
func (c *Controller) approve(ctx context.Context, cached *certificatesv1.CertificateSigningRequest, message string) error {
	csr := cached.DeepCopy()
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:    certificatesv1.CertificateApproved,
		Status:  corev1.ConditionTrue,
		Reason:  ReasonAutoApproved,
		Message: message,
	})
	if _, err := c.client.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("approving CSR %s: %w", csr.Name, err)
	}
	slog.Info("approved certificate request", "controller", name, "csr", csr.Name, "signer", csr.Spec.SignerName, "requester", csr.Spec.Username)
	return nil
}
