package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/kubelet/agent"
	"berth.dev/berth/kubelet/nodestatus"
	"berth.dev/berth/orchestrator/apiserver"
	"berth.dev/berth/orchestrator/pki"
	"berth.dev/berth/orchestrator/proxy"
	"berth.dev/berth/orchestrator/version"
)

// agentOptions configure the node agent that `berth server` runs beside the
// control plane.
type agentOptions struct {
	disableAgent bool
	nodeName     string
	kubeletPort  int
	cgroupRoot   string
	bridge       string
	registries   string
	// clusterDNS is kube-dns's cluster IP (default: the tenth address of
	// the service range, as k3s's 10.43.0.10); dnsPort the port the DNS
	// server listens on at the node's address.
	clusterDNS    net.IP
	clusterDomain string
	dnsPort       int
}

func (o *agentOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.disableAgent, "disable-agent", false, "do not run the agent (the kubelet) in this process: no pods run on this machine")
	f.StringVar(&o.nodeName, "node-name", "", "name of this machine's Node (default: the host name)")
	f.IntVar(&o.kubeletPort, "kubelet-port", 10250, "port of the kubelet's HTTPS server (logs, exec, port-forward); 0 picks a free one")
	f.StringVar(&o.cgroupRoot, "cgroup-root", "/berth", "cgroup under which the pods' cgroups are created")
	f.StringVar(&o.bridge, "pod-bridge", "berth0", "name of the node's pod network bridge (and of its nftables table, berth-NAME)")
	f.IPVar(&o.clusterDNS, "cluster-dns", nil, "cluster IP of the kube-dns Service, pods' nameserver (default: the tenth address of --service-cidr)")
	f.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.IntVar(&o.dnsPort, "cluster-dns-port", 53, "port of the cluster DNS server on the node's address")
	f.StringVar(&o.registries, "registries", "", "mirrors and credentials for image pulls, in k3s's registries.yaml format (default DATA-DIR/registries.yaml, if present)")
}

// agentDir is where the agent of a server or agent with dataDir keeps its
// images, pods, logs and volumes.
func agentDir(dataDir string) string { return filepath.Join(dataDir, "agent") }

// startAgent runs the node agent against the API until ctx ends.
func startAgent(ctx context.Context, loopback *rest.Config, ca *pki.CA, dataDir string, o agentOptions, clusterCIDRs, serviceCIDRs []*net.IPNet) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the agent runs containers and needs root: run berth server as root, or pass --disable-agent to run the control plane only")
	}
	if o.kubeletPort < 0 || o.kubeletPort > 65535 {
		return fmt.Errorf("--kubelet-port %d is out of range 0-65535", o.kubeletPort)
	}
	name := o.nodeName
	if name == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("finding the node name (give --node-name): %w", err)
		}
		name = host
	}
	clusterDNS := o.clusterDNS
	if clusterDNS == nil {
		clusterDNS = nthAddress(serviceCIDRs[0], 10)
	}
	if !serviceCIDRs[0].Contains(clusterDNS) {
		return fmt.Errorf("--cluster-dns %s is outside --service-cidr %s", clusterDNS, serviceCIDRs[0])
	}
	nodeIP, err := nodeAddress(ctx, dataDir)
	if err != nil {
		return err
	}
	registries, err := loadRegistries(dataDir, o.registries)
	if err != nil {
		return fmt.Errorf("--registries: %w", err)
	}
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	kubeletTLS := func(ips []net.IP, names []string) (*tls.Config, error) {
		return ca.ServingTLS(pki.Leaf{Name: "kubelet", CommonName: "kubelet-" + name, DNSNames: names, IPs: ips, Server: true})
	}
	dir := agentDir(dataDir)
	cfg := agent.Config{
		Client:         client,
		NodeName:       name,
		Dir:            dir,
		RuntimeDir:     filepath.Join(dir, "runtime"),
		CgroupRoot:     o.cgroupRoot,
		Bridge:         o.bridge,
		ClusterCIDRs:   clusterCIDRs,
		ServiceCIDRs:   serviceCIDRs,
		ClusterDNS:     []string{clusterDNS.String()},
		ClusterDomain:  o.clusterDomain,
		Registries:     registries,
		KubeletPort:    o.kubeletPort,
		KubeletTLS:     kubeletTLS,
		KubeletClients: []string{apiserver.KubeletClientName},
		Labels:         map[string]string{"node-role.kubernetes.io/control-plane": "true"},
		KubeletVersion: version.Kubernetes(),
		Version:        version.Berth,
		DefaultStorage: true,
	}
	go func() {
		if err := agent.Run(ctx, cfg); err != nil {
			slog.Error("agent stopped", "err", err)
		}
	}()
	if err := startProxy(ctx, client, name, nodeIP, proxyTable(o.bridge), serviceCIDRs); err != nil {
		return err
	}
	return startDNS(ctx, client, nodeIP, o.dnsPort, clusterDNS, o.clusterDomain, clusterCIDRs)
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

// startProxy runs kube-proxy for this node, answering NodePorts on the
// node's address.
func startProxy(ctx context.Context, client kubernetes.Interface, nodeName string, nodeIP net.IP, table string, serviceCIDRs []*net.IPNet) error {
	var nodeIPs []net.IP
	if !nodeIP.IsLoopback() {
		nodeIPs = append(nodeIPs, nodeIP)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	p, err := proxy.New(proxy.Config{NodeName: nodeName, NodeIPs: nodeIPs, ServiceCIDRs: serviceCIDRs, Table: table}, factory)
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	go func() {
		if err := p.Run(ctx); err != nil {
			slog.Error("kube-proxy stopped", "err", err)
		}
	}()
	return nil
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
