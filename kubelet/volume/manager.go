package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Objects reads the API objects volumes refer to. A missing object is an error
// for which apierrors.IsNotFound is true.
type Objects interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// Config configures a Manager.
type Config struct {
	// PodsDir holds a directory per pod UID; volumes go in <PodsDir>/<UID>/volumes.
	PodsDir string
	Objects Objects
	// Tokens requests projected ServiceAccount tokens; without it such volumes
	// fail to mount.
	Tokens TokenRequester
	// NodeAllocatable stands in for the limits a container does not set, in
	// downward API resourceFieldRefs, and bounds memory-backed emptyDirs.
	NodeAllocatable corev1.ResourceList
	// Tmpfs mounts memory-backed volumes (emptyDir medium Memory, secret,
	// projected) as tmpfs, which needs root; without it they are plain
	// directories.
	Tmpfs bool
	// Clock defaults to the real clock.
	Clock clock.PassiveClock
}

// Manager sets up and tears down pods' volumes. It is safe for concurrent use
// on different pods.
type Manager struct {
	cfg    Config
	tokens tokenCache
	claims claimVolumes
}

// NewManager returns a Manager for cfg.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.PodsDir == "" || !filepath.IsAbs(cfg.PodsDir) {
		return nil, fmt.Errorf("volume manager: pods directory %q must be an absolute path", cfg.PodsDir)
	}
	if cfg.Objects == nil {
		return nil, fmt.Errorf("volume manager: no object source")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Manager{
		cfg:    cfg,
		tokens: tokenCache{requester: cfg.Tokens, clock: cfg.Clock, tokens: map[tokenKey]*authenticationv1.TokenRequest{}},
		claims: claimVolumes{bound: map[claimKey]*corev1.PersistentVolume{}},
	}, nil
}

// MountError is the failure to set up one volume; its text is the message of
// upstream's FailedMount event:
// `MountVolume.SetUp failed for volume "cfg" : configmap "x" not found`.
type MountError struct {
	Volume string
	Err    error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

// Paths maps a pod's volume names to their host paths.
type Paths map[string]string

// SetUp materialises (or refreshes in place) every volume of pod and returns
// their host paths. Volumes that fail are left out of the paths and reported as
// one *MountError each, joined with errors.Join; the others are set up, so the
// call can be repeated until they all succeed (once a missing ConfigMap
// appears, say). Calling it again rewrites configMap, secret, downwardAPI and
// projected files that changed, atomically.
func (m *Manager) SetUp(ctx context.Context, pod *corev1.Pod) (Paths, error) {
	paths := Paths{}
	var errs []error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		p, err := m.setUpVolume(ctx, pod, vol)
		if err != nil {
			errs = append(errs, &MountError{Volume: vol.Name, Err: err})
			continue
		}
		paths[vol.Name] = p
	}
	return paths, errors.Join(errs...)
}

// plugin directory names, as upstream's.
const (
	emptyDirPlugin    = "kubernetes.io~empty-dir"
	configMapPlugin   = "kubernetes.io~configmap"
	secretPlugin      = "kubernetes.io~secret"
	downwardAPIPlugin = "kubernetes.io~downward-api"
	projectedPlugin   = "kubernetes.io~projected"
)

func (m *Manager) volumesDir(uid types.UID) string {
	return filepath.Join(m.cfg.PodsDir, string(uid), "volumes")
}

func (m *Manager) setUpVolume(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume) (string, error) {
	dir := func(plugin string) string { return filepath.Join(m.volumesDir(pod.UID), plugin, vol.Name) }
	var fsGroup *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	src := vol.VolumeSource
	switch {
	case src.EmptyDir != nil:
		d := dir(emptyDirPlugin)
		memory := src.EmptyDir.Medium == corev1.StorageMediumMemory
		var size int64
		if memory {
			size = m.memoryVolumeSize(pod, src.EmptyDir.SizeLimit)
		}
		return d, m.makeDir(d, memory, size, fsGroup)
	case src.ConfigMap != nil:
		payload, err := m.configMapPayload(ctx, pod, src.ConfigMap)
		return m.writeVolume(dir(configMapPlugin), false, fsGroup, payload, err)
	case src.Secret != nil:
		payload, err := m.secretPayload(ctx, pod, src.Secret)
		return m.writeVolume(dir(secretPlugin), true, fsGroup, payload, err)
	case src.DownwardAPI != nil:
		payload, err := m.downwardAPIPayload(pod, src.DownwardAPI.Items, modeOr(src.DownwardAPI.DefaultMode, defaultFileMode))
		return m.writeVolume(dir(downwardAPIPlugin), false, fsGroup, payload, err)
	case src.Projected != nil:
		payload, err := m.projectedPayload(ctx, pod, src.Projected)
		return m.writeVolume(dir(projectedPlugin), true, fsGroup, payload, err)
	case src.HostPath != nil:
		return src.HostPath.Path, checkHostPath(src.HostPath.Path, src.HostPath.Type)
	case src.PersistentVolumeClaim != nil:
		return m.claimPath(ctx, pod, src.PersistentVolumeClaim.ClaimName)
	}
	return "", fmt.Errorf("unsupported volume type (this kubelet supports emptyDir, configMap, secret, downwardAPI, projected, hostPath and persistentVolumeClaim)")
}

// memoryVolumeSize is the size of a memory-backed emptyDir, as upstream's: the
// least of the node's allocatable memory, the pod's memory limit (when every
// container has one) and the volume's sizeLimit; 0 (the kernel's default) when
// none is known.
func (m *Manager) memoryVolumeSize(pod *corev1.Pod, sizeLimit *resource.Quantity) int64 {
	var size int64
	least := func(v int64) {
		if v > 0 && (size == 0 || v < size) {
			size = v
		}
	}
	if q, ok := m.cfg.NodeAllocatable[corev1.ResourceMemory]; ok {
		least(q.Value())
	}
	least(podMemoryLimit(pod))
	if sizeLimit != nil {
		least(sizeLimit.Value())
	}
	return size
}

// podMemoryLimit is the memory a pod's cgroup is limited to: the sum of its
// containers' limits or the largest init container's, whichever is more; 0 when
// a container has no limit.
func podMemoryLimit(pod *corev1.Pod) int64 {
	var sum, initMax int64
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		sum += q.Value()
	}
	for _, c := range pod.Spec.InitContainers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum += q.Value() // a sidecar runs alongside the containers
		} else {
			initMax = max(initMax, q.Value())
		}
	}
	return max(sum, initMax)
}

// makeDir makes a volume directory, world-writable as upstream's emptyDir, on a
// tmpfs when memory-backed and the manager mounts tmpfs. With an fsGroup the
// directory belongs to that group and is set-group-ID, so new files do too.
func (m *Manager) makeDir(dir string, memory bool, size int64, fsGroup *int64) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if memory && m.cfg.Tmpfs {
		if err := mountTmpfs(dir, size); err != nil {
			return err
		}
	}
	mode := fs.FileMode(0o777)
	if fsGroup != nil {
		if err := os.Chown(dir, -1, int(*fsGroup)); err != nil {
			return fmt.Errorf("giving %s to group %d: %w", dir, *fsGroup, err)
		}
		mode |= fs.ModeSetgid
	}
	return os.Chmod(dir, mode)
}

// writeVolume writes an atomically updated volume once its payload is known.
// With an fsGroup, files belong to the group and are group-readable, as
// upstream's volume ownership for read-only volumes.
func (m *Manager) writeVolume(dir string, memory bool, fsGroup *int64, payload map[string]FileProjection, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if err := m.makeDir(dir, memory, 0, fsGroup); err != nil {
		return "", err
	}
	if fsGroup != nil {
		for p, f := range payload {
			f.Mode |= 0o440
			f.FsGroup = fsGroup
			payload[p] = f
		}
	}
	if err := NewAtomicWriter(dir, m.cfg.Clock.Now).Write(payload); err != nil {
		return "", fmt.Errorf("writing %s: %w", dir, err)
	}
	return dir, nil
}

// claimPath resolves a PersistentVolumeClaim to the host path of its bound
// local or hostPath PersistentVolume.
func (m *Manager) claimPath(ctx context.Context, pod *corev1.Pod, claim string) (string, error) {
	pv, err := m.boundVolume(ctx, pod, claim)
	if err != nil {
		return "", err
	}
	switch {
	case pv.Spec.Local != nil:
		dirType := corev1.HostPathDirectory
		return pv.Spec.Local.Path, checkHostPath(pv.Spec.Local.Path, &dirType)
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, checkHostPath(pv.Spec.HostPath.Path, pv.Spec.HostPath.Type)
	}
	return "", fmt.Errorf("persistentvolume %s bound to claim %s/%s is neither local nor hostPath, the kinds this node can mount", pv.Name, pod.Namespace, claim)
}

// boundVolume returns the PersistentVolume bound to a claim of pod, read
// once per pod and claim: a bound claim keeps its volume, and reading both
// on every resync would cost two API requests per claim every few seconds.
func (m *Manager) boundVolume(ctx context.Context, pod *corev1.Pod, claim string) (*corev1.PersistentVolume, error) {
	key := claimKey{pod: pod.UID, claim: claim}
	if pv := m.claims.get(key); pv != nil {
		return pv, nil
	}
	pvc, err := m.cfg.Objects.PersistentVolumeClaim(ctx, pod.Namespace, claim)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumeclaim"), claim)
		}
		return nil, fmt.Errorf("getting persistentvolumeclaim %s/%s: %w", pod.Namespace, claim, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return nil, fmt.Errorf("PVC %s/%s has non-bound phase (%q) or empty pvc.Spec.VolumeName (%q)", pod.Namespace, claim, pvc.Status.Phase, pvc.Spec.VolumeName)
	}
	pv, err := m.cfg.Objects.PersistentVolume(ctx, pvc.Spec.VolumeName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, apierrors.NewNotFound(corev1.Resource("persistentvolume"), pvc.Spec.VolumeName)
		}
		return nil, fmt.Errorf("getting persistentvolume %s: %w", pvc.Spec.VolumeName, err)
	}
	m.claims.put(key, pv)
	return pv, nil
}

type claimKey struct {
	pod   types.UID
	claim string
}

// claimVolumes are the volumes pods' claims were found bound to.
type claimVolumes struct {
	mu    sync.Mutex
	bound map[claimKey]*corev1.PersistentVolume
}

func (c *claimVolumes) get(key claimKey) *corev1.PersistentVolume {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound[key]
}

func (c *claimVolumes) put(key claimKey, pv *corev1.PersistentVolume) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bound[key] = pv
}

// forget drops the pod's claims, once its volumes are torn down.
func (c *claimVolumes) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.bound {
		if key.pod == uid {
			delete(c.bound, key)
		}
	}
}

// TearDown removes the volumes of the pod with uid: it unmounts what it mounted
// and deletes the volume directories (never hostPath or PersistentVolume data,
// which lives elsewhere), then the pod directory if nothing else is in it. A
// mount that cannot be unmounted stops it before anything is deleted.
func (m *Manager) TearDown(ctx context.Context, uid types.UID) error {
	m.tokens.forget(uid)
	m.claims.forget(uid)
	dir := m.volumesDir(uid)
	if err := unmountUnder(dir); err != nil {
		return fmt.Errorf("tearing down volumes of pod %s: %w", uid, err)
	}
	if left, err := mountsUnder(dir); err != nil || len(left) > 0 {
		return fmt.Errorf("tearing down volumes of pod %s: still mounted: %v %v", uid, left, err)
	}
	if err := removeAll(dir); err != nil {
		return fmt.Errorf("tearing down volumes of pod %s: %w", uid, err)
	}
	// Removing a non-empty pod directory fails, and that is fine: it belongs to
	// others too.
	_ = os.Remove(filepath.Dir(dir))
	return nil
}

// PodUIDs lists the pods that have a directory under PodsDir, so the kubelet
// can tear down those it no longer runs.
func (m *Manager) PodUIDs() ([]types.UID, error) {
	entries, err := os.ReadDir(m.cfg.PodsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []types.UID
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out, nil
}
