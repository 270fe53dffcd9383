package pods

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"berth.dev/berth/kubelet/envvars"
	"berth.dev/berth/kubelet/images"
	"berth.dev/berth/kubelet/probe"
	"berth.dev/berth/kubelet/runtime"
	"berth.dev/berth/kubelet/volume"
)

// ImageService is what the pod sync needs of the image store.
type ImageService interface {
	Get(ctx context.Context, ref string) (images.Image, error)
	Pull(ctx context.Context, ref string, opts ...images.PullOption) (images.Image, error)
	CreateRootfs(ctx context.Context, id string, img images.Image) (images.Rootfs, error)
	RemoveRootfs(ctx context.Context, id string) error
}

// VolumeManager sets up and tears down pods' volumes.
type VolumeManager interface {
	SetUp(ctx context.Context, pod *corev1.Pod) (volume.Paths, error)
	TearDown(ctx context.Context, uid types.UID) error
	PodUIDs() ([]types.UID, error)
}

// Network connects pod sandboxes to the node's pod network. Both methods
// are idempotent per owner (the pod's UID), also across restarts.
type Network interface {
	// Add gives the network namespace at netnsPath an interface on the pod
	// network and returns its addresses, one per family.
	Add(ctx context.Context, owner, netnsPath string, hostPorts []HostPort) ([]net.IP, error)
	// Remove releases the owner's addresses, links and host ports.
	Remove(ctx context.Context, owner string) error
}

// HostPort is a container port published on the node (spec.containers[].ports
// with hostPort).
type HostPort struct {
	Protocol      corev1.Protocol
	HostIP        string
	HostPort      int32
	ContainerPort int32
}

// EnvBuilder builds a container's environment.
type EnvBuilder interface {
	Env(ctx context.Context, in envvars.Input) ([]corev1.EnvVar, error)
}

// SecretGetter reads one Secret; a missing one is an error for which
// apierrors.IsNotFound is true.
type SecretGetter interface {
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// PodObjects keeps the Secrets and ConfigMaps of this node's pods readable
// one by one, the only way a node may read them (kubelet/objectcache): the
// Kubelet registers every pod bound to the node as it sees it, and
// unregisters it once it is deleted from the API.
type PodObjects interface {
	Register(pod *corev1.Pod)
	Unregister(uid types.UID)
	// Run keeps the registered pods' objects current until ctx ends,
	// calling changed (which must not block) for each pod that references
	// an object that changed.
	Run(ctx context.Context, changed func(pod types.UID)) error
}

// Config configures a Kubelet.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	Runtime  runtime.Runtime
	Images   ImageService
	Volumes  VolumeManager
	Env      EnvBuilder
	// Network gives pods their addresses; without it pods have only
	// loopback (and hostNetwork pods the host's network).
	Network Network
	// Secrets reads imagePullSecrets.
	Secrets SecretGetter
	// Objects learns which Secrets and ConfigMaps the pods reference; the
	// Kubelet runs it, and wakes the pods referencing an object that
	// changed, so that their volumes are refreshed at once.
	Objects PodObjects
	// Recorder records pod events (source component "kubelet", host NodeName).
	Recorder record.EventRecorder
	// PodsDir holds a directory per pod UID for the files the kubelet makes
	// (/etc/hosts, termination logs); the volume manager shares it.
	PodsDir string
	// LogsDir holds container logs as upstream lays them out:
	// <LogsDir>/<namespace>_<name>_<uid>/<container>/<restart>.log.
	LogsDir string
	// HostIPs are the node's addresses, reported as the pods' hostIPs (and
	// as podIPs of hostNetwork pods).
	HostIPs []string
	// NodeAllocatable stands in for limits a container does not set.
	NodeAllocatable corev1.ResourceList
	// ResolvConf is the host's resolver configuration, which pods get while
	// no cluster DNS is configured (and with dnsPolicy Default).
	ResolvConf string
	// ClusterDNS and ClusterDomain configure ClusterFirst pods' resolvers.
	ClusterDNS    []string
	ClusterDomain string
	// KubeVersion names probes' user agent (kube-probe/1.37).
	KubeVersion string
	// ResyncInterval is how often every pod is reconciled without a cause
	// (default 10s); ConfigMap and Secret volumes are refreshed at this pace.
	ResyncInterval time.Duration
	// Routers are the parts of this node that send pods new connections
	// (kube-proxy's rules, the Ingress controller). A pod deleted with a
	// grace period keeps running, before its preStop hooks and SIGTERM,
	// until none of them routes to it and DrainSettle more has passed for
	// the other nodes' to catch up: a rollout refuses no connection.
	Routers     []Router
	DrainSettle time.Duration
	Clock       clock.WithTicker
	Log         *slog.Logger
}

// Kubelet runs the pods bound to one node. Create it with New.
type Kubelet struct {
	cfg    Config
	log    *slog.Logger
	clock  clock.WithTicker
	pods   corelisters.PodLister
	synced cache.InformerSynced
	probes *probe.Manager
	images *imagePuller
	back   *backoff

	mu       sync.Mutex
	workers  map[types.UID]*worker
	statuses map[types.UID]corev1.PodStatus // last computed, for probes and the server
	ctx      context.Context                // Run's, for workers started by events
	wg       sync.WaitGroup
}

// New returns a Kubelet for cfg, reading pods from podInformer, which must
// be limited to pods bound to cfg.NodeName.
func New(cfg Config, podInformer coreinformers.PodInformer) (*Kubelet, error) {
	if cfg.Client == nil || cfg.Runtime == nil || cfg.Images == nil || cfg.Volumes == nil || cfg.Env == nil || cfg.Recorder == nil || cfg.Secrets == nil || cfg.Objects == nil {
		return nil, errors.New("pod sync: client, runtime, images, volumes, env, secrets, pod objects and recorder are required")
	}
	if cfg.NodeName == "" || cfg.PodsDir == "" || cfg.LogsDir == "" {
		return nil, errors.New("pod sync: node name, pods directory and logs directory are required")
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 10 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.NodeAllocatable == nil {
		cfg.NodeAllocatable = corev1.ResourceList{}
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	k := &Kubelet{
		cfg:      cfg,
		log:      cfg.Log.With("component", "kubelet"),
		clock:    cfg.Clock,
		pods:     podInformer.Lister(),
		synced:   podInformer.Informer().HasSynced,
		back:     newBackoff(cfg.Clock, 10*time.Second, 5*time.Minute),
		workers:  map[types.UID]*worker{},
		statuses: map[types.UID]corev1.PodStatus{},
	}
	k.images = &imagePuller{store: cfg.Images, secrets: cfg.Secrets, recorder: k, back: newBackoff(cfg.Clock, 10*time.Second, 5*time.Minute), clock: cfg.Clock}
	k.probes = probe.NewManager(probe.Config{
		Prober:   probe.NewProber(execer{cfg.Runtime}, probe.UserAgent(cfg.KubeVersion)),
		Status:   k,
		Recorder: k,
		Clock:    cfg.Clock,
		Dial:     k.dialPod,
	})
	_, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podChanged(obj) },
		UpdateFunc: func(_, obj any) { k.podChanged(obj) },
		DeleteFunc: k.podDeleted,
	})
	if err != nil {
		return nil, fmt.Errorf("pod sync: watching pods: %w", err)
	}
	return k, nil
}

// Run adopts what the runtime already runs, then syncs pods until ctx ends.
// Containers keep running when it returns: a later Run re-adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	if err := k.adopt(ctx); err != nil {
		return err
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		if err := k.cfg.Objects.Run(ctx, k.kick); err != nil {
			k.log.Error("watching the pods' Secrets and ConfigMaps", "err", err)
		}
	}()
	if !cache.WaitForCacheSync(ctx.Done(), k.synced) {
		k.wg.Wait()
		return ctx.Err()
	}
	k.mu.Lock()
	k.ctx = ctx
	for _, w := range k.workers {
		k.startWorker(ctx, w)
	}
	k.mu.Unlock()
	pods, err := k.pods.List(everything)
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	for _, p := range pods {
		k.podChanged(p)
	}
	if err := k.removeOrphanedVolumes(ctx); err != nil {
		k.log.Warn("cleaning up volumes of gone pods", "err", err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case u := <-k.probes.Updates():
				k.kick(u.PodUID)
			}
		}
	}()
	<-ctx.Done()
	k.wg.Wait()
	return nil
}

func (k *Kubelet) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != k.cfg.NodeName {
		return
	}
	if terminal(pod) {
		// Its containers are done for good: it needs its Secrets and
		// ConfigMaps no more, and a finished Job's pods must not keep
		// watches open for as long as they are kept.
		k.cfg.Objects.Unregister(pod.UID)
	} else {
		k.cfg.Objects.Register(pod)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.workers[pod.UID]
	if w == nil {
		w = newWorker(k, pod.UID)
		k.workers[pod.UID] = w
		if k.ctx != nil {
			k.startWorker(k.ctx, w)
		}
	}
	w.setPod(pod)
}

func (k *Kubelet) podDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	// A deleted pod's worker only stops its containers and removes its
	// files: it reads no Secret or ConfigMap any more.
	k.cfg.Objects.Unregister(pod.UID)
	k.mu.Lock()
	w := k.workers[pod.UID]
	k.mu.Unlock()
	if w != nil {
		w.setGone()
	}
}

// kick wakes the worker of the pod with uid.
func (k *Kubelet) kick(uid types.UID) {
	k.mu.Lock()
	w := k.workers[uid]
	k.mu.Unlock()
	if w != nil {
		w.wake()
	}
}

// startWorker runs w's loop; k.mu is held.
func (k *Kubelet) startWorker(ctx context.Context, w *worker) {
	if w.started {
		return
	}
	w.started = true
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		w.run(ctx)
	}()
}

// retire removes w once its pod is gone and cleaned up; it reports false
// when the pod came back meanwhile.
func (k *Kubelet) retire(w *worker) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !w.isGone() {
		return false
	}
	delete(k.workers, w.uid)
	delete(k.statuses, w.uid)
	return true
}

// PodStatus is the status last computed for a pod (probe.StatusProvider).
func (k *Kubelet) PodStatus(uid types.UID) (corev1.PodStatus, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.statuses[uid]
	return s, ok
}

func (k *Kubelet) setStatus(uid types.UID, s corev1.PodStatus) {
	k.mu.Lock()
	k.statuses[uid] = s
	k.mu.Unlock()
}

// podDialer dials into the network namespace of the pod with uid.
func (k *Kubelet) podDialer(uid types.UID) dialFunc {
	k.mu.Lock()
	w := k.workers[uid]
	k.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.dialer()
}

// dialPod dials address from inside pod's network namespace.
func (k *Kubelet) dialPod(ctx context.Context, pod *corev1.Pod, network, address string) (net.Conn, error) {
	dial := k.podDialer(pod.UID)
	if dial == nil {
		return nil, fmt.Errorf("pod %s has no sandbox", klogRef(pod))
	}
	return dial(ctx, network, address)
}

// removeOrphanedVolumes tears down the volume directories of pods this node no
// longer runs (deleted while the kubelet was down).
func (k *Kubelet) removeOrphanedVolumes(ctx context.Context) error {
	uids, err := k.cfg.Volumes.PodUIDs()
	if err != nil {
		return err
	}
	var errs []error
	for _, uid := range uids {
		k.mu.Lock()
		_, known := k.workers[uid]
		k.mu.Unlock()
		if known {
			continue
		}
		if err := k.removePodFiles(ctx, uid); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// terminal reports whether pod's phase says it is done for good.
func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
