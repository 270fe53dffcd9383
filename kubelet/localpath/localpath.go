// Package localpath is the node agent's built-in local-path provisioner, as
// k3s ships rancher's: for each PersistentVolumeClaim handed to it (annotated
// volume.kubernetes.io/storage-provisioner: berth.dev/local-path by the
// PersistentVolume binder) whose volume belongs on this node, it makes a
// directory under its Dir, world-writable so that containers running as any
// user can write, and a `local` PersistentVolume pinned to this node and
// reserved for the claim; the binder then binds them. When such a volume is
// Released with reclaimPolicy Delete, or deleted, it removes the directory and
// then the volume (a finalizer keeps the volume until the data is gone). It
// also defines the default StorageClass, local-path, that the server creates.
//
// It only ever removes directories it made: directly under Dir, named for the
// volume, and only for volumes it provisioned on this node, never while a pod
// on this node may still have the directory mounted. It must not bind claims
// (the binder's job) or mount anything (the volume manager's).
package localpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/storage/ephemeral"
)

const (
	// Name is the provisioner's default name, the provisioner of the
	// StorageClass it serves.
	Name = "berth.dev/local-path"
	// Finalizer keeps a volume this provisioner made, with reclaimPolicy
	// Delete, until its directory is removed; external-provisioner's name, so
	// that tools recognise it.
	Finalizer = "external-provisioner.volume.kubernetes.io/finalizer"
	// AnnNode names the node whose directory holds a volume. The API
	// server's NodeRestriction lets a node write only the volumes that name
	// it (noderestriction.LocalVolumeNode, the same key).
	AnnNode = "berth.dev/local-path-node"
)

// The API's annotations this provisioner reads and writes.
const (
	annStorageProvisioner     = "volume.kubernetes.io/storage-provisioner"
	annBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	annSelectedNode           = "volume.kubernetes.io/selected-node"
	annDynamicallyProvisioned = "pv.kubernetes.io/provisioned-by"
	annBetaClass              = "volume.beta.kubernetes.io/storage-class"
)

// Config configures a Provisioner.
type Config struct {
	// Client reaches the API.
	Client kubernetes.Interface
	// NodeName is this node's: volumes are made here for claims whose
	// volume.kubernetes.io/selected-node names it, and pinned to it.
	NodeName string
	// Dir is the absolute directory volume directories go in; made if missing.
	Dir string
	// Provisioner is the name claims are annotated with; Name when empty.
	Provisioner string
	// Default also makes volumes here for claims no one selected a node for
	// (claims of Immediate classes). One node of a cluster should have it.
	Default bool
	// Log is where it logs; slog.Default() when nil.
	Log *slog.Logger
	// Recorder records events on claims and volumes; when nil, Run records
	// them through Client.
	Recorder record.EventRecorder
}

// Provisioner makes and removes local-path volumes for one node.
type Provisioner struct {
	client    kubernetes.Interface
	name      string
	node      string
	dir       string
	isDefault bool
	log       *slog.Logger
	recorder  record.EventRecorder

	factories []informers.SharedInformerFactory
	claims    corelisters.PersistentVolumeClaimLister
	volumes   corelisters.PersistentVolumeLister
	classes   storagelisters.StorageClassLister
	pods      corelisters.PodLister // this node's
	synced    []cache.InformerSynced
	// claimQueue holds namespace/name keys of claims, volumeQueue names of volumes.
	claimQueue, volumeQueue workqueue.TypedRateLimitingInterface[string]
}

// New returns the provisioner; Run starts it.
func New(cfg Config) (*Provisioner, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("local-path provisioner: no client")
	case cfg.NodeName == "":
		return nil, errors.New("local-path provisioner: no node name")
	case cfg.Dir == "" || !filepath.IsAbs(cfg.Dir):
		return nil, fmt.Errorf("local-path provisioner: the volume directory %q is not an absolute path", cfg.Dir)
	}
	if cfg.Provisioner == "" {
		cfg.Provisioner = Name
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	shared := informers.NewSharedInformerFactory(cfg.Client, 0)
	onNode := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}))
	newQueue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
	}
	claims, volumes := shared.Core().V1().PersistentVolumeClaims(), shared.Core().V1().PersistentVolumes()
	classes, pods := shared.Storage().V1().StorageClasses(), onNode.Core().V1().Pods()
	p := &Provisioner{
		client:      cfg.Client,
		name:        cfg.Provisioner,
		node:        cfg.NodeName,
		dir:         filepath.Clean(cfg.Dir),
		isDefault:   cfg.Default,
		log:         cfg.Log.With("component", "local-path-provisioner"),
		recorder:    cfg.Recorder,
		factories:   []informers.SharedInformerFactory{shared, onNode},
		claims:      claims.Lister(),
		volumes:     volumes.Lister(),
		classes:     classes.Lister(),
		pods:        pods.Lister(),
		claimQueue:  newQueue("local-path-claims"),
		volumeQueue: newQueue("local-path-volumes"),
	}
	if err := p.handle(claims.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    p.claimChanged,
		UpdateFunc: func(_, cur any) { p.claimChanged(cur) },
	}); err != nil {
		return nil, err
	}
	if err := p.handle(volumes.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    p.volumeChanged,
		UpdateFunc: func(_, cur any) { p.volumeChanged(cur) },
	}); err != nil {
		return nil, err
	}
	// A pod leaving may free a released volume's directory for removal.
	if err := p.handle(pods.Informer(), cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, cur any) { p.podChanged(cur) },
		DeleteFunc: p.podGone,
	}); err != nil {
		return nil, err
	}
	p.synced = append(p.synced, classes.Informer().HasSynced)
	return p, nil
}

func (p *Provisioner) handle(informer cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
	if _, err := informer.AddEventHandler(h); err != nil {
		return fmt.Errorf("local-path provisioner: watching: %w", err)
	}
	p.synced = append(p.synced, informer.HasSynced)
	return nil
}

// Run provisions and cleans up until ctx ends.
func (p *Provisioner) Run(ctx context.Context) error {
	defer utilruntime.HandleCrash()
	defer p.claimQueue.ShutDown()
	defer p.volumeQueue.ShutDown()
	if p.recorder == nil {
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: p.client.CoreV1().Events("")})
		defer broadcaster.Shutdown()
		p.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: p.name + "_" + p.node, Host: p.node})
	}
	for _, f := range p.factories {
		f.Start(ctx.Done())
		defer f.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return nil // ctx ended first
	}
	// One worker each: provisioning is rare, and one worker never races itself
	// for a claim's directory.
	go wait.UntilWithContext(ctx, func(ctx context.Context) { p.work(ctx, p.claimQueue, p.syncClaim) }, time.Second)
	go wait.UntilWithContext(ctx, func(ctx context.Context) { p.work(ctx, p.volumeQueue, p.syncVolume) }, time.Second)
	<-ctx.Done()
	return nil
}

// work takes keys from queue and syncs them until the queue shuts down,
// requeueing with back-off those whose sync fails.
func (p *Provisioner) work(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], sync func(context.Context, string) error) {
	for {
		key, quit := queue.Get()
		if quit {
			return
		}
		if err := sync(ctx, key); err != nil {
			p.log.Warn("will retry", "key", key, "err", err)
			queue.AddRateLimited(key)
		} else {
			queue.Forget(key)
		}
		queue.Done(key)
	}
}

func unwrap(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

func (p *Provisioner) claimChanged(obj any) {
	if claim, ok := unwrap(obj).(*corev1.PersistentVolumeClaim); ok && p.handedToMe(claim) {
		p.claimQueue.Add(claim.Namespace + "/" + claim.Name)
	}
}

func (p *Provisioner) volumeChanged(obj any) {
	if pv, ok := unwrap(obj).(*corev1.PersistentVolume); ok && p.mine(pv) {
		p.volumeQueue.Add(pv.Name)
	}
}

// podChanged queues this node's volumes of the claims of a pod that has
// finished: it no longer holds their directories.
func (p *Provisioner) podChanged(obj any) {
	if pod, ok := unwrap(obj).(*corev1.Pod); ok && podDone(pod) {
		p.queueVolumesOf(pod)
	}
}

// podGone queues this node's volumes of the claims of a pod that has gone.
func (p *Provisioner) podGone(obj any) {
	if pod, ok := unwrap(obj).(*corev1.Pod); ok {
		p.queueVolumesOf(pod)
	}
}

func (p *Provisioner) queueVolumesOf(pod *corev1.Pod) {
	volumes, err := p.volumes.List(labels.Everything())
	if err != nil {
		p.log.Error("listing volumes", "err", err)
		return
	}
	claims := podClaims(pod)
	for _, pv := range volumes {
		if ref := pv.Spec.ClaimRef; p.mine(pv) && ref != nil && ref.Namespace == pod.Namespace && slices.Contains(claims, ref.Name) {
			p.volumeQueue.Add(pv.Name)
		}
	}
}

// handedToMe reports whether a claim asks this provisioner for a volume on
// this node.
func (p *Provisioner) handedToMe(claim *corev1.PersistentVolumeClaim) bool {
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil {
		return false
	}
	if claim.Annotations[annStorageProvisioner] != p.name && claim.Annotations[annBetaStorageProvisioner] != p.name {
		return false
	}
	switch node := claim.Annotations[annSelectedNode]; node {
	case "":
		return p.isDefault
	default:
		return node == p.node
	}
}

// mine reports whether this provisioner made a volume, on this node.
func (p *Provisioner) mine(pv *corev1.PersistentVolume) bool {
	return pv.Annotations[annDynamicallyProvisioned] == p.name && pv.Annotations[AnnNode] == p.node
}

func podDone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// podClaims names the claims a pod mounts, generic ephemeral volumes' included.
func podClaims(pod *corev1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			names = append(names, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			names = append(names, ephemeral.VolumeClaimName(pod, &v))
		}
	}
	return names
}
