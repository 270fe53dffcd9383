// Package admission assembles the admission chain berth's API server runs, in
// upstream's order: NamespaceLifecycle, LimitRanger, ServiceAccount, Priority,
// DefaultTolerationSeconds, DefaultStorageClass, DefaultIngressClass and, last,
// ResourceQuota. NamespaceLifecycle and ResourceQuota are k8s.io/apiserver's own
// plugins; the others are berth's, one subpackage each. Each plugin gets its
// dependencies here, through its constructor or its Set methods, rather than
// from a registry of plugins.
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
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"berth.dev/berth/orchestrator/admission/ingressclass"
	"berth.dev/berth/orchestrator/admission/limitranger"
	"berth.dev/berth/orchestrator/admission/priority"
	"berth.dev/berth/orchestrator/admission/serviceaccount"
	"berth.dev/berth/orchestrator/admission/storageclass"
	"berth.dev/berth/orchestrator/admission/tolerations"
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

	plugins := []struct {
		name   string
		plugin admission.Interface
	}{
		{lifecycle.PluginName, namespaces},
		{limitranger.PluginName, limitranger.New(cfg.Client, cfg.Informers)},
		{serviceaccount.PluginName, serviceaccount.New(cfg.Client, cfg.Informers)},
		{priority.PluginName, priority.New(cfg.Informers)},
		{tolerations.PluginName, tolerations.New()},
		{storageclass.PluginName, storageclass.New(cfg.Informers)},
		{ingressclass.PluginName, ingressclass.New(cfg.Informers)},
		{resourcequota.PluginName, quota},
	}
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
