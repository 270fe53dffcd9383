package node

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/auth/rbac"
)

// Index names, prefixed so that they cannot clash with another component's
// index on the same shared informers.
const (
	podsByNodeIndex           = "nodeauthorizer:node-namespace"
	ingressesByTLSSecretIndex = "nodeauthorizer:tls-secret"
)

// Config is what the Node authorizer reads.
type Config struct {
	// Informers is the API server's factory. New registers the Pod,
	// PersistentVolume and Ingress informers and their indexes; start the
	// factory after New, and wait for HasSynced before serving.
	Informers informers.SharedInformerFactory
	// NodeConfigMaps are ConfigMaps every node may read whatever its pods,
	// such as the cluster configuration agents read when they join
	// (kube-system/berth-config).
	NodeConfigMaps []types.NamespacedName
	// Rules are what every node may do beyond the objects its pods
	// reference (upstream's kubelet rules, bootstrappolicy.NodeRules), as
	// upstream's Node authorizer grants them rather than a binding.
	Rules []rbacv1.PolicyRule
}

// Authorizer is the Node authorizer.
type Authorizer struct {
	pods       cache.Indexer
	volumes    corelisters.PersistentVolumeLister
	ingresses  cache.Indexer
	configMaps map[types.NamespacedName]bool
	rules      []rbacv1.PolicyRule
	synced     []cache.InformerSynced
}

var (
	_ authorizer.Authorizer   = (*Authorizer)(nil)
	_ authorizer.RuleResolver = (*Authorizer)(nil)
)

// New returns the Node authorizer of cfg.Informers' objects. It adds its
// indexes to the informers, so it must be called before they start, once.
func New(cfg Config) (*Authorizer, error) {
	if cfg.Informers == nil {
		return nil, errors.New("node authorizer: no informer factory")
	}
	pods := cfg.Informers.Core().V1().Pods().Informer()
	volumes := cfg.Informers.Core().V1().PersistentVolumes()
	ingresses := cfg.Informers.Networking().V1().Ingresses().Informer()
	if err := pods.AddIndexers(cache.Indexers{podsByNodeIndex: indexPodByNode}); err != nil {
		return nil, fmt.Errorf("node authorizer: indexing pods by node: %w", err)
	}
	if err := ingresses.AddIndexers(cache.Indexers{ingressesByTLSSecretIndex: indexIngressByTLSSecret}); err != nil {
		return nil, fmt.Errorf("node authorizer: indexing ingresses by TLS secret: %w", err)
	}
	a := &Authorizer{
		pods:       pods.GetIndexer(),
		volumes:    volumes.Lister(),
		ingresses:  ingresses.GetIndexer(),
		configMaps: map[types.NamespacedName]bool{},
		rules:      cfg.Rules,
		synced:     []cache.InformerSynced{pods.HasSynced, volumes.Informer().HasSynced, ingresses.HasSynced},
	}
	for _, cm := range cfg.NodeConfigMaps {
		a.configMaps[cm] = true
	}
	return a, nil
}

// HasSynced reports whether the informers the authorizer reads have synced;
// until then it denies reads that later succeed.
func (a *Authorizer) HasSynced() bool {
	for _, synced := range a.synced {
		if !synced() {
			return false
		}
	}
	return true
}

// Authorize decides requests by nodes for Secrets, ConfigMaps,
// PersistentVolumeClaims, PersistentVolumes and ServiceAccount tokens, and
// has no opinion on anything else.
func (a *Authorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	node, isNode := Identity(attrs.GetUser())
	if !isNode {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if node == "" {
		// A node that cannot be told apart from others gets neither the
		// kubelet's rules nor any of its pods' objects.
		return authorizer.DecisionDeny, fmt.Sprintf("unknown node for user %q", attrs.GetUser().GetName()), nil
	}
	if decision, reason, err := a.authorizeReferenced(node, attrs); decision != authorizer.DecisionNoOpinion || err != nil {
		return decision, reason, err
	}
	if rbac.RulesAllow(attrs, a.rules) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// authorizeReferenced decides requests for the objects a node may touch
// only when its pods reference them.
func (a *Authorizer) authorizeReferenced(node string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if !attrs.IsResourceRequest() || attrs.GetAPIGroup() != corev1.GroupName {
		return authorizer.DecisionNoOpinion, "", nil
	}
	switch attrs.GetResource() {
	case "secrets":
		return a.authorizeRead(node, attrs, a.secretRelated)
	case "configmaps":
		return a.authorizeRead(node, attrs, a.configMapRelated)
	case "persistentvolumeclaims":
		return a.authorizeGet(node, attrs, func(node, ns, name string) bool { return a.podsReference(node, ns, claimRef, name) })
	case "persistentvolumes":
		return a.authorizeGet(node, attrs, func(node, _, name string) bool { return a.volumeRelated(node, name) })
	case "serviceaccounts":
		return a.authorizeCreateToken(node, attrs)
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// ConditionsAwareAuthorize is Authorize: the authorizer makes no
// conditional decisions.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions refuses, as every authorizer without conditions must.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// RulesFor says, as upstream, that a node's rules cannot be listed: they
// depend on its pods.
func (a *Authorizer) RulesFor(_ context.Context, u user.Info, _ string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	if _, isNode := Identity(u); isNode {
		return nil, nil, true, errors.New("node authorizer does not support user rule resolution")
	}
	return nil, nil, false, nil
}

// related reports whether node may read object ns/name of one kind.
type related func(node, ns, name string) bool

// authorizeRead decides get, list and watch of Secrets and ConfigMaps, whose
// lists and watches name one object with a metadata.name field selector
// when the kubelet reads them one by one (the API server's request info
// then carries the name). Writes are left to RBAC.
func (a *Authorizer) authorizeRead(node string, attrs authorizer.Attributes, rel related) (authorizer.Decision, string, error) {
	switch attrs.GetVerb() {
	case "get", "list", "watch":
	default:
		return authorizer.DecisionNoOpinion, "", nil
	}
	if attrs.GetSubresource() != "" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if attrs.GetNamespace() == "" {
		return authorizer.DecisionDeny, fmt.Sprintf("node '%s' can only read %s of one namespace", node, attrs.GetResource()), nil
	}
	if attrs.GetName() == "" {
		return authorizer.DecisionDeny, fmt.Sprintf("node '%s' can only read individual %s: get them, or list and watch them with a metadata.name field selector", node, attrs.GetResource()), nil
	}
	return decide(node, rel(node, attrs.GetNamespace(), attrs.GetName()))
}

// authorizeGet decides gets of PersistentVolumeClaims and PersistentVolumes.
// Lists, watches and writes are left to RBAC: the node's local-path
// provisioner watches all claims and volumes to find the ones handed to it.
func (a *Authorizer) authorizeGet(node string, attrs authorizer.Attributes, rel related) (authorizer.Decision, string, error) {
	if attrs.GetVerb() != "get" || attrs.GetSubresource() != "" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	return decide(node, rel(node, attrs.GetNamespace(), attrs.GetName()))
}

// authorizeCreateToken decides token requests (serviceaccounts/token), the
// kubelet's source of the tokens it projects into pods. Other requests on
// ServiceAccounts are left to RBAC.
func (a *Authorizer) authorizeCreateToken(node string, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if attrs.GetSubresource() != "token" || attrs.GetVerb() != "create" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if attrs.GetName() == "" {
		return authorizer.DecisionDeny, "can only create tokens for individual service accounts", nil
	}
	return decide(node, a.podsReference(node, attrs.GetNamespace(), serviceAccountRef, attrs.GetName()))
}

func decide(node string, ok bool) (authorizer.Decision, string, error) {
	if ok {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionDeny, fmt.Sprintf("no relationship found between node '%s' and this object", node), nil
}

func (a *Authorizer) secretRelated(node, ns, name string) bool {
	return a.podsReference(node, ns, secretRef, name) || a.ingressTLS(ns, name)
}

func (a *Authorizer) configMapRelated(node, ns, name string) bool {
	return a.configMaps[types.NamespacedName{Namespace: ns, Name: name}] || a.podsReference(node, ns, configMapRef, name)
}

// volumeRelated reports whether PersistentVolume name is bound, by its
// claimRef as upstream has it, to a claim of one of node's pods.
func (a *Authorizer) volumeRelated(node, name string) bool {
	pv, err := a.volumes.Get(name)
	if err != nil || pv.Spec.ClaimRef == nil {
		return false
	}
	ref := pv.Spec.ClaimRef
	return a.podsReference(node, ref.Namespace, claimRef, ref.Name)
}

// podsReference reports whether a pod bound to node, in namespace ns, names
// the object of kind called name.
func (a *Authorizer) podsReference(node, ns string, kind refKind, name string) bool {
	objs, err := a.pods.ByIndex(podsByNodeIndex, nodeNamespaceKey(node, ns))
	if err != nil {
		return false
	}
	for _, obj := range objs {
		if pod, ok := obj.(*corev1.Pod); ok && references(pod, kind, name) {
			return true
		}
	}
	return false
}

// ingressTLS reports whether an Ingress in ns serves TLS with Secret name.
func (a *Authorizer) ingressTLS(ns, name string) bool {
	objs, err := a.ingresses.ByIndex(ingressesByTLSSecretIndex, ns+"/"+name)
	return err == nil && len(objs) > 0
}

// nodeNamespaceKey is the index key of the pods of one namespace bound to
// one node; neither name can hold a slash.
func nodeNamespaceKey(node, ns string) string { return node + "/" + ns }

func indexPodByNode(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return nil, nil
	}
	return []string{nodeNamespaceKey(pod.Spec.NodeName, pod.Namespace)}, nil
}

func indexIngressByTLSSecret(obj any) ([]string, error) {
	ing, ok := obj.(*networkingv1.Ingress)
	if !ok {
		return nil, nil
	}
	var keys []string
	for _, tls := range ing.Spec.TLS {
		if tls.SecretName != "" {
			keys = append(keys, ing.Namespace+"/"+tls.SecretName)
		}
	}
	return keys, nil
}
