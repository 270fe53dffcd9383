// Package noderestriction is the NodeRestriction admission plugin: it limits
// what a node (user "system:node:NAME" in group "system:nodes") may write to
// what is its own. A node may create, update and delete only its own Node
// (status included), without setting labels it must not steer workloads
// with; update the status of, evict and delete only pods bound to it; write
// only its own Lease in kube-node-lease; request ServiceAccount tokens only
// bound to a pod bound to it; update only the status of claims; and write
// only the PersistentVolumes provisioned on it (LocalVolumeNode). Berth's
// kubelet runs no static pods, so a node creates no pods at all, not even
// mirror pods. Messages are upstream's.
//
// It judges writes only: which objects a node may read is the Node
// authorizer's business (orchestrator/auth/node), which requests a node may
// make at all the Node authorizer's rules and RBAC's. It must not change the objects it admits, nor judge
// requests by users that are not nodes.
package noderestriction

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/auth/node"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "NodeRestriction"

var (
	podResource     = corev1.Resource("pods")
	nodeResource    = corev1.Resource("nodes")
	claimResource   = corev1.Resource("persistentvolumeclaims")
	accountResource = corev1.Resource("serviceaccounts")
	leaseResource   = coordinationv1.Resource("leases")
	volumeResource  = corev1.Resource("persistentvolumes")
)

// Plugin is the NodeRestriction admission plugin.
type Plugin struct {
	*admission.Handler
	pods corelisters.PodLister
}

var _ admission.ValidationInterface = (*Plugin)(nil)

// New returns the plugin, reading pods from f's informer for the requests
// that name a pod other than the one they carry (evictions, token requests).
func New(f informers.SharedInformerFactory) *Plugin {
	informer := f.Core().V1().Pods()
	p := &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update, admission.Delete), pods: informer.Lister()}
	p.SetReadyFunc(informer.Informer().HasSynced)
	return p
}

// Validate refuses a node's writes to what is not its own.
func (p *Plugin) Validate(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	nodeName, isNode := node.Identity(a.GetUserInfo())
	if !isNode {
		return nil
	}
	if nodeName == "" {
		return admission.NewForbidden(a, fmt.Errorf("could not determine node from user %q", a.GetUserInfo().GetName()))
	}
	switch a.GetResource().GroupResource() {
	case podResource:
		switch a.GetSubresource() {
		case "":
			return p.admitPod(nodeName, a)
		case "status":
			return admitPodStatus(nodeName, a)
		case "eviction":
			return p.admitEviction(nodeName, a)
		default:
			return admission.NewForbidden(a, fmt.Errorf("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", a.GetSubresource()))
		}
	case nodeResource:
		return admitNode(nodeName, a)
	case claimResource:
		if a.GetSubresource() != "status" {
			return admission.NewForbidden(a, fmt.Errorf("may only update PVC status"))
		}
		return admitClaimStatus(nodeName, a)
	case accountResource:
		return p.admitServiceAccount(nodeName, a)
	case leaseResource:
		return admitLease(nodeName, a)
	case volumeResource:
		return admitVolume(nodeName, a)
	}
	return nil
}

// LocalVolumeNode is the annotation naming the node a local volume was
// provisioned on (berth's local-path provisioner sets it).
const LocalVolumeNode = "berth.dev/local-path-node"

// admitVolume lets a node write only the PersistentVolumes provisioned on
// it: every node runs the local-path provisioner, and a node that could
// write any volume could delete another's, or pre-bind one of its choosing
// to another namespace's claim.
func admitVolume(nodeName string, a admission.Attributes) error {
	for _, obj := range []runtime.Object{a.GetObject(), a.GetOldObject()} {
		if obj == nil {
			continue
		}
		pv, ok := obj.(*corev1.PersistentVolume)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", obj))
		}
		if pv.Annotations[LocalVolumeNode] != nodeName {
			return admission.NewForbidden(a, fmt.Errorf("node %q can only modify persistentvolumes annotated %s=%s", nodeName, LocalVolumeNode, nodeName))
		}
	}
	return nil
}

// admitPod lets a node delete the pods bound to it, and nothing else:
// upstream's nodes create mirror pods of their static pods, berth's have
// none.
func (p *Plugin) admitPod(nodeName string, a admission.Attributes) error {
	switch a.GetOperation() {
	case admission.Create:
		return admission.NewForbidden(a, fmt.Errorf("node %q can not create pods: berth's kubelet runs no static pods, so it creates no mirror pods", nodeName))
	case admission.Delete:
		pod, err := p.existingPod(a, a.GetName())
		if err != nil {
			return err
		}
		if pod.Spec.NodeName != nodeName {
			return admission.NewForbidden(a, fmt.Errorf("node %q can only delete pods with spec.nodeName set to itself", nodeName))
		}
		return nil
	default:
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %q, node %q can only delete pods with spec.nodeName set to itself", a.GetOperation(), nodeName))
	}
}

// existingPod is the pod a request acts on: the object being deleted, which
// the API server hands admission as the old object, else the informer's.
func (p *Plugin) existingPod(a admission.Attributes, name string) (*corev1.Pod, error) {
	if pod, ok := a.GetOldObject().(*corev1.Pod); ok && pod.Name == name {
		return pod, nil
	}
	if !p.WaitForReady() {
		return nil, admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	pod, err := p.pods.Pods(a.GetNamespace()).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, err
	}
	if err != nil {
		return nil, admission.NewForbidden(a, err)
	}
	return pod, nil
}

// admitPodStatus lets a node update the status of the pods bound to it, but
// not their labels or resource claims through it.
func admitPodStatus(nodeName string, a admission.Attributes) error {
	if a.GetOperation() != admission.Update {
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %q", a.GetOperation()))
	}
	oldPod, ok := a.GetOldObject().(*corev1.Pod)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetOldObject()))
	}
	if oldPod.Spec.NodeName != nodeName {
		return admission.NewForbidden(a, fmt.Errorf("node %q can only update pod status for pods with spec.nodeName set to itself", nodeName))
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	if !labels.Equals(oldPod.Labels, pod.Labels) {
		return admission.NewForbidden(a, fmt.Errorf("node %q cannot update labels through pod status", nodeName))
	}
	if !slices.EqualFunc(oldPod.Status.ResourceClaimStatuses, pod.Status.ResourceClaimStatuses, sameClaim) {
		return admission.NewForbidden(a, fmt.Errorf("node %q cannot update resource claim statues", nodeName))
	}
	return nil
}

// sameClaim reports whether two statuses resolve one of a pod's claims to
// the same ResourceClaim.
func sameClaim(a, b corev1.PodResourceClaimStatus) bool {
	return a.Name == b.Name && ptr.Equal(a.ResourceClaimName, b.ResourceClaimName)
}

// admitEviction lets a node evict the pods bound to it.
func (p *Plugin) admitEviction(nodeName string, a admission.Attributes) error {
	if a.GetOperation() != admission.Create {
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %s", a.GetOperation()))
	}
	eviction, ok := a.GetObject().(*policyv1.Eviction)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	// The name in the URL is the pod's; the body's may be left empty.
	name := a.GetName()
	if name == "" {
		if name = eviction.Name; name == "" {
			return admission.NewForbidden(a, fmt.Errorf("could not determine pod from request data"))
		}
	}
	pod, err := p.existingPod(a, name)
	if err != nil {
		return err
	}
	if pod.Spec.NodeName != nodeName {
		return admission.NewForbidden(a, fmt.Errorf("node %s can only evict pods with spec.nodeName set to itself", nodeName))
	}
	return nil
}

// admitNode lets a node write only its own Node, and neither give itself
// labels that steer workloads nor change its taints or config source.
func admitNode(nodeName string, a admission.Attributes) error {
	name := a.GetName()
	if a.GetOperation() == admission.Create {
		// A create may name the object in its body only.
		if obj, err := meta.Accessor(a.GetObject()); err == nil && obj.GetName() != "" {
			name = obj.GetName()
		}
	}
	if name != nodeName {
		return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to modify node %q", nodeName, name))
	}
	switch a.GetOperation() {
	case admission.Create:
		n, ok := a.GetObject().(*corev1.Node)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		if n.Spec.ConfigSource != nil {
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to create pods with a non-nil configSource", nodeName))
		}
		if forbidden := forbiddenLabels(modifiedLabels(n.Labels, nil)); len(forbidden) > 0 {
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to set the following labels: %s", nodeName, strings.Join(forbidden, ", ")))
		}
	case admission.Update:
		n, ok := a.GetObject().(*corev1.Node)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		old, ok := a.GetOldObject().(*corev1.Node)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetOldObject()))
		}
		// A kubelet that does not know the field drops it: only a new
		// non-nil source is a change.
		if n.Spec.ConfigSource != nil && !apiequality.Semantic.DeepEqual(n.Spec.ConfigSource, old.Spec.ConfigSource) {
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to update configSource to a new non-nil configSource", nodeName))
		}
		if !apiequality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to modify taints", nodeName))
		}
		if forbidden := forbiddenLabels(modifiedLabels(n.Labels, old.Labels)); len(forbidden) > 0 {
			return admission.NewForbidden(a, fmt.Errorf("is not allowed to modify labels: %s", strings.Join(forbidden, ", ")))
		}
	}
	return nil
}

// admitClaimStatus lets a node update a claim's status.capacity and
// status.conditions (a volume's expansion), nothing else of it.
func admitClaimStatus(nodeName string, a admission.Attributes) error {
	if a.GetOperation() != admission.Update {
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %q", a.GetOperation()))
	}
	old, ok := a.GetOldObject().(*corev1.PersistentVolumeClaim)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetOldObject()))
	}
	claim, ok := a.GetObject().(*corev1.PersistentVolumeClaim)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	if !apiequality.Semantic.DeepEqual(comparableClaim(old), comparableClaim(claim)) {
		return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to update fields other than status.capacity and status.conditions", nodeName))
	}
	return nil
}

// comparableClaim is a copy of claim without what a node may change (the
// status of an expansion) or what changes with any write (the resource
// version, which an unconditional update leaves empty, and managed fields).
func comparableClaim(claim *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
	c := claim.DeepCopy()
	c.ResourceVersion = ""
	c.ManagedFields = nil
	c.Status.Capacity = nil
	c.Status.Conditions = nil
	c.Status.AllocatedResources = nil
	c.Status.AllocatedResourceStatuses = nil
	return c
}

// admitServiceAccount lets a node request only tokens bound to a pod bound
// to it, as the kubelet does for projected tokens.
func (p *Plugin) admitServiceAccount(nodeName string, a admission.Attributes) error {
	if a.GetOperation() != admission.Create || a.GetSubresource() != "token" {
		return nil
	}
	tr, ok := a.GetObject().(*authenticationv1.TokenRequest)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return admission.NewForbidden(a, fmt.Errorf("node requested token not bound to a pod"))
	}
	if ref.UID == "" {
		return admission.NewForbidden(a, fmt.Errorf("node requested token with a pod binding without a uid"))
	}
	pod, err := p.existingPod(a, ref.Name)
	if err != nil {
		return err
	}
	if ref.UID != pod.UID {
		return admission.NewForbidden(a, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.NodeName != nodeName {
		return admission.NewForbidden(a, fmt.Errorf("node requested token bound to a pod scheduled on a different node"))
	}
	return nil
}

// admitLease lets a node write only its own Lease in kube-node-lease.
func admitLease(nodeName string, a admission.Attributes) error {
	if a.GetNamespace() != corev1.NamespaceNodeLease {
		return admission.NewForbidden(a, fmt.Errorf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease))
	}
	name := a.GetName()
	if a.GetOperation() == admission.Create {
		// A create names the Lease in its body.
		obj, err := meta.Accessor(a.GetObject())
		if err != nil {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		name = obj.GetName()
	}
	if name != nodeName {
		return admission.NewForbidden(a, fmt.Errorf("can only access node lease with the same name as the requesting node"))
	}
	return nil
}

// modifiedLabels are the keys whose values differ between two label sets,
// added and removed ones included.
func modifiedLabels(a, b map[string]string) []string {
	var keys []string
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// kubeletLabels are the kubernetes.io labels upstream's kubelets may set on
// their own Node (k8s.io/kubelet's IsKubeletLabel).
var kubeletLabels = []string{
	corev1.LabelHostname,
	corev1.LabelTopologyZone,
	corev1.LabelTopologyRegion,
	corev1.LabelFailureDomainBetaZone,
	corev1.LabelFailureDomainBetaRegion,
	corev1.LabelInstanceType,
	corev1.LabelInstanceTypeStable,
	corev1.LabelOSStable,
	corev1.LabelArchStable,
	"beta.kubernetes.io/os",
	"beta.kubernetes.io/arch",
}

// forbiddenLabels are the keys a node may not set, change or remove: those
// under node-restriction.kubernetes.io, which exist to be set by admins
// only, and other kubernetes.io and k8s.io labels but the kubelet's own and
// those under kubelet.kubernetes.io and node.kubernetes.io. A node that could
// set them could steer workloads meant for other nodes to itself.
func forbiddenLabels(keys []string) []string {
	var forbidden []string
	for _, key := range keys {
		ns := labelNamespace(key)
		switch {
		case inNamespace(ns, corev1.LabelNamespaceNodeRestriction):
			forbidden = append(forbidden, key)
		case (inNamespace(ns, "kubernetes.io") || inNamespace(ns, "k8s.io")) && !isKubeletLabel(key, ns):
			forbidden = append(forbidden, key)
		}
	}
	return forbidden
}

func isKubeletLabel(key, ns string) bool {
	return slices.Contains(kubeletLabels, key) ||
		inNamespace(ns, corev1.LabelNamespaceSuffixKubelet) || inNamespace(ns, corev1.LabelNamespaceSuffixNode)
}

// inNamespace reports whether label prefix ns is domain or a subdomain of it.
func inNamespace(ns, domain string) bool {
	return ns == domain || strings.HasSuffix(ns, "."+domain)
}

// labelNamespace is the prefix of a label key, before the slash.
func labelNamespace(key string) string {
	if prefix, _, ok := strings.Cut(key, "/"); ok {
		return prefix
	}
	return ""
}
