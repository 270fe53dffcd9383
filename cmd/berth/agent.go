package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/cmd/berth/internal/gcpercent"
	"berth.dev/berth/kubelet/agent"
	"berth.dev/berth/kubelet/bootstrap"
	"berth.dev/berth/kubelet/nodestatus"
	"berth.dev/berth/kubelet/pods"
	"berth.dev/berth/orchestrator/apiserver"
	"berth.dev/berth/orchestrator/ingress"
	"berth.dev/berth/orchestrator/pki"
	"berth.dev/berth/orchestrator/proxy"
	"berth.dev/berth/orchestrator/version"
)

// agentOptions configure a node agent: the one `berth server` runs beside
// the control plane, or `berth agent` on a machine that joins a cluster.
type agentOptions struct {
	nodeName    string
	kubeletPort int
	cgroupRoot  string
	bridge      string
	registries  string
	// dnsPort is the port the node's DNS server listens on at its address.
	dnsPort int
	// The Ingress controller's ports on every address of the node.
	disableIngress            bool
	ingressHTTP, ingressHTTPS int
}

// joinOptions are how `berth agent` joins a cluster with a token.
type joinOptions struct {
	server, token string
}

// name is the node's name: --node-name, else the host name.
func (o *agentOptions) name() (string, error) {
	if o.nodeName != "" {
		return o.nodeName, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("finding the node name (give --node-name): %w", err)
	}
	return host, nil
}

func (o *agentOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.nodeName, "node-name", "", "name of this machine's Node (default: the host name)")
	f.IntVar(&o.kubeletPort, "kubelet-port", 10250, "port of the kubelet's HTTPS server (logs, exec, port-forward); 0 picks a free one")
	f.StringVar(&o.cgroupRoot, "cgroup-root", "/berth", "cgroup under which the pods' cgroups are created")
	f.StringVar(&o.bridge, "pod-bridge", "berth0", "name of the node's pod network bridge (and of its nftables table, berth-NAME)")
	f.IntVar(&o.dnsPort, "cluster-dns-port", 53, "port of the cluster DNS server on the node's address")
	f.BoolVar(&o.disableIngress, "disable-ingress", false, "do not run the built-in Ingress controller on this node")
	f.IntVar(&o.ingressHTTP, "ingress-http-port", 80, "port of the Ingress controller's HTTP server")
	f.IntVar(&o.ingressHTTPS, "ingress-https-port", 443, "port of the Ingress controller's HTTPS server")
	f.StringVar(&o.registries, "registries", "", "mirrors and credentials for image pulls, in k3s's registries.yaml format (default DATA-DIR/registries.yaml, if present)")
}

// agentDir is where the agent of a server or agent with dataDir keeps its
// images, pods, logs and volumes.
func agentDir(dataDir string) string { return filepath.Join(dataDir, "agent") }

// nodeRole is what differs between the server's own node and a joined one.
type nodeRole struct {
	// kubeletTLS makes the kubelet server's TLS configuration for the
	// node's addresses and names.
	kubeletTLS func(ips []net.IP, names []string) (*tls.Config, error)
	labels     map[string]string
	// defaultStorage makes the node's local-path provisioner serve claims
	// no scheduler placed (the all-in-one server's node).
	defaultStorage bool
	// ingressStatus makes the node's address the Ingresses' status address.
	// One node says it: controllers of one class given different addresses
	// would overwrite each other.
	ingressStatus bool
}

// startAgent runs a node until ctx ends: the agent (the kubelet), its
// kube-proxy, its cluster DNS server and its Ingress controller.
func startAgent(ctx context.Context, client kubernetes.Interface, dataDir string, o agentOptions, network clusterNetwork, role nodeRole) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the agent runs containers and needs root: run berth as root, or pass --disable-agent to berth server to run the control plane only")
	}
	if o.kubeletPort < 0 || o.kubeletPort > 65535 {
		return fmt.Errorf("--kubelet-port %d is out of range 0-65535", o.kubeletPort)
	}
	name, err := o.name()
	if err != nil {
		return err
	}
	nodeIP, err := nodeAddress(ctx, dataDir)
	if err != nil {
		return err
	}
	registries, err := loadRegistries(dataDir, o.registries)
	if err != nil {
		return fmt.Errorf("--registries: %w", err)
	}
	// kube-proxy, the DNS server and the Ingress controller share one view
	// of the API.
	factory := informers.NewSharedInformerFactory(client, 0)
	runs := map[string]func(context.Context) error{}
	proxier, err := newProxy(factory, name, nodeIP, proxyTable(o.bridge), network.serviceCIDRs)
	if err != nil {
		return err
	}
	runs["kube-proxy"] = proxier.Run
	routers := []pods.Router{proxier}
	if runs["cluster DNS"], err = newDNS(ctx, client, factory, name, nodeIP, o.dnsPort, network); err != nil {
		return err
	}
	if !o.disableIngress {
		ing, err := newIngress(client, factory, nodeIP, o, role.ingressStatus)
		if err != nil {
			return err
		}
		runs["ingress controller"] = ing.Run
		routers = append(routers, ing)
	}
	dir := agentDir(dataDir)
	cfg := agent.Config{
		Client:         client,
		NodeName:       name,
		Dir:            dir,
		RuntimeDir:     filepath.Join(dir, "runtime"),
		CgroupRoot:     o.cgroupRoot,
		Bridge:         o.bridge,
		ClusterCIDRs:   network.clusterCIDRs,
		ServiceCIDRs:   network.serviceCIDRs,
		ClusterDNS:     []string{network.clusterDNS.String()},
		ClusterDomain:  network.clusterDomain,
		Registries:     registries,
		KubeletPort:    o.kubeletPort,
		KubeletTLS:     role.kubeletTLS,
		KubeletClients: []string{apiserver.KubeletClientName},
		Labels:         role.labels,
		KubeletVersion: version.Kubernetes(),
		Version:        version.Berth,
		DefaultStorage: role.defaultStorage,
		Routers:        routers,
		DrainSettle:    drainSettle,
	}
	go func() {
		if err := agent.Run(ctx, cfg); err != nil {
			slog.Error("agent stopped", "err", err)
		}
	}()
	factory.Start(ctx.Done())
	for component, run := range runs {
		go func() {
			if err := run(ctx); err != nil {
				slog.Error(component+" stopped", "err", err)
			}
		}()
	}
	return nil
}

// drainSettle is how long a deleted pod keeps running after this node's
// proxies stopped sending it connections, for the other nodes' proxies,
// which see the same EndpointSlice change at about the same time, to apply
// it too.
const drainSettle = 250 * time.Millisecond

// newIngress makes the node's Ingress controller, serving on every address.
func newIngress(client kubernetes.Interface, factory informers.SharedInformerFactory, nodeIP net.IP, o agentOptions, status bool) (*ingress.Controller, error) {
	for flag, port := range map[string]int{"--ingress-http-port": o.ingressHTTP, "--ingress-https-port": o.ingressHTTPS} {
		if port < 0 || port > 65535 {
			return nil, fmt.Errorf("%s %d is out of range 0-65535", flag, port)
		}
	}
	cfg := ingress.Config{
		HTTPAddr:  net.JoinHostPort("", strconv.Itoa(o.ingressHTTP)),
		HTTPSAddr: net.JoinHostPort("", strconv.Itoa(o.ingressHTTPS)),
		Client:    client,
	}
	if status {
		cfg.StatusAddresses = []string{nodeIP.String()}
	}
	c, err := ingress.New(cfg, factory)
	if err != nil {
		return nil, fmt.Errorf("%w (--ingress-http-port and --ingress-https-port pick other ports, --disable-ingress turns it off)", err)
	}
	return c, nil
}

func newAgentCommand(cluster *clusterFlags) *cobra.Command {
	var (
		dataDir string
		o       agentOptions
		join    joinOptions
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run this machine as a node of a cluster: the kubelet, kube-proxy and cluster DNS",
		Long: `Run this machine as a node of a cluster: the kubelet running its pods'
containers, kube-proxy, the node's cluster DNS server and Ingress controller, as
berth server runs beside the control plane.

With --server and --token (the token berth server prints and keeps in
DATA-DIR/node-token), the agent checks the server's identity against the
token, then gets the node's own credentials (user system:node:NAME), which may
touch only this Node, its Lease and the pods bound to it, and keeps them in the
data directory for the next start. Without them it uses the kubeconfig
(--kubeconfig, else $KUBECONFIG, else ~/.kube/config) and its rights.

The cluster's network (pod and service ranges, DNS) comes from the server. Pods
on nodes of one network segment reach each other directly.`,
		Example: `  # on the server
  cat /var/lib/berth/node-token
  # on the new node
  berth agent --server https://10.0.0.1:6443 --token K10...::abcdef.0123456789abcdef`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), cluster, dataDir, o, join)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/berth", "directory for the node's images, pods, logs and volumes")
	cmd.Flags().StringVar(&join.server, "server", "", "URL of the API server to join (https://HOST:PORT); needs --token")
	cmd.Flags().StringVar(&join.token, "token", "", "join token of the cluster (DATA-DIR/node-token on the server; default $BERTH_TOKEN with --server)")
	o.addFlags(cmd.Flags())
	return cmd
}

func runAgent(ctx context.Context, cluster *clusterFlags, dataDir string, o agentOptions, join joinOptions) error {
	gcpercent.LongRunning()
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if join.server != "" && join.token == "" {
		// From the environment, not the flag's default: --help would show it.
		join.token = os.Getenv("BERTH_TOKEN")
	}
	if (join.server == "") != (join.token == "") {
		return fmt.Errorf("--server and --token go together: give both to join with a token, or neither to use the kubeconfig")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	name, err := o.name()
	if err != nil {
		return err
	}
	o.nodeName = name
	identity := filepath.Join(agentDir(dataDir), "identity")
	var config *rest.Config
	if join.server != "" {
		config, err = joinCluster(ctx, join.server, join.token, name, identity)
	} else {
		config, err = cluster.restConfig()
	}
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	if join.server != "" {
		if err := bootstrap.RenewClientCertificate(ctx, client, name, identity); err != nil {
			return err
		}
	}
	network, err := readClusterNetwork(ctx, client)
	if err != nil {
		return err
	}
	clusterCA, err := clusterCAPool(config)
	if err != nil {
		return err
	}
	// A node that joined with a token has the cluster sign its kubelet's
	// serving certificate, which the API server then trusts for logs and
	// exec; until then, and on nodes that joined with a kubeconfig, the
	// kubelet serves with a certificate of its own CA.
	local, err := pki.LoadOrCreateCA(filepath.Join(agentDir(dataDir), "tls"))
	if err != nil {
		return err
	}
	role := nodeRole{kubeletTLS: func(ips []net.IP, names []string) (*tls.Config, error) {
		c, err := local.ServingTLS(kubeletLeaf(ips, names))
		if err != nil {
			return nil, err
		}
		c.ClientCAs = clusterCA
		return c, nil
	}}
	if join.server != "" {
		role.kubeletTLS = joinedKubeletTLS(ctx, client, name, identity, role.kubeletTLS)
	}
	if err := startAgent(ctx, client, dataDir, o, network, role); err != nil {
		return err
	}
	slog.Info("agent is running", "server", config.Host)
	<-ctx.Done()
	return nil
}

// kubeletLeaf is the kubelet's serving certificate for the node's addresses
// and names (the node name first).
func kubeletLeaf(ips []net.IP, names []string) pki.Leaf {
	return pki.Leaf{Name: "kubelet", CommonName: "kubelet-" + names[0], DNSNames: names, IPs: ips, Server: true}
}

// clusterCAPool is the cluster's CA, from the kubeconfig: the API server's
// client certificate for kubelets is signed by it. All its certificates
// count (a bundle, while a CA is replaced).
func clusterCAPool(config *rest.Config) (*x509.CertPool, error) {
	pemData, err := clusterCAData(config)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, errNoClusterCA
	}
	return pool, nil
}

// nodeAddress is the address this node is reached at (its InternalIP).
func nodeAddress(ctx context.Context, dataDir string) (net.IP, error) {
	facts, err := nodestatus.LocalHost{}.Facts(ctx, dataDir)
	if err != nil {
		return nil, fmt.Errorf("finding the node's address: %w", err)
	}
	ip := net.ParseIP(facts.InternalIP)
	if ip == nil {
		return nil, fmt.Errorf("finding the node's address: %q is not an IP address", facts.InternalIP)
	}
	return ip, nil
}

// nthAddress is the n-th address of a range.
func nthAddress(cidr *net.IPNet, n int) net.IP {
	ip := append(net.IP(nil), cidr.IP...)
	for i := len(ip) - 1; n > 0 && i >= 0; i-- {
		sum := int(ip[i]) + n
		ip[i], n = byte(sum), sum>>8
	}
	return ip
}

// proxyTable is the nftables table of the kube-proxy of the node whose pod
// bridge is bridge: one name, the bridge's, tells a node's network apart.
func proxyTable(bridge string) string { return "berth-proxy-" + bridge }

// newProxy makes kube-proxy for this node, answering NodePorts on the
// node's address.
func newProxy(factory informers.SharedInformerFactory, nodeName string, nodeIP net.IP, table string, serviceCIDRs []*net.IPNet) (*proxy.Proxier, error) {
	var nodeIPs []net.IP
	if !nodeIP.IsLoopback() {
		nodeIPs = append(nodeIPs, nodeIP)
	}
	return proxy.New(proxy.Config{NodeName: nodeName, NodeIPs: nodeIPs, ServiceCIDRs: serviceCIDRs, Table: table}, factory)
}

func newKillAllCommand() *cobra.Command {
	var dataDir, cgroupRoot, bridge string
	cmd := &cobra.Command{
		Use:   "killall",
		Short: "Stop every container this machine's agent runs and unmount its file systems",
		Long: `Stop every container and pod sandbox the agent of a berth server (or agent)
with --data-dir DIR runs, remove their cgroups and unmount the volumes and root
file systems under DIR, and remove the pod network's links and nftables
table, as k3s-killall.sh does. Containers outlive berth server
by design (a restarted server re-adopts them); run this after stopping it to end
them too. The cluster's state is kept: the next start runs the pods again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			return errors.Join(agent.KillAll(agentDir(dir), cgroupRoot, bridge), proxy.Teardown(proxyTable(bridge)))
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/berth", "the data directory of the server or agent")
	cmd.Flags().StringVar(&cgroupRoot, "cgroup-root", "/berth", "the cgroup root of the server or agent")
	cmd.Flags().StringVar(&bridge, "pod-bridge", "berth0", "the pod network bridge of the server or agent")
	return cmd
}
