package registry

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	netutils "k8s.io/utils/net"

	"berth.dev/berth/orchestrator/satoken"
)

// Config is what the storage of the built-in resources needs.
type Config struct {
	// Scheme knows every served kind (see package apis).
	Scheme *runtime.Scheme
	// RESTOptions reaches etcd for each resource.
	RESTOptions generic.RESTOptionsGetter
	// Etcd keeps the API server's allocations.
	Etcd clientv3.KV
	// ServiceCIDR is the range of Service cluster IPs.
	ServiceCIDR *net.IPNet
	// NodePorts is the range of Service node ports.
	NodePorts utilnet.PortRange
	// Kubelets reaches the kubelets that answer pods/log, exec, attach and
	// portforward; nil finds them where their Nodes say, over
	// KubeletTransport.
	Kubelets Kubelets
	// KubeletTransport reaches kubelets (HTTPS with the API server's client
	// certificate) when Kubelets is nil; nil leaves those subresources
	// answering 503.
	KubeletTransport http.RoundTripper
	// Tokens issues service account tokens (serviceaccounts/token); nil
	// leaves that subresource out.
	Tokens *satoken.Issuer
}

// Storage is the REST storage of every built-in resource and subresource, by group
// version and then by resource path ("pods", "pods/status").
type Storage map[schema.GroupVersion]map[string]rest.Storage

// Add adds the resources of other.
func (s Storage) Add(other Storage) {
	for gv, resources := range other {
		if s[gv] == nil {
			s[gv] = map[string]rest.Storage{}
		}
		maps.Copy(s[gv], resources)
	}
}

// New builds the storage of every built-in resource.
func New(cfg Config) (Storage, error) {
	if cfg.ServiceCIDR == nil {
		return nil, fmt.Errorf("no service CIDR configured")
	}
	// The kubernetes Service takes the first address; others need more.
	if ones, bits := cfg.ServiceCIDR.Mask.Size(); bits-ones < 2 {
		return nil, fmt.Errorf("service CIDR %s is too small: it needs at least 4 addresses (a /%d at most)", cfg.ServiceCIDR, bits-2)
	}
	out := Storage{}
	stores := map[schema.GroupResource]*genericregistry.Store{}
	for _, res := range builtins() {
		store, err := newStore(cfg.Scheme, cfg.RESTOptions, res)
		if err != nil {
			return nil, err
		}
		stores[res.groupResource()] = store
		gv := res.gvr.GroupVersion()
		if out[gv] == nil {
			out[gv] = map[string]rest.Storage{}
		}
		name := res.gvr.Resource
		out[gv][name] = &REST{Store: store, shortNames: res.shortNames, categories: res.categories}
		if res.status {
			out[gv][name+"/status"] = &StatusREST{store: statusStore(store)}
		}
		if access, ok := scalable[name]; ok {
			out[gv][name+"/scale"] = &ScaleREST{store: store, access: access}
		}
	}

	addCSRStorage(out, stores)

	core := out[corev1.SchemeGroupVersion]
	pods := stores[corev1.Resource("pods")]
	core["pods/binding"] = &BindingREST{pods: pods}
	core["pods/eviction"] = &EvictionREST{
		pods:      pods,
		pdbs:      stores[policyv1.Resource("poddisruptionbudgets")],
		pdbStatus: out[policyv1.SchemeGroupVersion]["poddisruptionbudgets/status"].(*StatusREST),
	}

	if err := addPodOptionConversions(cfg.Scheme); err != nil {
		return nil, err
	}
	kubelets := cfg.Kubelets
	if kubelets == nil {
		kubelets = &nodeKubelets{nodes: stores[corev1.Resource("nodes")], transport: cfg.KubeletTransport}
	}
	onNode := podKubelet{pods: pods, kubelets: kubelets}
	core["pods/log"] = &LogREST{onNode}
	core["pods/exec"] = &ExecREST{onNode}
	core["pods/attach"] = &AttachREST{onNode}
	core["pods/portforward"] = &PortForwardREST{onNode}

	if cfg.Tokens != nil {
		core["serviceaccounts/token"] = &TokenREST{issuer: cfg.Tokens, objects: storeObjects{
			accounts: stores[corev1.Resource("serviceaccounts")],
			pods:     pods,
			secrets:  stores[corev1.Resource("secrets")],
			nodes:    stores[corev1.Resource("nodes")],
		}}
	}

	namespaces := stores[corev1.Resource("namespaces")]
	namespaces.ShouldDeleteDuringUpdate = namespaceFinalized
	core["namespaces"] = &NamespaceREST{REST: core["namespaces"].(*REST)}
	core["namespaces/finalize"] = &FinalizeREST{store: finalizeStore(namespaces)}

	allocations := &serviceAllocations{
		ips:   newIPAllocator(cfg.Etcd, cfg.ServiceCIDR),
		ports: newPortAllocator(cfg.Etcd, cfg.NodePorts.Base, cfg.NodePorts.Size),
		ipv6:  netutils.IsIPv6CIDR(cfg.ServiceCIDR),
	}
	services := stores[corev1.Resource("services")]
	services.BeginCreate = allocations.beginCreate
	services.BeginUpdate = allocations.beginUpdate
	services.AfterDelete = allocations.afterDelete
	return out, nil
}

// namespaceFinalized deletes a terminating namespace in the update that removes its
// last finalizer.
func namespaceFinalized(ctx context.Context, key string, obj, existing runtime.Object) bool {
	ns := obj.(*corev1.Namespace)
	return len(ns.Spec.Finalizers) == 0 && genericregistry.ShouldDeleteDuringUpdate(ctx, key, obj, existing)
}
