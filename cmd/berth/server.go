package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"berth.dev/berth/orchestrator/apiserver"
	"berth.dev/berth/orchestrator/controller/namespace"
	"berth.dev/berth/orchestrator/controller/resourcequota"
	"berth.dev/berth/orchestrator/controller/serviceaccount"
	"berth.dev/berth/orchestrator/etcd"
	"berth.dev/berth/orchestrator/pki"
	"berth.dev/berth/orchestrator/quota"
	"berth.dev/berth/release/storage"
)

type serverOptions struct {
	dataDir        string
	port           int
	bindAddress    net.IP
	etcdEndpoints  []string
	etcdClientPort int
	etcdPeerPort   int
	serviceCIDR    net.IPNet
	nodePorts      utilnet.PortRange
	// disableControllers leaves the control loops off: the API alone.
	disableControllers bool
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
	f.IntVar(&o.etcdClientPort, "etcd-client-port", 2379, "loopback port of the embedded etcd's clients (0 picks a free one)")
	f.IntVar(&o.etcdPeerPort, "etcd-peer-port", 2380, "loopback port of the embedded etcd's peers (0 picks a free one)")
	_, defaultServiceCIDR, _ := net.ParseCIDR("10.43.0.0/16")
	f.IPNetVar(&o.serviceCIDR, "service-cidr", *defaultServiceCIDR, "range of Service cluster IPs")
	o.nodePorts = apiserver.DefaultNodePorts
	f.Var(&o.nodePorts, "service-node-port-range", "range of Service node ports")
	f.BoolVar(&o.disableControllers, "disable-controllers", false, "do not run the controllers (namespace deletion, service accounts, quotas)")
	return cmd
}

func runServer(ctx context.Context, o serverOptions) error {
	// A long-running process: the Go default, not the short commands' setting.
	debug.SetGCPercent(100)
	if o.port < 1 || o.port > 65535 {
		return fmt.Errorf("--port %d is out of range 1-65535", o.port)
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

	store, err := etcd.Start(ctx, etcd.Config{Endpoints: o.etcdEndpoints, DataDir: dataDir, ClientPort: o.etcdClientPort, PeerPort: o.etcdPeerPort})
	if err != nil {
		return err
	}
	defer store.Close()
	slog.Info("etcd is ready", "endpoints", store.Endpoints)

	api, err := apiserver.New(ctx, apiserver.Config{
		BindAddress:   o.bindAddress,
		Port:          o.port,
		CA:            ca,
		EtcdEndpoints: store.Endpoints,
		ServiceCIDR:   &o.serviceCIDR,
		NodePorts:     o.nodePorts,
		// Release records are served from the start, so that clients can list
		// releases before the first install.
		CRDs: storage.CRDs(),
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
	if !o.disableControllers {
		if err := startControllers(ctx, api.Loopback); err != nil {
			return err
		}
	}
	return <-served
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

// startControllers runs the control loops against the API, through the loopback
// connection, until ctx ends.
func startControllers(ctx context.Context, loopback *rest.Config) error {
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(loopback)
	if err != nil {
		return err
	}
	informers := informers.NewSharedInformerFactory(client, 0)
	core := informers.Core().V1()
	namespaces := namespace.New(client, metadataClient, core.Namespaces())
	serviceAccounts := serviceaccount.New(client, core.Namespaces(), core.ServiceAccounts())
	quotas := resourcequota.New(client, informers, quota.NewConfiguration(informers))
	informers.Start(ctx.Done())
	go namespaces.Run(ctx, 2)
	go serviceAccounts.Run(ctx, 1)
	go quotas.Run(ctx, 2)
	return nil
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
