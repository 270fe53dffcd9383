// Package apiserver assembles berth's Kubernetes-compatible API server: the generic
// server of k8s.io/apiserver serving the built-in resources of package registry and,
// in the same server, CustomResourceDefinitions and the custom resources they define
// (k8s.io/apiextensions-apiserver), over etcd, and the resource metrics API
// (metrics.k8s.io) from the usage it is given, behind TLS, authentication (client
// certificates and the service account tokens it issues), admission and OpenAPI.
// It owns the server's lifecycle and the objects every cluster starts with. It
// must not run controllers: they are clients of the API like any other.
package apiserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiextensionsoptions "k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/orchestrator/apis"
	"berth.dev/berth/orchestrator/pki"
	"berth.dev/berth/orchestrator/registry"
	"berth.dev/berth/orchestrator/satoken"
)

// Config is what the API server needs.
type Config struct {
	// BindAddress and Port are where the API is served (TLS).
	BindAddress net.IP
	Port        int
	// AdvertiseAddress is the address other components and the kubernetes Service's
	// endpoints use to reach the server (see advertiseAddress for the default).
	AdvertiseAddress net.IP
	// CA issues the serving certificate and verifies client certificates; its
	// directory keeps the key that signs service account tokens.
	CA *pki.CA
	// EtcdEndpoints reach the store, with EtcdTLS's client certificate when
	// its files are set.
	EtcdEndpoints []string
	EtcdTLS       EtcdTLS
	// EncryptionConfigFile, when set, is the EncryptionConfiguration the
	// resources it names are encrypted in etcd with; the server rereads it
	// when it changes. Empty stores everything in plaintext.
	EncryptionConfigFile string
	// ServiceCIDR is the range Service cluster IPs come from.
	ServiceCIDR *net.IPNet
	// NodePorts is the range of Service node ports (30000-32767 upstream).
	NodePorts utilnet.PortRange
	// CRDs are defined before the server reports ready: the resources of the
	// components composed with it (berth's release records), served like any
	// custom resource.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// Metrics, when set, is served as the resource metrics API (metrics.k8s.io),
	// which `kubectl top` and the autoscalers read; nil leaves it out, and
	// `kubectl top` then says the metrics API is not available.
	Metrics ResourceMetrics
	// AuthorizationModes are kube-apiserver's --authorization-mode values,
	// in order; empty is DefaultAuthorizationModes (Node, RBAC).
	AuthorizationModes []string
	// TokenAuthFile is a static token file (kube-apiserver's
	// --token-auth-file); empty accepts no static tokens.
	TokenAuthFile string
	// NodeConfigMaps are ConfigMaps every node may read, whatever its pods:
	// what an agent reads when it joins.
	NodeConfigMaps []types.NamespacedName
	// ClusterRoles are made to exist beside the default roles, for the
	// custom resources of components composed with the server (labelled to
	// aggregate into admin, edit and view as they should).
	ClusterRoles []rbacv1.ClusterRole
	// Kubelets, when set, replaces how the server reaches kubelets for
	// pods/log, exec, attach and portforward; nil finds each at its Node's
	// InternalIP and kubelet port, over HTTPS with a client certificate the
	// CA issues (KubeletClientName) and trusting serving certificates it
	// signed.
	Kubelets registry.Kubelets
}

// EtcdTLS is how the server proves itself to etcd and trusts it, as
// kube-apiserver's --etcd-cafile, --etcd-certfile and --etcd-keyfile.
type EtcdTLS struct {
	CAFile, CertFile, KeyFile string
}

// clientConfig is the TLS configuration of etcd clients; nil without files.
func (t EtcdTLS) clientConfig() (*tls.Config, error) {
	if t == (EtcdTLS{}) {
		return nil, nil
	}
	info := transport.TLSInfo{TrustedCAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}
	c, err := info.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the etcd client certificate: %w", err)
	}
	return c, nil
}

// DefaultNodePorts is upstream's range of Service node ports, 30000-32767.
var DefaultNodePorts = utilnet.PortRange{Base: 30000, Size: 2768}

// Server is a configured API server, ready to run.
type Server struct {
	generic *genericapiserver.GenericAPIServer
	url     string
	// Loopback reaches the server from inside the process with full rights,
	// through memory: it works in this process only.
	Loopback *rest.Config
	// SecureLoopback reaches the server with the same rights over its TLS
	// port, from any process on this machine (tests run kubectl with it).
	SecureLoopback *rest.Config
	loopback       *memListener
}

// New builds the API server; Run serves it.
func New(ctx context.Context, cfg Config) (*Server, error) {
	scheme, err := apis.NewScheme()
	if err != nil {
		return nil, fmt.Errorf("building the API scheme: %w", err)
	}
	codecs := serializer.NewCodecFactory(scheme)

	generic := genericapiserver.NewRecommendedConfig(codecs)
	generic.LongRunningFunc = longRunning
	if err := applyServing(generic, cfg); err != nil {
		return nil, err
	}
	etcdOpts, err := applyStorage(generic, scheme, codecs, cfg.EtcdEndpoints, cfg.EtcdTLS, cfg.EncryptionConfigFile)
	if err != nil {
		return nil, err
	}
	tokenConfig, err := serviceAccountTokens(cfg.CA)
	if err != nil {
		return nil, err
	}
	issuer, err := satoken.NewIssuer(tokenConfig)
	if err != nil {
		return nil, err
	}

	etcdTLS, err := cfg.EtcdTLS.clientConfig()
	if err != nil {
		return nil, err
	}
	etcdClient, err := clientv3.New(clientv3.Config{Endpoints: cfg.EtcdEndpoints, TLS: etcdTLS, DialTimeout: 20 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd at %v: %w", cfg.EtcdEndpoints, err)
	}
	built := false
	defer func() {
		if !built {
			etcdClient.Close()
		}
	}()

	// The storage comes before authentication, which checks service account
	// tokens against the objects they name.
	registryConfig := registry.Config{
		Scheme:      scheme,
		RESTOptions: generic.RESTOptionsGetter,
		Etcd:        etcdClient,
		ServiceCIDR: cfg.ServiceCIDR,
		NodePorts:   cfg.NodePorts,
		Kubelets:    cfg.Kubelets,
		Tokens:      issuer,
	}
	if cfg.Kubelets == nil {
		if registryConfig.KubeletTransport, err = kubeletTransport(cfg.CA); err != nil {
			return nil, err
		}
	}
	storage, err := registry.New(registryConfig)
	if err != nil {
		return nil, err
	}
	objects, err := storage.TokenObjects()
	if err != nil {
		return nil, err
	}
	serviceAccounts, err := satoken.NewAuthenticator(tokenConfig, objects)
	if err != nil {
		return nil, err
	}
	metricsScheme, err := newMetricsScheme()
	if err != nil {
		return nil, err
	}
	if err := applyOpenAPI(generic, metricsScheme); err != nil {
		return nil, err
	}
	generic.EffectiveVersion = newVersion()

	// Components in this process (informers, controllers, the scheduler, the
	// kubelets) speak protobuf, as kube-apiserver's loopback and the upstream
	// components do: JSON costs several times the CPU per object. Custom
	// resources have no protobuf form, hence JSON as the second choice.
	generic.LoopbackClientConfig.ContentType = runtime.ContentTypeProtobuf
	generic.LoopbackClientConfig.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	// Nor do they ask for gzip: the server would compress large lists and
	// every event of watches begun as streaming lists, spending CPU on both
	// sides of a connection that never leaves the machine.
	generic.LoopbackClientConfig.DisableCompression = true
	// And they reach it through memory, not a TLS socket: one HTTP/2
	// connection over TLS carried every request and watch of every component
	// here, encrypted and framed twice over. In-memory HTTP/1.1 connections
	// cost neither, and no watch queues behind another's (scheduling at
	// 5,000 hollow nodes ran ~15% faster).
	secureLoopback := rest.CopyConfig(generic.LoopbackClientConfig)
	loopback := newMemListener()
	generic.LoopbackClientConfig.Host = "http://loopback"
	generic.LoopbackClientConfig.TLSClientConfig = rest.TLSClientConfig{}
	generic.LoopbackClientConfig.Dial = loopback.DialContext
	client, err := kubernetes.NewForConfig(generic.LoopbackClientConfig)
	if err != nil {
		return nil, fmt.Errorf("creating loopback client: %w", err)
	}
	generic.SharedInformerFactory = informers.NewSharedInformerFactory(client, 10*time.Minute)

	joinTokens, systemSecrets := bootstrapTokens(client)
	authn := authentication{
		ca:              cfg.CA,
		serviceAccounts: serviceAccounts,
		bootstrap:       joinTokens,
		tokenFile:       cfg.TokenAuthFile,
		audiences:       issuer.Audiences(),
	}
	tokens, err := authn.tokens()
	if err != nil {
		return nil, err
	}
	if err := authn.apply(generic, tokens); err != nil {
		return nil, err
	}
	authz, err := newAuthorization(cfg.AuthorizationModes, generic.SharedInformerFactory, cfg.NodeConfigMaps)
	if err != nil {
		return nil, err
	}
	generic.Authorization.Authorizer = authz.authorizer
	storage.Add(registry.Reviews(authz.authorizer, authz.rules, tokens, issuer.Audiences()))
	if err := applyAdmission(generic, client, authz); err != nil {
		return nil, err
	}

	// One generic server serves everything: apiextensions builds it, the built-in
	// groups are installed into it, so discovery and OpenAPI are whole without an
	// aggregator in front.
	crdConfig := &apiextensionsapiserver.Config{
		GenericConfig: generic,
		ExtraConfig: apiextensionsapiserver.ExtraConfig{
			CRDRESTOptionsGetter: apiextensionsoptions.NewCRDRESTOptionsGetter(*etcdOpts, generic.ResourceTransformers, generic.StorageObjectCountTracker),
			MasterCount:          1,
		},
	}
	completed := crdConfig.Complete()
	completed.GenericConfig.EnableDiscovery = true
	crdServer, err := completed.New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("creating the API server: %w", err)
	}
	server := crdServer.GenericAPIServer
	server.AddPreShutdownHookOrDie("close-etcd-allocations-client", etcdClient.Close)
	built = true

	if err := installGroups(server, scheme, codecs, storage); err != nil {
		return nil, err
	}
	if cfg.Metrics != nil {
		if err := installMetrics(server, metricsScheme, generic.SharedInformerFactory, cfg.Metrics); err != nil {
			return nil, err
		}
	}
	crdClient, err := apiextensionsclient.NewForConfig(generic.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	b := &bootstrap{client: client, crds: crdClient, definitions: cfg.CRDs,
		serviceCIDR: cfg.ServiceCIDR, advertise: generic.PublicAddress, port: cfg.Port}
	server.AddPostStartHookOrDie("berth-bootstrap", b.run)
	server.AddPostStartHookOrDie("berth-start-system-secrets-informer", func(hook genericapiserver.PostStartHookContext) error {
		systemSecrets.Start(hook.Context.Done())
		return nil
	})
	policy := &policyBootstrap{client: client, extra: cfg.ClusterRoles, synced: authz.synced}
	server.AddPostStartHookOrDie("rbac/bootstrap-roles", policy.run)
	crdGroups := newCRDGroupDiscovery(crdServer.Informers.Apiextensions().V1().CustomResourceDefinitions(), server.DiscoveryGroupManager)
	server.AddPostStartHookOrDie("berth-crd-group-discovery", crdGroups.run)
	return &Server{generic: server, Loopback: generic.LoopbackClientConfig, SecureLoopback: secureLoopback, loopback: loopback,
		url: (&url.URL{Scheme: "https", Host: net.JoinHostPort(generic.PublicAddress.String(), strconv.Itoa(cfg.Port))}).String()}, nil
}

// serviceAccountTokens configures the service account tokens the server issues
// and accepts: upstream's issuer and audience, signed with the key kept with
// the CA (created there on first start).
func serviceAccountTokens(ca *pki.CA) (satoken.Config, error) {
	key, err := ca.ServiceAccountKey()
	if err != nil {
		return satoken.Config{}, fmt.Errorf("loading the service account signing key: %w", err)
	}
	return satoken.Config{Issuer: satoken.DefaultIssuer, Key: key}, nil
}

// Handler is the server's whole handler chain (authentication,
// authorization, admission and every filter), which Run also serves to the
// process's own components: benchmarks compare it against the TLS listener.
func (s *Server) Handler() http.Handler { return s.generic.Handler }

// URL is where other machines reach the server: its advertised address.
func (s *Server) URL() string { return s.url }

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	prepared := s.generic.PrepareRun()
	// Loopback clients authenticate with the loopback token, as over TLS.
	inProcess := &http.Server{Handler: s.generic.Handler}
	go inProcess.Serve(s.loopback) // returns when closed
	defer inProcess.Close()
	return prepared.RunWithContext(ctx)
}

// WaitReady returns once the running server answers /readyz, which it does when
// every post-start hook (the cluster's own objects among them) has finished.
func (s *Server) WaitReady(ctx context.Context) error {
	client, err := kubernetes.NewForConfig(s.Loopback)
	if err != nil {
		return err
	}
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
		return err == nil, nil
	})
}

func installGroups(server *genericapiserver.GenericAPIServer, scheme *runtime.Scheme, codecs serializer.CodecFactory, storage registry.Storage) error {
	params := runtime.NewParameterCodec(scheme)
	groups := map[string]*genericapiserver.APIGroupInfo{}
	var order []string
	for _, gv := range apis.GroupVersions {
		resources, ok := storage[gv]
		if !ok {
			continue
		}
		info, ok := groups[gv.Group]
		if !ok {
			i := genericapiserver.NewDefaultAPIGroupInfo(gv.Group, scheme, params, codecs)
			i.PrioritizedVersions = nil
			info = &i
			groups[gv.Group] = info
			order = append(order, gv.Group)
		}
		info.PrioritizedVersions = append(info.PrioritizedVersions, gv)
		info.VersionedResourcesStorageMap[gv.Version] = resources
	}
	var named []*genericapiserver.APIGroupInfo
	for _, g := range order {
		if g == "" {
			if err := server.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, groups[g]); err != nil {
				return fmt.Errorf("installing the core API: %w", err)
			}
			continue
		}
		named = append(named, groups[g])
	}
	if err := server.InstallAPIGroups(named...); err != nil {
		return fmt.Errorf("installing API groups: %w", err)
	}
	return nil
}
