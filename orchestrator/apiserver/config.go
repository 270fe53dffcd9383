package apiserver

import (
	"fmt"
	"net"
	"os"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/version"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/compatibility"

	berthadmission "berth.dev/berth/orchestrator/admission"
	"berth.dev/berth/orchestrator/apis"
	"berth.dev/berth/orchestrator/apiserver/openapi"
	"berth.dev/berth/orchestrator/pki"
	"berth.dev/berth/orchestrator/quota"
	berthversion "berth.dev/berth/orchestrator/version"
)

func applyServing(c *genericapiserver.RecommendedConfig, cfg Config) error {
	advertise := advertiseAddress(cfg)
	c.PublicAddress = advertise

	hostname, _ := os.Hostname()
	ips := []net.IP{net.IPv4(127, 0, 0, 1), advertise}
	if first, err := firstServiceIP(cfg.ServiceCIDR); err == nil {
		ips = append(ips, first)
	}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if hostname != "" {
		dns = append(dns, hostname)
	}
	if !cfg.BindAddress.IsUnspecified() {
		ips = append(ips, cfg.BindAddress)
	}
	serving, err := cfg.CA.Ensure(pki.Leaf{Name: "serving-kube-apiserver", CommonName: "kube-apiserver", DNSNames: dns, IPs: ips, Server: true})
	if err != nil {
		return err
	}
	opts := genericoptions.NewSecureServingOptions()
	opts.BindAddress = cfg.BindAddress
	opts.BindPort = cfg.Port
	opts.ServerCert.CertKey = genericoptions.CertKey{CertFile: serving.CertFile, KeyFile: serving.KeyFile}
	if err := opts.WithLoopback().ApplyTo(&c.SecureServing, &c.LoopbackClientConfig); err != nil {
		return fmt.Errorf("serving the API on %s:%d: %w", cfg.BindAddress, cfg.Port, err)
	}
	return nil
}

// advertiseAddress is the address other components reach the server at: the
// configured one, else the bind address, else (binding to loopback or to every
// address) the address of the host's default interface, as kube-apiserver picks it.
// A host with no network at all advertises loopback.
func advertiseAddress(cfg Config) net.IP {
	switch {
	case cfg.AdvertiseAddress != nil:
		return cfg.AdvertiseAddress
	case !cfg.BindAddress.IsUnspecified() && !cfg.BindAddress.IsLoopback():
		return cfg.BindAddress
	}
	if ip, err := utilnet.ResolveBindAddress(net.IPv4zero); err == nil {
		return ip
	}
	return net.IPv4(127, 0, 0, 1)
}

// storagePrefixes keeps upstream's etcd layout where it differs from the resource
// name, so that etcd tools find objects where operators expect them.
var storagePrefixes = map[schema.GroupResource]string{
	{Resource: "replicationcontrollers"}: "controllers",
	{Resource: "services"}:               "services/specs",
	{Resource: "nodes"}:                  "minions",
}

// applyStorage stores objects in etcd (with etcdTLS's certificates), encrypted as encryptionConfig (a file)
// says when it is set. The server rereads that file when it changes (within a
// minute), so that a key rotation needs no restart.
func applyStorage(c *genericapiserver.RecommendedConfig, scheme *runtime.Scheme, codecs serializer.CodecFactory, endpoints []string, etcdTLS EtcdTLS, encryptionConfig string) (*genericoptions.EtcdOptions, error) {
	opts := genericoptions.NewEtcdOptions(storagebackend.NewDefaultConfig("/registry", nil))
	opts.StorageConfig.Transport.ServerList = endpoints
	opts.StorageConfig.Transport.TrustedCAFile = etcdTLS.CAFile
	opts.StorageConfig.Transport.CertFile = etcdTLS.CertFile
	opts.StorageConfig.Transport.KeyFile = etcdTLS.KeyFile
	opts.DefaultStorageMediaType = runtime.ContentTypeProtobuf
	opts.EncryptionProviderConfigFilepath = encryptionConfig
	opts.EncryptionProviderConfigAutomaticReload = encryptionConfig != ""

	enabled := serverstorage.NewResourceConfig()
	enabled.EnableVersions(apis.GroupVersions...)
	enabled.EnableVersions(apiextensionsv1.SchemeGroupVersion)
	c.MergedResourceConfig = enabled

	factory := serverstorage.NewDefaultStorageFactory(opts.StorageConfig, opts.DefaultStorageMediaType, codecs,
		serverstorage.NewDefaultResourceEncodingConfig(scheme), enabled, storagePrefixes)
	if err := opts.ApplyWithStorageFactoryTo(factory, &c.Config); err != nil {
		return nil, fmt.Errorf("setting up storage in etcd at %v: %w", endpoints, err)
	}
	return opts, nil
}

// applyOpenAPI serves the OpenAPI documents; metricsScheme names the
// metrics.k8s.io definitions, which live apart from the scheme of package apis.
func applyOpenAPI(c *genericapiserver.RecommendedConfig, metricsScheme *runtime.Scheme) error {
	external, err := apis.NewExternalScheme()
	if err != nil {
		return err
	}
	namer := openapinamer.NewDefinitionNamer(external, apiextensionsapiserver.Scheme, metricsScheme)
	c.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(openapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIConfig.Info.Title = "Kubernetes"
	c.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(openapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIV3Config.Info.Title = "Kubernetes"
	return nil
}

func applyAdmission(c *genericapiserver.RecommendedConfig, client kubernetes.Interface, authz *authorization) error {
	admissionConfig := berthadmission.Config{
		Client:     client,
		Informers:  c.SharedInformerFactory,
		Quota:      quota.NewConfiguration(c.SharedInformerFactory),
		Stop:       c.DrainedNotify(),
		Authorizer: authz.authorizer,
	}
	if authz.rbac != nil {
		admissionConfig.RBAC = authz.rbac
	}
	chain, err := berthadmission.New(admissionConfig)
	if err != nil {
		return fmt.Errorf("setting up admission: %w", err)
	}
	c.AdmissionControl = chain
	return nil
}

// servedVersion is the effective version of the server, answering /version with
// berth's identity.
type servedVersion struct {
	compatibility.EffectiveVersion
}

func newVersion() servedVersion {
	v := version.MustParse(berthversion.Kubernetes())
	return servedVersion{compatibility.NewEffectiveVersion(v, false, version.MajorMinor(0, 0), version.MajorMinor(0, 0))}
}

func (v servedVersion) Info() *apimachineryversion.Info {
	info := berthversion.Info()
	return &info
}
