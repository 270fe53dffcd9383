package probe

import (
	"context"
	"net"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// StatusProvider gives the pod status the kubelet last computed (container IDs,
// states, started flags, pod IP).
type StatusProvider interface {
	PodStatus(uid types.UID) (corev1.PodStatus, bool)
}

// Recorder records events about a pod's container (the kubelet points them at
// spec.containers{name}).
type Recorder interface {
	ContainerEventf(pod *corev1.Pod, container, eventtype, reason, messageFmt string, args ...any)
}

// Update is a change of a container's probe result. A Failure of Liveness or
// Startup asks the kubelet to restart the container.
type Update struct {
	PodUID      types.UID
	Container   string
	ContainerID string
	Kind        Kind
	Result      Result
}

// Config configures a Manager.
type Config struct {
	Prober   *Prober
	Status   StatusProvider
	Recorder Recorder
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Dial opens the connections of the pod's httpGet, tcpSocket and grpc
	// probes (from inside its network namespace, say); nil dials from the
	// host's network. It is asked anew for each probe.
	Dial func(ctx context.Context, pod *corev1.Pod, network, address string) (net.Conn, error)
}

type workerKey struct {
	pod       types.UID
	container string
	kind      Kind
}

type resultKey struct {
	containerID string
	kind        Kind
}

// Manager runs a worker per probed container and kind and keeps their results.
type Manager struct {
	prober   *Prober
	status   StatusProvider
	recorder Recorder
	clock    clock.WithTicker
	dial     func(ctx context.Context, pod *corev1.Pod, network, address string) (net.Conn, error)
	updates  chan Update

	mu      sync.Mutex
	workers map[workerKey]*worker
	results map[resultKey]Result
}

// NewManager returns a Manager for cfg.
func NewManager(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Manager{
		prober:   cfg.Prober,
		status:   cfg.Status,
		recorder: cfg.Recorder,
		clock:    cfg.Clock,
		dial:     cfg.Dial,
		updates:  make(chan Update, 32),
		workers:  map[workerKey]*worker{},
		results:  map[resultKey]Result{},
	}
}

// Updates delivers result changes; the kubelet must keep reading it.
func (m *Manager) Updates() <-chan Update { return m.updates }

// AddPod starts the workers of the probes of the pod's containers and sidecars
// (restartable init containers) that are not running already; they stop with
// ctx, RemovePod, or when the pod is done. Calling it again with the updated pod
// passes it to the running workers: once it has a deletion timestamp, liveness
// and startup probes stop (a pod shutting down is not restarted).
func (m *Manager) AddPod(ctx context.Context, pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	probed := append([]corev1.Container(nil), pod.Spec.Containers...)
	for _, c := range pod.Spec.InitContainers {
		if isSidecar(&c) {
			probed = append(probed, c)
		}
	}
	for _, c := range probed {
		for kind, spec := range map[Kind]*corev1.Probe{Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe, Startup: c.StartupProbe} {
			key := workerKey{pod.UID, c.Name, kind}
			if spec == nil {
				continue
			}
			if w := m.workers[key]; w != nil {
				w.pod.Store(pod)
				continue
			}
			w := &worker{
				m: m, uid: pod.UID, container: c, kind: kind, spec: spec,
				stop: make(chan struct{}), trigger: make(chan struct{}, 1),
			}
			w.pod.Store(pod)
			m.workers[key] = w
			go w.run(ctx)
		}
	}
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// RemovePod stops the workers of the pod with uid.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, w := range m.workers {
		if key.pod == uid {
			close(w.stop)
			delete(m.workers, key)
		}
	}
}

// Result returns a container's last result for a kind.
func (m *Manager) Result(containerID string, kind Kind) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.results[resultKey{containerID, kind}]
	return r, ok
}

// UpdatePodStatus sets the Started and Ready flags of status's containers and
// sidecars from the probes: a running container without a startup probe is
// started, and without a readiness probe ready once started. An init container
// that is not a sidecar is ready once it exited 0.
func (m *Manager) UpdatePodStatus(pod *corev1.Pod, status *corev1.PodStatus) {
	for i := range status.ContainerStatuses {
		m.updateContainer(pod, &status.ContainerStatuses[i])
	}
	for i := range status.InitContainerStatuses {
		c := &status.InitContainerStatuses[i]
		if spec := initContainer(pod, c.Name); spec != nil && isSidecar(spec) {
			m.updateContainer(pod, c)
			continue
		}
		c.Ready = c.State.Terminated != nil && c.State.Terminated.ExitCode == 0
	}
}

func (m *Manager) updateContainer(pod *corev1.Pod, c *corev1.ContainerStatus) {
	started := m.started(pod, c)
	c.Started = &started
	ready := false
	if started {
		m.mu.Lock()
		r, ok := m.results[resultKey{c.ContainerID, Readiness}]
		w := m.workers[workerKey{pod.UID, c.Name, Readiness}]
		m.mu.Unlock()
		switch {
		case ok && r == Success:
			ready = true
		case w == nil:
			ready = !ok // no readiness probe (or one just removed)
		default:
			// Probe at once rather than wait a period to become ready.
			select {
			case w.trigger <- struct{}{}:
			default:
			}
		}
	}
	c.Ready = ready
}

func initContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// started says whether a container counts as started: running, and its startup
// probe (if any) has succeeded.
func (m *Manager) started(pod *corev1.Pod, c *corev1.ContainerStatus) bool {
	if c.State.Running == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.results[resultKey{c.ContainerID, Startup}]; ok {
		return r == Success
	}
	return m.workers[workerKey{pod.UID, c.Name, Startup}] == nil
}

// set records a worker's result and reports a change.
func (m *Manager) set(ctx context.Context, w *worker, r Result) {
	key := resultKey{w.containerID, w.kind}
	m.mu.Lock()
	prev, ok := m.results[key]
	m.results[key] = r
	m.mu.Unlock()
	if ok && prev == r {
		return
	}
	select {
	case m.updates <- Update{PodUID: w.uid, Container: w.container.Name, ContainerID: w.containerID, Kind: w.kind, Result: r}:
	case <-ctx.Done():
	case <-w.stop:
	}
}

func (m *Manager) forget(containerID string, kind Kind) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.results, resultKey{containerID, kind})
}

// removeWorker drops a finished worker and its result.
func (m *Manager) removeWorker(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := workerKey{w.uid, w.container.Name, w.kind}
	if m.workers[key] == w {
		delete(m.workers, key)
	}
	delete(m.results, resultKey{w.containerID, w.kind})
}
