// Package admission assembles the admission chain berth's API server runs, in
// upstream's order: NamespaceLifecycle, LimitRanger, ServiceAccount, PodSecurity,
// Priority, DefaultTolerationSeconds, DefaultStorageClass, DefaultIngressClass
// and, last, ResourceQuota. NamespaceLifecycle and ResourceQuota are
// k8s.io/apiserver's own plugins; the others are berth's, one subpackage each
// (PodSecurity wrapping upstream's k8s.io/pod-security-admission library). Each
// plugin gets its dependencies here, through its constructor or its Set methods,
// rather than from a registry of plugins. The API server runs every plugin's
// mutation before any plugin's validation; within each phase, this order.
//
// The chain reads through informers and a client of the API it guards; it must not
// start the informers (the API server starts them once it serves) or hold state of
// its own beyond what the plugins cache.
package admission

import (
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"berth.dev/berth/orchestrator/admission/certificates"
	"berth.dev/berth/orchestrator/admission/ingressclass"
	"berth.dev/berth/orchestrator/admission/limitranger"
	"berth.dev/berth/orchestrator/admission/noderestriction"
	"berth.dev/berth/orchestrator/admission/podsecurity"
	"berth.dev/berth/orchestrator/admission/priority"
	"berth.dev/berth/orchestrator/admission/serviceaccount"
	"berth.dev/berth/orchestrator/admission/storageclass"
	"berth.dev/berth/orchestrator/admission/tolerations"
	"berth.dev/berth/orchestrator/auth/rbac"
)

// quotaWorkers is how many namespaces the ResourceQuota plugin evaluates at once,
// as upstream's default.
const quotaWorkers = 5

// Config is what the admission chain needs.
type Config struct {
	// Client reaches the API the chain guards (the loopback client), for live
	// lookups and for quota status updates.
	Client kubernetes.Interface
	// Informers is the factory the plugins read from. New registers the informers
	// it needs; start the factory after New.
	Informers informers.SharedInformerFactory
	// Quota says how ResourceQuota measures objects (quota.NewConfiguration).
	Quota quotav1.Configuration
	// Stop ends the ResourceQuota plugin's workers: close it once the server has
	// drained its requests.
	Stop <-chan struct{}
	// Authorizer is the server's: the certificate plugins ask it whether a
	// user may approve or sign for a signer, the escalation check whether a
	// user may escalate or bind.
	Authorizer authorizer.Authorizer
	// RBAC, when the server authorizes by RBAC, is what the escalation check
	// reads a user's rules from; nil leaves the check out.
	RBAC rbac.RuleSource
}

// New returns the admission chain.
func New(cfg Config) (admission.Interface, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("admission: no client")
	case cfg.Informers == nil:
		return nil, errors.New("admission: no informer factory")
	case cfg.Quota == nil:
		return nil, errors.New("admission: no quota configuration")
	case cfg.Stop == nil:
		return nil, errors.New("admission: no stop channel")
	case cfg.Authorizer == nil:
		return nil, errors.New("admission: no authorizer")
	}

	namespaces, err := lifecycle.NewLifecycle(sets.New(metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic))
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", lifecycle.PluginName, err)
	}
	namespaces.SetExternalKubeClientSet(cfg.Client)
	namespaces.SetExternalKubeInformerFactory(cfg.Informers)

	quota, err := resourcequota.NewResourceQuota(nil, quotaWorkers)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", resourcequota.PluginName, err)
	}
	// The stop channel must come before the configuration, which starts the
	// plugin's evaluator.
	quota.SetDrainedNotification(cfg.Stop)
	quota.SetExternalKubeClientSet(cfg.Client)
	quota.SetExternalKubeInformerFactory(cfg.Informers)
	quota.SetQuotaConfiguration(cfg.Quota)

	// Upstream's defaults: every namespace privileged unless labelled, no
	// exemptions. berth's own components run in the server and agent processes,
	// not as pods, so there is nothing of berth's to exempt.
	podSecurity, err := podsecurity.New(podsecurity.Config{Client: cfg.Client, Informers: cfg.Informers})
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", podsecurity.PluginName, err)
	}

	type plugin struct {
		name   string
		plugin admission.Interface
	}
	plugins := []plugin{
		{lifecycle.PluginName, namespaces},
		{limitranger.PluginName, limitranger.New(cfg.Client, cfg.Informers)},
		{serviceaccount.PluginName, serviceaccount.New(cfg.Client, cfg.Informers)},
		{noderestriction.PluginName, noderestriction.New(cfg.Informers)},
		{podsecurity.PluginName, podSecurity},
		{priority.PluginName, priority.New(cfg.Informers)},
		{tolerations.PluginName, tolerations.New()},
		{storageclass.PluginName, storageclass.New(cfg.Informers)},
		{certificates.ApprovalPluginName, certificates.NewApproval(cfg.Authorizer)},
		{certificates.SigningPluginName, certificates.NewSigning(cfg.Authorizer)},
		{certificates.SubjectRestrictionPluginName, certificates.NewSubjectRestriction()},
		{ingressclass.PluginName, ingressclass.New(cfg.Informers)},
	}
	if cfg.RBAC != nil {
		plugins = append(plugins, plugin{rbac.PluginName, rbac.NewEscalationCheck(cfg.Authorizer, cfg.RBAC)})
	}
	plugins = append(plugins, plugin{resourcequota.PluginName, quota})
	chain := make([]admission.Interface, 0, len(plugins))
	for _, p := range plugins {
		if v, ok := p.plugin.(admission.InitializationValidator); ok {
			if err := v.ValidateInitialization(); err != nil {
				return nil, fmt.Errorf("initializing admission plugin %s: %w", p.name, err)
			}
		}
		chain = append(chain, p.plugin)
	}
	return admission.NewChainHandler(chain...), nil
}
