// Package agent assembles berth's node agent, the real kubelet: the image
// store, the libcontainer runtime, volumes, the pod sync, the kubelet server,
// the Node's registration and heartbeat, the routes to other nodes' pods and
// the local-path provisioner, all talking to the cluster through one API
// client.
//
// It owns the wiring and the on-disk layout under the agent's directory; the
// parts own their behaviour. It must not import the API server or anything
// under orchestrator: `berth server` runs it in-process with a loopback
// client, `berth agent` on other machines with a remote one.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"berth.dev/berth/kubelet/envvars"
	"berth.dev/berth/kubelet/images"
	"berth.dev/berth/kubelet/localpath"
	"berth.dev/berth/kubelet/noderoutes"
	"berth.dev/berth/kubelet/nodestatus"
	"berth.dev/berth/kubelet/objectcache"
	"berth.dev/berth/kubelet/pods"
	"berth.dev/berth/kubelet/runtime/runc"
	"berth.dev/berth/kubelet/server"
	"berth.dev/berth/kubelet/volume"
)

// Directories under Config.Dir.
const (
	imagesDir  = "images"
	podsDir    = "pods"
	logsDir    = "logs"
	storageDir = "storage"
	networkDir = "network"
)

// ImagesDir is where an agent with directory dir keeps its image store, so
// that `berth image` can work on it beside a running agent.
func ImagesDir(dir string) string { return filepath.Join(dir, imagesDir) }

// Config configures an agent.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// Dir holds the agent's images, pod files, logs and local volumes.
	Dir string
	// RuntimeDir holds the runtime's state; it must outlive the process for
	// containers to be re-adopted after a restart.
	RuntimeDir string
	// CgroupRoot is the cgroup under which every pod's cgroup goes.
	CgroupRoot string
	Registries images.Registries
	// KubeletPort is where the kubelet server listens, on every address
	// (10250; 0 picks a free port). KubeletTLS returns its TLS configuration
	// for the node's addresses: a serving certificate for them and the CA of
	// the API server's client certificate, whose common name must be one of
	// KubeletClients.
	KubeletPort    int
	KubeletTLS     func(ips []net.IP, names []string) (*tls.Config, error)
	KubeletClients []string
	// Addresses are the node's; detected when empty.
	Addresses []corev1.NodeAddress
	// Bridge names the node's pod network bridge ("berth0"), ClusterCIDRs
	// and ServiceCIDRs the ranges its traffic is not masqueraded to. The
	// node's own pod range comes from its Node (spec.podCIDRs).
	Bridge                     string
	ClusterCIDRs, ServiceCIDRs []*net.IPNet
	// ClusterDNS and ClusterDomain configure pods' resolvers.
	ClusterDNS    []string
	ClusterDomain string
	// Labels are added to the Node's.
	Labels map[string]string
	// KubeletVersion is the Kubernetes version the node reports; Version
	// berth's, in the container runtime version.
	KubeletVersion, Version string
	// DefaultStorage makes this node's local-path provisioner serve claims
	// that no scheduler placed yet (the all-in-one server's node).
	DefaultStorage bool
	// Routers and DrainSettle hold deleted pods' SIGTERM until the node's
	// proxies stop sending them connections (pods.Config).
	Routers     []pods.Router
	DrainSettle time.Duration
	Log         *slog.Logger
}

// Run runs the agent until ctx ends. Containers keep running after it
// returns; the next Run re-adopts them.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || cfg.NodeName == "" || cfg.Dir == "" || cfg.RuntimeDir == "" || cfg.CgroupRoot == "" {
		return errors.New("agent: client, node name, directory, runtime directory and cgroup root are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	log := cfg.Log.With("node", cfg.NodeName)
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	rt, err := runc.New(ctx, runc.Config{Root: cfg.RuntimeDir, CgroupParent: cfg.CgroupRoot, Logger: log})
	if err != nil {
		return fmt.Errorf("agent: starting the container runtime: %w", err)
	}
	defer rt.Close()
	store, err := images.New(images.Config{Root: ImagesDir(dir), Registries: cfg.Registries})
	if err != nil {
		return fmt.Errorf("agent: opening the image store: %w", err)
	}

	facts, err := nodestatus.LocalHost{}.Facts(ctx, dir)
	if err != nil {
		return fmt.Errorf("agent: reading the host's facts: %w", err)
	}
	_, allocatable := nodestatus.Resources(facts, nodestatus.DefaultMaxPods)
	hostIPs := []string{facts.InternalIP}
	if len(cfg.Addresses) > 0 {
		hostIPs = nil
		for _, a := range cfg.Addresses {
			if a.Type == corev1.NodeInternalIP {
				hostIPs = append(hostIPs, a.Address)
			}
		}
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	nodeRecorder := recorder

	// Only what a node may list and watch is watched whole (Services,
	// Nodes, its own pods); Secrets and ConfigMaps are read one by one as
	// the pods reference them, claims and volumes with a GET each.
	shared := informers.NewSharedInformerFactory(cfg.Client, 0)
	onNode := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}))
	objects, err := objectcache.New(cfg.Client)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	volumes, err := volume.NewManager(volume.Config{
		PodsDir:         filepath.Join(dir, podsDir),
		Objects:         volume.Sources{SecretsAndConfigMaps: objects, Client: cfg.Client},
		Tokens:          volume.ClientTokens{Client: cfg.Client},
		NodeAllocatable: allocatable,
		Tmpfs:           true,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	env := envvars.NewBuilder(envvars.Sources{
		SecretsAndConfigMaps: objects,
		ServiceLister:        shared.Core().V1().Services().Lister(),
	}, recorder)

	network := &podNetwork{}
	kubelet, err := pods.New(pods.Config{
		Client:          cfg.Client,
		NodeName:        cfg.NodeName,
		Runtime:         rt,
		Images:          store,
		Volumes:         volumes,
		Env:             env,
		Network:         network,
		Secrets:         objects,
		Objects:         objects,
		Recorder:        recorder,
		PodsDir:         filepath.Join(dir, podsDir),
		LogsDir:         filepath.Join(dir, logsDir),
		HostIPs:         hostIPs,
		NodeAllocatable: allocatable,
		ClusterDNS:      cfg.ClusterDNS,
		ClusterDomain:   cfg.ClusterDomain,
		KubeVersion:     cfg.KubeletVersion,
		Routers:         cfg.Routers,
		DrainSettle:     cfg.DrainSettle,
		Log:             log,
	}, onNode.Core().V1().Pods())
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	certIPs := []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, ip := range hostIPs {
		if parsed := net.ParseIP(ip); parsed != nil {
			certIPs = append(certIPs, parsed)
		}
	}
	kubeletTLS, err := cfg.KubeletTLS(certIPs, []string{cfg.NodeName, "localhost"})
	if err != nil {
		return fmt.Errorf("agent: the kubelet's certificate: %w", err)
	}
	srv, err := server.New(server.Config{Addr: net.JoinHostPort("", strconv.Itoa(cfg.KubeletPort)), TLS: kubeletTLS, ClientNames: cfg.KubeletClients, Runtime: kubelet, Log: log})
	if err != nil {
		return fmt.Errorf("agent: kubelet server: %w", err)
	}
	node, err := nodestatus.New(nodestatus.Config{
		Client:                  cfg.Client,
		NodeName:                cfg.NodeName,
		Addresses:               cfg.Addresses,
		KubeletPort:             int32(srv.Addr().Port),
		Labels:                  cfg.Labels,
		KubeletVersion:          cfg.KubeletVersion,
		ContainerRuntimeVersion: "berth://" + cfg.Version,
		FSPath:                  dir,
		Ready:                   network.ready,
		Recorder:                nodeRecorder,
		Log:                     log,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}

	provisioner, err := localpath.New(localpath.Config{
		Client:   cfg.Client,
		NodeName: cfg.NodeName,
		Dir:      filepath.Join(dir, storageDir),
		Default:  cfg.DefaultStorage,
		Log:      log,
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}

	routes, err := noderoutes.New(noderoutes.Config{NodeName: cfg.NodeName, Log: log}, shared.Core().V1().Nodes())
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}

	if cfg.DefaultStorage {
		if err := localpath.EnsureStorageClass(ctx, cfg.Client); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	shared.Start(ctx.Done())
	onNode.Start(ctx.Done())
	gc := &imageGC{store: store, pods: onNode.Core().V1().Pods().Lister(), log: log}
	errs := make(chan error, 6)
	run := func(name string, f func(context.Context) error) {
		go func() {
			err := f(ctx)
			if err != nil && ctx.Err() == nil {
				err = fmt.Errorf("agent: %s: %w", name, err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	run("node status", node.Run)
	run("kubelet server", srv.Run)
	run("local-path provisioner", provisioner.Run)
	run("image garbage collection", gc.run)
	run("routes to other nodes", routes.Run)
	// Pods start once the control plane gave the node its pod range.
	run("pod sync", func(ctx context.Context) error {
		if err := network.start(ctx, cfg, filepath.Join(dir, networkDir), log); err != nil {
			return err
		}
		return kubelet.Run(ctx)
	})
	log.Info("agent started", "kubelet", srv.Addr().String())
	var first error
	for range cap(errs) {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	shared.Shutdown()
	onNode.Shutdown()
	return first
}
