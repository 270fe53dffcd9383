package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/cmd/berth/internal/gcpercent"
	"berth.dev/berth/kubelet/hollow"
	kubeletserver "berth.dev/berth/kubelet/server"
	"berth.dev/berth/orchestrator/apiserver"
	"berth.dev/berth/orchestrator/controller/nodeipam"
	"berth.dev/berth/orchestrator/etcd"
	"berth.dev/berth/orchestrator/metrics"
	"berth.dev/berth/orchestrator/pki"
	"berth.dev/berth/release/gitops"
	"berth.dev/berth/release/storage"
)

type serverOptions struct {
	dataDir        string
	port           int
	bindAddress    net.IP
	etcdEndpoints  []string
	etcdTLS        apiserver.EtcdTLS
	etcdClientPort int
	etcdPeerPort   int
	serviceCIDR    net.IPNet
	nodePorts      utilnet.PortRange
	// controllers names the control loops to run (see controllers.go).
	controllers      []string
	disableScheduler bool
	controllerSettings
	// hollow nodes: how many, how large, how fast their pods start.
	hollowNodes      int
	hollowCapacity   map[string]string
	hollowStartDelay time.Duration
	disableAgent     bool
	agent            agentOptions
	clusterCIDR      string
	// clusterDNS is kube-dns's cluster IP (default: the tenth address of the
	// service range, as k3s's 10.43.0.10).
	clusterDNS    net.IP
	clusterDomain string
	// The embedded registry of charts and images, at the bind address.
	disableRegistry bool
	registryPort    int
	// secretsEncryption encrypts Secrets and release records in etcd.
	secretsEncryption bool
	// authorizationModes and tokenAuthFile are kube-apiserver's
	// --authorization-mode and --token-auth-file.
	authorizationModes []string
	tokenAuthFile      string
}

func newServerCommand() *cobra.Command {
	o := serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the cluster: etcd and the Kubernetes-compatible API server",
		Long: `Run the cluster in this process: an embedded etcd (or an external one with
--etcd-endpoints) and the Kubernetes-compatible API server. An admin kubeconfig is
written to DATA-DIR/kubeconfig.yaml; kubectl and berth reach the cluster through it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/berth", "directory for the cluster's state, certificates and kubeconfig")
	f.IntVar(&o.port, "port", 6443, "port of the API server (HTTPS)")
	f.IPVar(&o.bindAddress, "bind-address", net.IPv4(127, 0, 0, 1), "address the API server listens on")
	f.StringSliceVar(&o.etcdEndpoints, "etcd-endpoints", nil, "client URLs of an external etcd cluster (default: run etcd embedded)")
	f.StringVar(&o.etcdTLS.CAFile, "etcd-cafile", "", "CA of the external etcd's serving certificates")
	f.StringVar(&o.etcdTLS.CertFile, "etcd-certfile", "", "client certificate to reach the external etcd with")
	f.StringVar(&o.etcdTLS.KeyFile, "etcd-keyfile", "", "key of the --etcd-certfile")
	f.IntVar(&o.etcdClientPort, "etcd-client-port", 2379, "loopback port of the embedded etcd's clients (0 picks a free one)")
	f.IntVar(&o.etcdPeerPort, "etcd-peer-port", 2380, "loopback port of the embedded etcd's peers (0 picks a free one)")
	_, defaultServiceCIDR, _ := net.ParseCIDR("10.43.0.0/16")
	f.IPNetVar(&o.serviceCIDR, "service-cidr", *defaultServiceCIDR, "range of Service cluster IPs")
	o.nodePorts = apiserver.DefaultNodePorts
	f.Var(&o.nodePorts, "service-node-port-range", "range of Service node ports")
	f.IntVar(&o.hollowNodes, "hollow-nodes", 0, "register this many hollow nodes (hollow-0, ...): nodes whose pods go Running and Ready without containers, for tests and benchmarks")
	f.StringToStringVar(&o.hollowCapacity, "hollow-node-capacity", nil, "capacity of each hollow node, e.g. cpu=4,memory=16Gi,pods=110 (these are the defaults)")
	f.DurationVar(&o.hollowStartDelay, "hollow-pod-start-delay", 500*time.Millisecond, "how long a pod on a hollow node takes to be Running")
	f.StringSliceVar(&o.controllers, "controllers", []string{"*"}, fmt.Sprintf(
		"control loops to run: '*' runs all, 'name' adds one, '-name' leaves one out; known: %s", strings.Join(controllerNames(), ", ")))
	f.BoolVar(&o.disableScheduler, "disable-scheduler", false, "do not run the scheduler: pods stay Pending until something else binds them")
	f.DurationVar(&o.hpaSyncPeriod, "horizontal-pod-autoscaler-sync-period", 15*time.Second, "how often each HorizontalPodAutoscaler is re-evaluated")
	f.DurationVar(&o.clusterSigningDuration, "cluster-signing-duration", 365*24*time.Hour, "the longest a certificate signed for a CertificateSigningRequest is valid")
	f.StringVar(&o.clusterCIDR, "cluster-cidr", nodeipam.DefaultClusterCIDR, "pods' address range(s), comma-separated (one IPv4 and one IPv6 at most); each node gets a subnet")
	f.IntVar(&o.nodeCIDRMaskSizeIPv4, "node-cidr-mask-size-ipv4", nodeipam.DefaultNodeMaskSizeIPv4, "prefix length of each node's IPv4 pod subnet")
	f.IntVar(&o.nodeCIDRMaskSizeIPv6, "node-cidr-mask-size-ipv6", nodeipam.DefaultNodeMaskSizeIPv6, "prefix length of each node's IPv6 pod subnet")
	f.BoolVar(&o.disableAgent, "disable-agent", false, "do not run the agent (the kubelet) in this process: no pods run on this machine")
	o.agent.addFlags(f)
	f.IPVar(&o.clusterDNS, "cluster-dns", nil, "cluster IP of the kube-dns Service, pods' nameserver (default: the tenth address of --service-cidr)")
	f.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.BoolVar(&o.disableRegistry, "disable-registry", false, "do not serve the embedded OCI registry of charts and images")
	f.IntVar(&o.registryPort, "registry-port", 5000, "port of the embedded OCI registry (plain HTTP) on --bind-address; 0 picks a free one")
	f.StringSliceVar(&o.authorizationModes, "authorization-mode", apiserver.DefaultAuthorizationModes, "ordered list of authorizers: Node, RBAC, or AlwaysAllow alone (everyone may do everything: tests and benchmarks only)")
	f.StringVar(&o.tokenAuthFile, "token-auth-file", "", "static bearer tokens, one per line: token,user,uid,\"group1,group2\"")
	f.BoolVar(&o.secretsEncryption, "secrets-encryption", true, "encrypt Secrets and release records (which hold charts' values) in etcd with AES-GCM, keys in DATA-DIR/encryption (see berth secrets-encrypt); false stores them in plaintext")
	f.DurationVar(&o.nodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "how long a node may go without renewing its Lease before it is marked Ready=Unknown and tainted unreachable")
	return cmd
}

func runServer(ctx context.Context, o serverOptions) error {
	gcpercent.LongRunning()
	if o.port < 1 || o.port > 65535 {
		return fmt.Errorf("--port %d is out of range 1-65535", o.port)
	}
	enabled, err := enabledControllers(o.controllers)
	if err != nil {
		return err
	}
	if !o.disableScheduler {
		enabled = append(enabled, schedulerComponent)
	}
	if o.clusterCIDRs, err = nodeipam.ParseClusterCIDRs(o.clusterCIDR); err != nil {
		return err
	}
	network := clusterNetwork{clusterCIDRs: o.clusterCIDRs, serviceCIDRs: []*net.IPNet{&o.serviceCIDR}, clusterDNS: o.clusterDNS, clusterDomain: o.clusterDomain}
	if network.clusterDNS == nil {
		network.clusterDNS = nthAddress(&o.serviceCIDR, 10)
	}
	if !o.serviceCIDR.Contains(network.clusterDNS) {
		return fmt.Errorf("--cluster-dns %s is outside --service-cidr %s", network.clusterDNS, &o.serviceCIDR)
	}
	hollowCapacity, err := resourceList(o.hollowCapacity)
	if err != nil {
		return fmt.Errorf("--hollow-node-capacity: %w", err)
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(dataDir, "tls"))
	if err != nil {
		return err
	}
	encryptionConfig, err := serverEncryptionConfig(dataDir, o.secretsEncryption)
	if err != nil {
		return err
	}
	if o.etcdTLS != (apiserver.EtcdTLS{}) && len(o.etcdEndpoints) == 0 {
		return fmt.Errorf("--etcd-cafile, --etcd-certfile and --etcd-keyfile are for an external etcd: give its --etcd-endpoints too (the embedded one listens on loopback only)")
	}
	store, err := etcd.Start(ctx, etcd.Config{Endpoints: o.etcdEndpoints, DataDir: dataDir, ClientPort: o.etcdClientPort, PeerPort: o.etcdPeerPort})
	if err != nil {
		return err
	}
	defer store.Close()
	slog.Info("etcd is ready", "endpoints", store.Endpoints)

	// Kubelets in this process report resource usage here; the API serves it
	// as metrics.k8s.io for kubectl top and the autoscalers.
	usage, err := metrics.NewStore()
	if err != nil {
		return err
	}
	api, err := apiserver.New(ctx, apiserver.Config{
		BindAddress:          o.bindAddress,
		Port:                 o.port,
		CA:                   ca,
		EtcdEndpoints:        store.Endpoints,
		EtcdTLS:              o.etcdTLS,
		ServiceCIDR:          &o.serviceCIDR,
		NodePorts:            o.nodePorts,
		EncryptionConfigFile: encryptionConfig,
		// Release records are served from the start, so that clients can list
		// releases before the first install.
		CRDs:               append(storage.CRDs(), gitops.CRDs()...),
		ClusterRoles:       append(storage.ClusterRoles(), gitops.ClusterRoles()...),
		AuthorizationModes: o.authorizationModes,
		NodeConfigMaps:     []types.NamespacedName{{Namespace: metav1.NamespaceSystem, Name: clusterConfigMap}},
		TokenAuthFile:      o.tokenAuthFile,
		Metrics:            usage,
	})
	if err != nil {
		return err
	}
	if err := writeAdminKubeconfig(dataDir, ca, o.bindAddress, o.port); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- api.Run(ctx) }()
	select {
	case err := <-served:
		return err
	case <-waitReady(ctx, api):
	}
	slog.Info("API server is ready", "kubeconfig", filepath.Join(dataDir, "kubeconfig.yaml"))
	o.clusterSigner = ca
	if o.clusterCA, err = os.ReadFile(ca.CertFile); err != nil {
		return fmt.Errorf("reading the cluster CA: %w", err)
	}
	o.gitopsDir = filepath.Join(dataDir, "gitops")
	if err := startControllers(ctx, api.Loopback, enabled, o.controllerSettings); err != nil {
		return err
	}
	if !o.disableRegistry {
		if err := startRegistry(ctx, dataDir, o.bindAddress, o.registryPort); err != nil {
			return err
		}
	}
	client, err := kubernetes.NewForConfig(api.Loopback)
	if err != nil {
		return err
	}
	if err := network.publish(ctx, client); err != nil {
		return err
	}
	if err := ensureJoinToken(ctx, client, dataDir, ca, api.URL()); err != nil {
		return err
	}
	if !o.disableAgent {
		role := nodeRole{
			kubeletTLS: func(ips []net.IP, names []string) (*tls.Config, error) {
				return ca.ServingTLS(kubeletLeaf(ips, names))
			},
			labels:         map[string]string{"node-role.kubernetes.io/control-plane": "true"},
			defaultStorage: true,
			ingressStatus:  true,
		}
		if err := startAgent(ctx, client, dataDir, o.agent, network, role); err != nil {
			return err
		}
	}
	if o.hollowNodes > 0 {
		// One kubelet endpoint on loopback answers kubectl logs, exec and
		// port-forward for every hollow node, through the API server.
		kubeletTLS, err := ca.ServingTLS(pki.Leaf{Name: "hollow-kubelet", CommonName: "hollow-kubelet", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
		if err != nil {
			return fmt.Errorf("issuing the hollow kubelet's certificate: %w", err)
		}
		if err := startHollowNodes(ctx, api.Loopback, hollow.Config{
			Count: o.hollowNodes, Capacity: hollowCapacity, StartDelay: o.hollowStartDelay,
			// Four renewals per grace period, as kubelets do with the defaults
			// (every 10 s of 40 s), so that only a stopped node goes Unknown.
			RenewInterval: o.nodeMonitorGracePeriod / 4,
			Usage:         usage,
			Kubelet:       &kubeletserver.Config{Addr: "127.0.0.1:0", TLS: kubeletTLS, ClientNames: []string{apiserver.KubeletClientName}},
		}); err != nil {
			return err
		}
	}
	return <-served
}

// startHollowNodes runs hollow nodes against the API until ctx ends.
func startHollowNodes(ctx context.Context, loopback *rest.Config, cfg hollow.Config) error {
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	cfg.Client = client
	nodes, err := hollow.New(cfg)
	if err != nil {
		return err
	}
	go func() {
		if err := nodes.Run(ctx); err != nil {
			slog.Error("hollow nodes stopped", "err", err)
		}
	}()
	slog.Info("hollow nodes registering", "count", cfg.Count)
	return nil
}

// resourceList parses name=quantity pairs.
func resourceList(pairs map[string]string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for name, value := range pairs {
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", name, value, err)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}

// waitReady closes the returned channel once the API server is ready.
func waitReady(ctx context.Context, api *apiserver.Server) <-chan struct{} {
	ready := make(chan struct{})
	go func() {
		if api.WaitReady(ctx) == nil {
			close(ready)
		}
	}()
	return ready
}

func writeAdminKubeconfig(dataDir string, ca *pki.CA, bind net.IP, port int) error {
	admin, err := ca.Ensure(pki.Leaf{Name: "client-admin", CommonName: "system:admin", Organization: []string{"system:masters"}})
	if err != nil {
		return err
	}
	host := bind
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	server := url.URL{Scheme: "https", Host: net.JoinHostPort(host.String(), strconv.Itoa(port))}
	return apiserver.WriteKubeconfig(filepath.Join(dataDir, "kubeconfig.yaml"), apiserver.KubeconfigFile{
		Server: server.String(), CAFile: ca.CertFile, CertFile: admin.CertFile, KeyFile: admin.KeyFile,
	})
}
