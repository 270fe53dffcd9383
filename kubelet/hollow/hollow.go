// Package hollow runs hollow nodes: Nodes that register, renew their Leases and
// report the pods bound to them Running and Ready, without running anything, so
// that the scheduler and the controllers can be exercised at thousands of nodes on
// one machine, as kubemark's hollow kubelets do upstream.
//
// Pods and nodes can be told how to behave through annotations (see the
// Annotation constants): a pod that never becomes ready, a container that exits
// with a code after some seconds, a node that stops heart-beating, the cpu and
// memory a pod uses, which the nodes report to a UsageSink for `kubectl top` and
// the autoscalers. Given a kubelet server configuration, they answer `kubectl
// logs`, `exec`, `attach` and `port-forward` with made-up logs, a few built-in
// commands and echoes (kubelet.go). Hollow nodes must not start processes or
// touch the host beyond that one listening socket, nor import the API server:
// usage goes to whatever sink they are given.
package hollow

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"berth.dev/berth/kubelet/server"
)

// Annotations that steer hollow behaviour.
const (
	// AnnotationReady "false" on a pod keeps it Running but never Ready.
	AnnotationReady = "hollow.berth.dev/ready"
	// AnnotationExitCode on a pod whose restartPolicy is not Always makes its
	// containers exit with that code after AnnotationRunSeconds (default 1).
	AnnotationExitCode = "hollow.berth.dev/exit-code"
	// AnnotationRunSeconds says how long such a pod runs before it exits.
	AnnotationRunSeconds = "hollow.berth.dev/run-seconds"
	// AnnotationHeartbeat "stop" on a Node stops its Lease renewals and status
	// updates, as a dead kubelet's would; removing it brings the node back.
	AnnotationHeartbeat = "hollow.berth.dev/heartbeat"
	// AnnotationCPUUsage on a pod is the cpu its containers use together, as
	// reported to Config.Usage ("150m"); AnnotationMemoryUsage the memory
	// ("64Mi"). They may change at any time: the next report follows.
	AnnotationCPUUsage    = "hollow.berth.dev/cpu-usage"
	AnnotationMemoryUsage = "hollow.berth.dev/memory-usage"
)

// Config describes the hollow nodes to run.
type Config struct {
	Client kubernetes.Interface
	// Count nodes are named Prefix0 ... Prefix(Count-1).
	Count  int
	Prefix string
	// Capacity of each node; Defaults fills in cpu, memory, pods and
	// ephemeral-storage that are not set.
	Capacity corev1.ResourceList
	// StartDelay is how long a pod bound to a hollow node takes to be Running.
	StartDelay time.Duration
	// RenewInterval is how often each node renews its Lease; the Lease lasts
	// four intervals. 0 picks one that keeps renewals under 100 per second.
	RenewInterval time.Duration
	// Usage, when set, receives every node's resource usage and that of its
	// running pods each UsageInterval (0: DefaultUsageInterval), for the
	// resource metrics API.
	Usage         UsageSink
	UsageInterval time.Duration
	// Kubelet, when set, is the kubelet server the nodes share (its Runtime
	// must be nil: the nodes answer): `kubectl logs`, `exec`, `attach` and
	// `port-forward` then reach hollow containers (see runtime in kubelet.go).
	// Every node reports the server's address as its InternalIP (127.0.0.1
	// when it listens on every address) and its port as the kubelet's.
	Kubelet *server.Config
	Log     *slog.Logger
}

// Defaults are the capacity of a hollow node when Config says nothing.
var Defaults = corev1.ResourceList{
	corev1.ResourceCPU:              resource.MustParse("4"),
	corev1.ResourceMemory:           resource.MustParse("16Gi"),
	corev1.ResourcePods:             resource.MustParse("110"),
	corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
}

// zones spread hollow nodes over three topology zones, for spreading tests.
var zones = []string{"zone-a", "zone-b", "zone-c"}

// Nodes are running hollow nodes.
type Nodes struct {
	cfg   Config
	names map[string]int // node name → index

	mu      sync.Mutex
	stopped map[string]bool        // nodes told to stop heart-beating
	pending map[string]*time.Timer // pod uid → its next transition
	podIPs  map[string]string      // pod uid → address
	nextIP  uint32

	kubelet *server.Server // nil without Config.Kubelet
	runtime *runtime
}

// New checks cfg and returns the nodes, not yet running; with cfg.Kubelet, the
// kubelet server listens already (Run serves it).
func New(cfg Config) (*Nodes, error) {
	if cfg.Client == nil || cfg.Count < 1 {
		return nil, fmt.Errorf("hollow nodes: a client and a count of at least 1 are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "hollow-"
	}
	capacity := cfg.Capacity.DeepCopy()
	if capacity == nil {
		capacity = corev1.ResourceList{}
	}
	for name, q := range Defaults {
		if _, ok := capacity[name]; !ok {
			capacity[name] = q
		}
	}
	cfg.Capacity = capacity
	if cfg.RenewInterval == 0 {
		cfg.RenewInterval = max(10*time.Second, time.Duration(cfg.Count)*time.Second/100)
	}
	if cfg.UsageInterval == 0 {
		cfg.UsageInterval = DefaultUsageInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &Nodes{cfg: cfg, names: map[string]int{}, stopped: map[string]bool{}, pending: map[string]*time.Timer{}, podIPs: map[string]string{}}
	for i := 0; i < cfg.Count; i++ {
		n.names[n.name(i)] = i
	}
	if cfg.Kubelet != nil {
		if cfg.Kubelet.Runtime != nil {
			return nil, fmt.Errorf("hollow nodes: the kubelet server's runtime is the hollow nodes'")
		}
		n.runtime = &runtime{nodes: n}
		serving := *cfg.Kubelet
		serving.Runtime = n.runtime
		if serving.Log == nil {
			serving.Log = cfg.Log
		}
		srv, err := server.New(serving)
		if err != nil {
			return nil, fmt.Errorf("hollow nodes: %w", err)
		}
		n.kubelet = srv
	}
	return n, nil
}

func (n *Nodes) ours(node string) bool { _, ok := n.names[node]; return ok }

// address is node i's InternalIP: where the kubelet server listens, or a
// made-up one without a server.
func (n *Nodes) address(i int) string {
	if n.kubelet == nil {
		return nodeIP(i)
	}
	if ip := n.kubelet.Addr().IP; !ip.IsUnspecified() {
		return ip.String()
	}
	return "127.0.0.1"
}

// kubeletPort is the port nodes report for their kubelet.
func (n *Nodes) kubeletPort() int32 {
	if n.kubelet == nil {
		return 10250
	}
	return int32(n.kubelet.Addr().Port)
}

func (n *Nodes) name(i int) string { return fmt.Sprintf("%s%d", n.cfg.Prefix, i) }

// nodeIP is the made-up address of node i, in 100.64.0.0/10 (from .1 on).
func nodeIP(i int) string {
	i++
	return net.IPv4(100, 64+byte(i>>16&0x3f), byte(i>>8), byte(i)).String()
}

// Run registers the nodes and keeps them alive, and serves the kubelet server
// if there is one, until ctx ends.
func (n *Nodes) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(n.cfg.Client, 0)
	if n.kubelet != nil {
		n.runtime.pods = factory.Core().V1().Pods().Lister()
		served := make(chan error, 1)
		defer func() {
			if err := <-served; err != nil {
				n.cfg.Log.Error("hollow kubelet server", "err", err)
			}
		}()
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop() // before waiting for the server, when Run fails early
		go func() { served <- n.kubelet.Run(ctx) }()
	}
	if err := n.register(ctx); err != nil {
		return err
	}
	pods := factory.Core().V1().Pods().Informer()
	pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.podChanged(ctx, obj) },
		UpdateFunc: func(_, obj any) { n.podChanged(ctx, obj) },
		DeleteFunc: func(obj any) { n.podGone(obj) },
	})
	nodes := factory.Core().V1().Nodes().Informer()
	nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.nodeChanged(ctx, obj) },
		UpdateFunc: func(_, obj any) { n.nodeChanged(ctx, obj) },
	})
	if n.cfg.Usage != nil {
		go n.reportUsage(ctx, factory.Core().V1().Pods().Lister())
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	n.heartbeat(ctx)
	return nil
}

// register creates the Nodes and their Leases, or refreshes those that exist.
func (n *Nodes) register(ctx context.Context) error {
	return n.forEachNode(ctx, func(ctx context.Context, i int) error {
		name := n.name(i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				corev1.LabelHostname:           name,
				corev1.LabelOSStable:           "linux",
				corev1.LabelArchStable:         "amd64",
				corev1.LabelInstanceTypeStable: "hollow",
				corev1.LabelTopologyZone:       zones[i%len(zones)],
			}},
			Status: n.status(i, true),
		}
		_, err := n.cfg.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = n.postStatus(ctx, i, true)
		}
		if err != nil {
			return fmt.Errorf("registering hollow node %s: %w", name, err)
		}
		return n.renew(ctx, i)
	})
}

// status is what node i reports: its capacity, and Ready unless ready is false.
func (n *Nodes) status(i int, ready bool) corev1.NodeStatus {
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	readyCond := cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")
	if !ready {
		readyCond = cond(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", "hollow node told to stop")
	}
	return corev1.NodeStatus{
		Capacity:    n.cfg.Capacity.DeepCopy(),
		Allocatable: n.cfg.Capacity.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
			readyCond,
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.address(i)},
			{Type: corev1.NodeHostName, Address: n.name(i)},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: n.kubeletPort()}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID: fmt.Sprintf("hollow%026d", i), SystemUUID: fmt.Sprintf("hollow-%d", i), BootID: fmt.Sprintf("hollow-boot-%d", i),
			KernelVersion: "hollow", OSImage: "berth hollow node", ContainerRuntimeVersion: "hollow://1",
			KubeletVersion: "v1.37.2-hollow", OperatingSystem: "linux", Architecture: "amd64",
		},
	}
}

func (n *Nodes) postStatus(ctx context.Context, i int, ready bool) error {
	nodes := n.cfg.Client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, n.name(i), metav1.GetOptions{})
	if err != nil {
		return err
	}
	node.Status = n.status(i, ready)
	_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// renew renews node i's Lease, creating it if missing.
func (n *Nodes) renew(ctx context.Context, i int) error {
	leases := n.cfg.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	name := n.name(i)
	lease, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: nil},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(name),
				LeaseDurationSeconds: ptr.To(int32(4 * n.cfg.RenewInterval / time.Second)),
				RenewTime:            &now,
			},
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(4 * n.cfg.RenewInterval / time.Second))
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the Leases of the nodes that are not stopped, spreading the
// renewals over each interval, until ctx ends.
func (n *Nodes) heartbeat(ctx context.Context) {
	ticker := time.NewTicker(n.cfg.RenewInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n.forEachNode(ctx, func(ctx context.Context, i int) error {
			n.mu.Lock()
			stopped := n.stopped[n.name(i)]
			n.mu.Unlock()
			if stopped {
				return nil
			}
			if err := n.renew(ctx, i); err != nil && ctx.Err() == nil {
				n.cfg.Log.Warn("renewing hollow node lease", "node", n.name(i), "err", err)
			}
			return nil
		})
	}
}

// forEachNode runs f for every node on a few workers.
func (n *Nodes) forEachNode(ctx context.Context, f func(ctx context.Context, i int) error) error {
	const workers = 8
	work := make(chan int)
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			var first error
			for i := range work {
				if err := f(ctx, i); err != nil && first == nil {
					first = err
				}
			}
			errs <- first
		}()
	}
	for i := 0; i < n.cfg.Count && ctx.Err() == nil; i++ {
		work <- i
	}
	close(work)
	var first error
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// nodeChanged follows the heartbeat annotation of a hollow node.
func (n *Nodes) nodeChanged(ctx context.Context, obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	i, ours := n.names[node.Name]
	if !ours {
		return
	}
	stop := node.Annotations[AnnotationHeartbeat] == "stop"
	n.mu.Lock()
	was := n.stopped[node.Name]
	n.stopped[node.Name] = stop
	n.mu.Unlock()
	if was && !stop {
		// Back from the dead: report Ready at once, as a restarted kubelet does.
		go func() {
			if err := n.renew(ctx, i); err == nil {
				n.postStatus(ctx, i, true)
			}
		}()
	}
}
