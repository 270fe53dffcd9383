// Package nodestatus registers the real kubelet's Node and keeps it alive, as
// upstream's kubelet does: it creates the Node (or brings an existing one's
// labels and status up to date), renews its Lease in kube-node-lease, and
// reports the host's capacity, addresses, system info and pressure conditions
// in the Node's status, writing it only when it changed or when the report
// interval passed.
//
// It owns the Node's standard labels, its status fields listed in setStatus and
// its Lease, and nothing else: it must not touch pods, evict, enforce
// allocatable or change the host; it reads the host only through Host. The
// hollow nodes of kubelet/hollow are the fake counterpart for many nodes.
package nodestatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Defaults, as upstream's kubelet has them.
const (
	DefaultMaxPods              = 110
	DefaultKubeletPort          = 10250
	DefaultRenewInterval        = 10 * time.Second
	DefaultLeaseDuration        = 40 * time.Second
	DefaultStatusUpdateInterval = 10 * time.Second
	DefaultStatusReportInterval = 5 * time.Minute
)

// Config describes the node.
type Config struct {
	Client kubernetes.Interface
	// NodeName is the Node's name, and its kubernetes.io/hostname label and
	// Hostname address; default: this host's name, lower-cased.
	NodeName string
	// Addresses are reported as they are; when empty, the node reports the
	// host's InternalIP (Facts.InternalIP) and NodeName as Hostname.
	Addresses []corev1.NodeAddress
	// KubeletPort is status.daemonEndpoints.kubeletEndpoint.port (default
	// 10250).
	KubeletPort int32
	// Labels are set on the Node besides the standard ones
	// (kubernetes.io/hostname, os and arch, and their beta forms), which they
	// may not override.
	Labels map[string]string
	// KubeletVersion ("v1.37.2") and ContainerRuntimeVersion ("berth://0.1.0")
	// go into status.nodeInfo.
	KubeletVersion, ContainerRuntimeVersion string
	// FSPath is a directory on the file system holding the kubelet's data; its
	// size is the ephemeral-storage capacity and its free space decides
	// DiskPressure. Required.
	FSPath string
	// MaxPods is the pods capacity (default 110).
	MaxPods int
	// Images, when set, lists the images on the node for status.images.
	Images func(ctx context.Context) ([]corev1.ContainerImage, error)
	// Ready, when set, says whether the node can run pods: an error makes
	// Ready False (KubeletNotReady) with the error as its message.
	Ready func(ctx context.Context) error
	// RenewInterval is how often the Lease is renewed (default 10s); it lasts
	// LeaseDuration (default 40s).
	RenewInterval, LeaseDuration time.Duration
	// StatusUpdateInterval is how often the status is recomputed (default
	// 10s); it is written when it changed, or when StatusReportInterval
	// (default 5m) passed since it last was.
	StatusUpdateInterval, StatusReportInterval time.Duration
	// Host reports the host's facts (default LocalHost).
	Host Host
	// Recorder, when set, receives the node's events (Starting, NodeReady,
	// NodeHasSufficientMemory, ...); client-go's record.EventRecorder is one.
	Recorder Recorder
	Clock    clock.WithTicker // default: the real clock
	Log      *slog.Logger
}

// Recorder records events; client-go's record.EventRecorder is one.
type Recorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Node is a registered node that keeps itself alive.
type Node struct {
	cfg   Config
	clock clock.WithTicker
	log   *slog.Logger
	ref   *corev1.ObjectReference // events' object, as upstream names a node

	// lastReport is when the status was last written; the status loop owns it
	// once registration is done.
	lastReport time.Time
	// lease is the Lease as last read or written; the lease loop owns it.
	lease *coordinationv1.Lease
}

// New checks cfg and fills in its defaults; nothing is written before Run.
func New(cfg Config) (*Node, error) {
	if cfg.Client == nil {
		return nil, errors.New("node status: a client is required")
	}
	if cfg.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node status: naming the node after the host: %w", err)
		}
		cfg.NodeName = strings.ToLower(host)
	}
	if errs := validation.IsDNS1123Subdomain(cfg.NodeName); len(errs) > 0 {
		return nil, fmt.Errorf("node status: node name %q is invalid: %s", cfg.NodeName, strings.Join(errs, "; "))
	}
	if cfg.FSPath == "" {
		return nil, errors.New("node status: FSPath, a directory on the kubelet's file system, is required")
	}
	if info, err := os.Stat(cfg.FSPath); err != nil {
		return nil, fmt.Errorf("node status: checking FSPath: %w", err)
	} else if !info.IsDir() {
		return nil, fmt.Errorf("node status: FSPath %s is not a directory", cfg.FSPath)
	}
	n := &Node{cfg: cfg}
	standard := n.standardLabels()
	for k, v := range cfg.Labels {
		if _, ok := standard[k]; ok {
			return nil, fmt.Errorf("node status: label %s is set by the kubelet and cannot be given", k)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("node status: label key %q is invalid: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("node status: label %s value %q is invalid: %s", k, v, strings.Join(errs, "; "))
		}
	}
	for _, a := range cfg.Addresses {
		if a.Type == "" || a.Address == "" {
			return nil, fmt.Errorf("node status: address %+v needs a type and an address", a)
		}
	}
	if cfg.MaxPods < 0 || cfg.KubeletPort < 0 {
		return nil, errors.New("node status: MaxPods and KubeletPort cannot be negative")
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = DefaultMaxPods
	}
	if cfg.KubeletPort == 0 {
		cfg.KubeletPort = DefaultKubeletPort
	}
	cfg.RenewInterval = orDefault(cfg.RenewInterval, DefaultRenewInterval)
	cfg.LeaseDuration = orDefault(cfg.LeaseDuration, DefaultLeaseDuration)
	cfg.StatusUpdateInterval = orDefault(cfg.StatusUpdateInterval, DefaultStatusUpdateInterval)
	cfg.StatusReportInterval = orDefault(cfg.StatusReportInterval, DefaultStatusReportInterval)
	if cfg.LeaseDuration < time.Second || cfg.RenewInterval >= cfg.LeaseDuration {
		return nil, fmt.Errorf("node status: the lease duration (%s) must be at least 1s and longer than the renew interval (%s)", cfg.LeaseDuration, cfg.RenewInterval)
	}
	if cfg.Host == nil {
		cfg.Host = LocalHost{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n.cfg = cfg
	n.clock = cfg.Clock
	n.log = cfg.Log.With("node", cfg.NodeName)
	n.ref = &corev1.ObjectReference{Kind: "Node", Name: cfg.NodeName, UID: types.UID(cfg.NodeName)}
	return n, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Name is the Node's name.
func (n *Node) Name() string { return n.cfg.NodeName }

// Run registers the Node, retrying until the API accepts it, then renews its
// Lease and updates its status until ctx ends, when it returns nil. It fails
// only when the host's facts cannot be read at the start.
func (n *Node) Run(ctx context.Context) error {
	n.event(corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	facts, err := n.cfg.Host.Facts(ctx, n.cfg.FSPath)
	if err != nil {
		return fmt.Errorf("registering node %s: reading host facts: %w", n.cfg.NodeName, err)
	}
	backoff := 100 * time.Millisecond
	for {
		err := n.register(ctx, facts)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		n.log.Warn("registering node; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-n.clock.After(backoff):
		}
		backoff = min(2*backoff, 7*time.Second)
		if f, err := n.cfg.Host.Facts(ctx, n.cfg.FSPath); err == nil {
			facts = f
		}
	}
	n.log.Info("registered node")

	var wg sync.WaitGroup
	wg.Go(func() { n.every(ctx, n.cfg.RenewInterval, true, "renewing node lease", n.renewLease) })
	wg.Go(func() { n.every(ctx, n.cfg.StatusUpdateInterval, false, "updating node status", n.syncStatus) })
	wg.Wait()
	return nil
}

// every runs f every interval until ctx ends, and at once if now is true,
// giving each round at most an interval; failures are logged and left to the
// next round.
func (n *Node) every(ctx context.Context, interval time.Duration, now bool, what string, f func(context.Context) error) {
	ticker := n.clock.NewTicker(interval)
	defer ticker.Stop()
	for {
		if now {
			round, cancel := context.WithTimeout(ctx, interval)
			err := f(round)
			cancel()
			if err != nil && ctx.Err() == nil {
				n.log.Warn(what, "err", err)
			}
		}
		now = true
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		}
	}
}

// register creates the Node, or brings an existing one up to date.
func (n *Node) register(ctx context.Context, facts Facts) error {
	nodes := n.cfg.Client.CoreV1().Nodes()
	now := n.clock.Now()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.cfg.NodeName, Labels: n.labels()}}
	changed := n.setStatus(node, facts, n.images(ctx, nil), n.readiness(ctx), metav1.NewTime(now))
	_, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if err == nil {
		n.lastReport = now
		n.recordTransitions(changed)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", n.cfg.NodeName, err)
	}
	existing, err := nodes.Get(ctx, n.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("registering node %s: reading the existing node: %w", n.cfg.NodeName, err)
	}
	if err := n.update(ctx, existing, facts, true); err != nil {
		return fmt.Errorf("registering node %s: updating the existing node: %w", n.cfg.NodeName, err)
	}
	return nil
}

// syncStatus recomputes the status from the host and writes it if needed.
func (n *Node) syncStatus(ctx context.Context) error {
	facts, err := n.cfg.Host.Facts(ctx, n.cfg.FSPath)
	if err != nil {
		return fmt.Errorf("reading host facts: %w", err)
	}
	// The API server's cache is fresh enough for what is compared here, as
	// upstream reads it.
	node, err := n.cfg.Client.CoreV1().Nodes().Get(ctx, n.cfg.NodeName, metav1.GetOptions{ResourceVersion: "0"})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("node %s was deleted; restart the kubelet to register it again: %w", n.cfg.NodeName, err)
	}
	if err != nil {
		return fmt.Errorf("reading node %s: %w", n.cfg.NodeName, err)
	}
	return n.update(ctx, node, facts, false)
}

// update sets the node's labels if any is missing, and writes its status when
// it changed (heartbeats aside), when the report interval passed, or when
// forced.
func (n *Node) update(ctx context.Context, old *corev1.Node, facts Facts, force bool) error {
	nodes := n.cfg.Client.CoreV1().Nodes()
	now := n.clock.Now()
	if labels := n.labelsToSet(old); labels != nil {
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		if err != nil {
			return fmt.Errorf("setting labels of node %s: %w", n.cfg.NodeName, err)
		}
		if old, err = nodes.Patch(ctx, n.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("setting labels of node %s: %w", n.cfg.NodeName, err)
		}
	}
	node := old.DeepCopy()
	changed := n.setStatus(node, facts, n.images(ctx, old.Status.Images), n.readiness(ctx), metav1.NewTime(now))
	if !force && !statusChanged(&old.Status, &node.Status) && now.Before(n.lastReport.Add(n.cfg.StatusReportInterval)) {
		return nil
	}
	patch, err := statusPatch(old, node)
	if err != nil {
		return fmt.Errorf("updating status of node %s: %w", n.cfg.NodeName, err)
	}
	if _, err := nodes.Patch(ctx, n.cfg.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("updating status of node %s: %w", n.cfg.NodeName, err)
	}
	n.lastReport = now
	n.recordTransitions(changed)
	return nil
}

// images lists the node's images with Config.Images, keeping the last ones
// (nil: none yet) when it fails.
func (n *Node) images(ctx context.Context, last []corev1.ContainerImage) []corev1.ContainerImage {
	if n.cfg.Images == nil {
		return nil
	}
	images, err := n.cfg.Images(ctx)
	if err != nil {
		n.log.Warn("listing images for the node status", "err", err)
		return last
	}
	if images == nil {
		images = []corev1.ContainerImage{}
	}
	return images
}

// recordTransitions records an event per condition that changed, as upstream
// words them.
func (n *Node) recordTransitions(changed []transition) {
	for _, t := range changed {
		n.event(t.eventType, t.reason, fmt.Sprintf("Node %s status is now: %s", n.cfg.NodeName, t.reason))
	}
}

func (n *Node) event(eventType, reason, message string) {
	if n.cfg.Recorder != nil {
		n.cfg.Recorder.Eventf(n.ref, eventType, reason, "%s", message)
	}
}
