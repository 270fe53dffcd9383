// Package persistentvolume is the PersistentVolume binder, upstream's
// persistentvolume-binder as users see it. It binds each Pending
// PersistentVolumeClaim to an Available PersistentVolume that fits (class,
// access modes, capacity, label selector, volumeMode; the smallest fit first),
// honouring pre-binding from either side (a claim's spec.volumeName, a volume's
// claimRef); it keeps both objects' phases (volumes Available, Bound, Released,
// Failed; claims Pending, Bound, Lost) and the bind annotations, gives claims
// created before a default StorageClass existed that class, and hands claims
// nothing fits to their class's provisioner by annotating them
// volume.kubernetes.io/storage-provisioner. Classes with volumeBindingMode
// WaitForFirstConsumer wait for a node: the claim's
// volume.kubernetes.io/selected-node annotation, or, until the scheduler sets
// that itself, the node a pod using the claim was scheduled to. When a claim
// goes, its volume is Released and reclaimed by its policy.
//
// It never creates or deletes volumes and never touches storage: provisioners
// (such as the node agent's local-path provisioner) create volumes and, for
// those they provisioned, delete them and their data once Released.
package persistentvolume

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-helpers/storage/ephemeral"

	"berth.dev/berth/orchestrator/controller/loop"
)

// The annotations of binding and provisioning, as upstream spells them: other
// binders, provisioners and tools read them.
const (
	// AnnBindCompleted on a claim says it has been bound once: from then on a
	// missing volume makes it Lost rather than Pending.
	AnnBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnBoundByController on a volume or claim says the binder, not a user,
	// wrote its half of the binding.
	AnnBoundByController = "pv.kubernetes.io/bound-by-controller"
	// AnnDynamicallyProvisioned on a volume names the provisioner that made it,
	// which also deletes it.
	AnnDynamicallyProvisioned = "pv.kubernetes.io/provisioned-by"
	// AnnStorageProvisioner on a claim names the provisioner asked to make its
	// volume.
	AnnStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	// AnnBetaStorageProvisioner is AnnStorageProvisioner's older name, still
	// read by older provisioners.
	AnnBetaStorageProvisioner = "volume.beta.kubernetes.io/storage-provisioner"
	// AnnSelectedNode on a claim of a WaitForFirstConsumer class names the node
	// its volume must be usable from.
	AnnSelectedNode = "volume.kubernetes.io/selected-node"
	// NotSupportedProvisioner is the provisioner of classes whose volumes are
	// only ever made by hand.
	NotSupportedProvisioner = "kubernetes.io/no-provisioner"
)

// Event reasons, as upstream.
const (
	reasonFailedBinding        = "FailedBinding"
	reasonVolumeMismatch       = "VolumeMismatch"
	reasonProvisioningFailed   = "ProvisioningFailed"
	reasonExternalProvisioning = "ExternalProvisioning"
	reasonWaitForFirstConsumer = "WaitForFirstConsumer"
	reasonWaitForPodScheduled  = "WaitForPodScheduled"
	reasonClaimLost            = "ClaimLost"
	reasonClaimMisbound        = "ClaimMisbound"
	reasonVolumeFailedDelete   = "VolumeFailedDelete"
	reasonVolumeFailedRecycle  = "VolumeFailedRecycle"
)

// Option configures a Controller.
type Option func(*Controller)

// WithClock sets the clock of volumes' lastPhaseTransitionTime.
func WithClock(now func() time.Time) Option { return func(c *Controller) { c.now = now } }

// Controller binds claims to volumes and keeps their phases.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	volumes  corelisters.PersistentVolumeLister
	claims   corelisters.PersistentVolumeClaimLister
	classes  storagelisters.StorageClassLister
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	synced   []cache.InformerSynced
	// claimQueue holds namespace/name keys of claims, volumeQueue names of volumes.
	claimQueue, volumeQueue workqueue.TypedRateLimitingInterface[string]
	now                     func() time.Time
	log                     *slog.Logger
}

// New returns the binder; it registers its informers with f (persistent volumes
// and claims, storage classes, pods, nodes): start f after New.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, opts ...Option) *Controller {
	volumes, claims := f.Core().V1().PersistentVolumes(), f.Core().V1().PersistentVolumeClaims()
	classes, pods, nodes := f.Storage().V1().StorageClasses(), f.Core().V1().Pods(), f.Core().V1().Nodes()
	newQueue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
	}
	c := &Controller{
		client:      client,
		recorder:    recorder,
		volumes:     volumes.Lister(),
		claims:      claims.Lister(),
		classes:     classes.Lister(),
		pods:        pods.Lister(),
		nodes:       nodes.Lister(),
		claimQueue:  newQueue("persistentvolume-binder-claims"),
		volumeQueue: newQueue("persistentvolume-binder-volumes"),
		now:         time.Now,
		log:         slog.Default().With("controller", "persistentvolume-binder"),
	}
	for _, o := range opts {
		o(c)
	}
	c.handle(claims.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueClaim,
		UpdateFunc: func(_, cur any) { c.enqueueClaim(cur) },
		DeleteFunc: c.claimDeleted,
	})
	c.handle(volumes.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.volumeChanged,
		UpdateFunc: func(_, cur any) { c.volumeChanged(cur) },
		DeleteFunc: c.volumeDeleted,
	})
	// A new or changed class may make a default or a provisioner appear.
	c.handle(classes.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueUnboundClaims() },
		UpdateFunc: func(_, _ any) { c.enqueueUnboundClaims() },
	})
	// A pod being created or scheduled is what WaitForFirstConsumer claims wait for.
	c.handle(pods.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, cur any) { c.podChanged(cur) },
	})
	c.synced = append(c.synced, nodes.Informer().HasSynced)
	return c
}

func (c *Controller) handle(informer cache.SharedIndexInformer, h cache.ResourceEventHandler) {
	if _, err := informer.AddEventHandler(h); err != nil {
		c.log.Error("adding event handler", "err", err)
	}
	c.synced = append(c.synced, informer.HasSynced)
}

// Run binds with the given number of workers per queue until ctx ends. One is
// enough and what upstream runs: more workers only race each other for the same
// volumes, which the API's conflicts then sort out.
func (c *Controller) Run(ctx context.Context, workers int) {
	go loop.Run(ctx, "persistentvolume-binder-volumes", c.volumeQueue, workers, c.syncVolume, c.synced...)
	loop.Run(ctx, "persistentvolume-binder-claims", c.claimQueue, workers, c.syncClaim, c.synced...)
}

func unwrap(obj any) any {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return tomb.Obj
	}
	return obj
}

func (c *Controller) enqueueClaim(obj any) {
	if claim, ok := unwrap(obj).(*corev1.PersistentVolumeClaim); ok {
		c.claimQueue.Add(claim.Namespace + "/" + claim.Name)
	}
}

// claimDeleted releases the claim's volume: the one it names, or one a
// provisioner made for it that it was not yet bound to.
func (c *Controller) claimDeleted(obj any) {
	claim, ok := unwrap(obj).(*corev1.PersistentVolumeClaim)
	if !ok {
		return
	}
	if claim.Spec.VolumeName != "" {
		c.volumeQueue.Add(claim.Spec.VolumeName)
	}
	volumes, err := c.volumes.List(labels.Everything())
	if err != nil {
		c.log.Error("listing volumes", "err", err)
		return
	}
	for _, pv := range volumes {
		if ref := pv.Spec.ClaimRef; ref != nil && ref.UID == claim.UID && ref.Namespace == claim.Namespace && ref.Name == claim.Name {
			c.volumeQueue.Add(pv.Name)
		}
	}
}

// volumeChanged syncs the volume and, when it may be free for a claim, the
// claims still waiting for one.
func (c *Controller) volumeChanged(obj any) {
	pv, ok := unwrap(obj).(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.volumeQueue.Add(pv.Name)
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == "" {
		c.enqueueUnboundClaims()
	}
}

// volumeDeleted makes the claim bound to the volume Lost.
func (c *Controller) volumeDeleted(obj any) {
	pv, ok := unwrap(obj).(*corev1.PersistentVolume)
	if !ok || pv.Spec.ClaimRef == nil {
		return
	}
	c.claimQueue.Add(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
}

// podChanged queues the unbound claims a pod uses.
func (c *Controller) podChanged(obj any) {
	pod, ok := unwrap(obj).(*corev1.Pod)
	if !ok {
		return
	}
	for _, name := range podClaims(pod) {
		claim, err := c.claims.PersistentVolumeClaims(pod.Namespace).Get(name)
		if err != nil || hasAnnotation(claim.ObjectMeta, AnnBindCompleted) {
			continue
		}
		c.claimQueue.Add(pod.Namespace + "/" + name)
	}
}

func (c *Controller) enqueueUnboundClaims() {
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		c.log.Error("listing claims", "err", err)
		return
	}
	for _, claim := range claims {
		if !hasAnnotation(claim.ObjectMeta, AnnBindCompleted) {
			c.claimQueue.Add(claim.Namespace + "/" + claim.Name)
		}
	}
}

// podClaims names the claims a pod mounts, generic ephemeral volumes' included
// (their claim is named <pod>-<volume>).
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
