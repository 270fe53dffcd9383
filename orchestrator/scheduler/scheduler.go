package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	policylisters "k8s.io/client-go/listers/policy/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"berth.dev/berth/orchestrator/scheduler/cache"
	"berth.dev/berth/orchestrator/scheduler/framework"
	"berth.dev/berth/orchestrator/scheduler/plugins"
	"berth.dev/berth/orchestrator/scheduler/queue"
)

// DefaultSchedulerName is the spec.schedulerName of pods this scheduler
// takes, and the component its events are recorded as.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Config tunes the scheduler; zero fields take upstream's defaults.
type Config struct {
	// SchedulerName selects the pods to schedule (default-scheduler).
	SchedulerName string
	// PercentageOfNodesToScore caps the share of nodes searched for
	// feasible ones; 0 adapts to the cluster size as upstream does
	// (50% − nodes/125, at least 5%, never fewer than 100 nodes).
	PercentageOfNodesToScore int32
	// Parallelism is how many goroutines filter and score nodes
	// (GOMAXPROCS).
	Parallelism int
	// MaxConcurrentBindings bounds the API calls (bindings, status
	// updates, preemptions) in flight at once (100).
	MaxConcurrentBindings int
	// PodInitialBackoff, PodMaxBackoff and PodMaxInUnschedulable are the
	// queue's backoff (1 s to 10 s) and the longest a pod waits as
	// unschedulable for a helpful cluster event (5 min).
	PodInitialBackoff     time.Duration
	PodMaxBackoff         time.Duration
	PodMaxInUnschedulable time.Duration
}

func (c *Config) setDefaults() {
	if c.SchedulerName == "" {
		c.SchedulerName = DefaultSchedulerName
	}
	if c.Parallelism <= 0 {
		c.Parallelism = runtime.GOMAXPROCS(0)
	}
	if c.MaxConcurrentBindings <= 0 {
		c.MaxConcurrentBindings = 100
	}
}

// api is what the scheduler asks of the API server; tests and benchmarks
// give their own.
type api interface {
	bind(ctx context.Context, pod *corev1.Pod, node string) error
	setUnschedulable(ctx context.Context, pod *corev1.Pod, message string) error
	nominate(ctx context.Context, pod *corev1.Pod, node string) error
	deletePod(ctx context.Context, pod *corev1.Pod) error
}

// Scheduler schedules pods; see the package doc.
type Scheduler struct {
	cfg      Config
	api      api
	recorder record.EventRecorder
	cache    *cache.Cache
	queue    *queue.Queue
	plugins  *plugins.Plugins
	pdbs     policylisters.PodDisruptionBudgetLister
	synced   []toolscache.InformerSynced
	// nominated are the pods preemption made room for.
	nominated *nominator

	// Owned by the scheduling loop.
	snapshot  *framework.Snapshot
	nextStart int
	statuses  []*framework.Status
	feasible  []*framework.NodeInfo
	scores    []int64

	// slots bounds the API calls in flight; inflight waits for them.
	slots    chan struct{}
	inflight sync.WaitGroup
}

// New builds a scheduler on the shared informers of f, registering its
// handlers on the informers of pods, nodes, namespaces, persistent volume
// claims, persistent volumes and pod disruption budgets. The caller starts f
// after New and records events through recorder, whose component should be
// default-scheduler.
func New(client kubernetes.Interface, f informers.SharedInformerFactory, recorder record.EventRecorder, cfg Config) (*Scheduler, error) {
	if cfg.PercentageOfNodesToScore < 0 || cfg.PercentageOfNodesToScore > 100 {
		return nil, fmt.Errorf("building the scheduler: percentageOfNodesToScore %d is not within 0 (adaptive) to 100", cfg.PercentageOfNodesToScore)
	}
	core := f.Core().V1()
	pods, nodes, namespaces := core.Pods(), core.Nodes(), core.Namespaces()
	claims, volumes := core.PersistentVolumeClaims(), core.PersistentVolumes()
	pdbs := f.Policy().V1().PodDisruptionBudgets()
	s := newScheduler(&clientAPI{client: client}, recorder, cfg, &plugins.Plugins{
		Volumes: listerVolumes{claims: claims.Lister(), volumes: volumes.Lister()},
		Namespaces: func(name string) labels.Set {
			ns, err := namespaces.Lister().Get(name)
			if err != nil {
				return nil
			}
			return ns.Labels
		},
	})
	s.pdbs = pdbs.Lister()
	registrations := []struct {
		what     string
		informer toolscache.SharedIndexInformer
		handler  toolscache.ResourceEventHandler
	}{
		{"pods", pods.Informer(), s.podHandler()},
		{"nodes", nodes.Informer(), s.nodeHandler()},
		{"namespaces", namespaces.Informer(), s.moveHandler(framework.InterPodAffinity)},
		{"persistentvolumeclaims", claims.Informer(), s.moveHandler(framework.VolumeBinding)},
		{"persistentvolumes", volumes.Informer(), s.moveHandler(framework.VolumeBinding)},
		{"poddisruptionbudgets", pdbs.Informer(), nil},
	}
	for _, r := range registrations {
		if r.handler != nil {
			if _, err := r.informer.AddEventHandler(r.handler); err != nil {
				return nil, fmt.Errorf("registering the scheduler's %s handler: %w", r.what, err)
			}
		}
		s.synced = append(s.synced, r.informer.HasSynced)
	}
	return s, nil
}

func newScheduler(a api, recorder record.EventRecorder, cfg Config, p *plugins.Plugins) *Scheduler {
	cfg.setDefaults()
	return &Scheduler{
		cfg:      cfg,
		api:      a,
		recorder: recorder,
		cache:    cache.New(),
		queue: queue.New(queue.Config{
			InitialBackoff:     cfg.PodInitialBackoff,
			MaxBackoff:         cfg.PodMaxBackoff,
			MaxInUnschedulable: cfg.PodMaxInUnschedulable,
		}),
		plugins:   p,
		nominated: newNominator(),
		snapshot:  framework.NewSnapshot(),
		slots:     make(chan struct{}, cfg.MaxConcurrentBindings),
	}
}

// Run schedules pods until ctx ends, once the informers have synced, then
// waits for the API calls in flight.
func (s *Scheduler) Run(ctx context.Context) {
	go s.queue.Run(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return
	}
	for ctx.Err() == nil {
		s.scheduleOne(ctx)
	}
	s.inflight.Wait()
}

// scheduleOne runs one scheduling cycle: pop a pod, find it a node, assume
// it there and bind it in the background; or report why nothing fits.
func (s *Scheduler) scheduleOne(ctx context.Context) {
	p, err := s.queue.Pop(ctx)
	if err != nil {
		return
	}
	pod := p.Info.Pod
	if pod.DeletionTimestamp != nil {
		s.queue.Done(pod.UID)
		return
	}
	s.cache.UpdateSnapshot(s.snapshot)
	result, err := s.schedulePod(ctx, p.Info)
	var fitErr *framework.FitError
	switch {
	case errors.As(err, &fitErr):
		fitErr.PostFilterMsg = s.preempt(ctx, p.Info, result.state, fitErr)
		s.queue.AddUnschedulable(pod.UID, fitErr.Plugins(), p.Cycle)
		s.reportFailure(ctx, pod, fitErr.Error())
		return
	case errors.Is(err, errNoNodes):
		// Any node that appears may help.
		s.queue.AddUnschedulable(pod.UID, 0, p.Cycle)
		s.reportFailure(ctx, pod, err.Error())
		return
	case err != nil:
		s.queue.AddBackoff(pod.UID)
		s.reportFailure(ctx, pod, err.Error())
		return
	}
	// The assumed copy shares everything but the node name with the
	// queue's, which nobody modifies.
	assumedPod := *pod
	assumedPod.Spec.NodeName = result.node
	assumed := *p.Info
	assumed.Pod = &assumedPod
	if err := s.cache.Assume(&assumed, result.node); err != nil {
		slog.Error("scheduling pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		s.queue.AddBackoff(pod.UID)
		return
	}
	s.queue.Done(pod.UID)
	s.nominated.remove(pod.UID)
	s.async(ctx, func(ctx context.Context) { s.bind(ctx, pod, result.node) })
}

// async runs call in the background once one of the bounded slots is free.
func (s *Scheduler) async(ctx context.Context, call func(ctx context.Context)) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	s.inflight.Add(1)
	go func() {
		defer func() { <-s.slots; s.inflight.Done() }()
		call(ctx)
	}()
}

func (s *Scheduler) bind(ctx context.Context, pod *corev1.Pod, node string) {
	if err := s.api.bind(ctx, pod, node); err != nil {
		s.cache.Forget(pod.UID)
		if apierrors.IsNotFound(err) || ctx.Err() != nil {
			return
		}
		s.queue.Requeue(pod)
		s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
		return
	}
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
}

// reportFailure records a FailedScheduling event and, unless it already
// says so (setUnschedulable writes nothing then), sets the pod's PodScheduled
// condition to False/Unschedulable.
func (s *Scheduler) reportFailure(ctx context.Context, pod *corev1.Pod, msg string) {
	s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "%s", msg)
	s.async(ctx, func(ctx context.Context) {
		if err := s.api.setUnschedulable(ctx, pod, msg); err != nil && !apierrors.IsNotFound(err) {
			slog.Warn("setting the PodScheduled condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	})
}

// result is where a pod goes, or the state its failure was found with.
type result struct {
	node  string
	state *plugins.State
}

// errNoNodes is upstream's error for a cluster without nodes.
var errNoNodes = errors.New(framework.NoNodesAvailable)

// schedulePod finds the best node for the pod in the current snapshot; a
// *framework.FitError says why none fits.
func (s *Scheduler) schedulePod(ctx context.Context, info *framework.PodInfo) (result, error) {
	snap := s.snapshot
	if snap.Len() == 0 {
		return result{}, errNoNodes
	}
	state, st := s.plugins.PreFilter(ctx, info, snap)
	if st != nil {
		if st.Code == framework.Error {
			return result{}, fmt.Errorf("running PreFilter for pod %s/%s: %s", info.Pod.Namespace, info.Pod.Name, st.Message())
		}
		return result{}, &framework.FitError{NumAllNodes: snap.Len(), PreFilterMsg: st.Message(), Absent: st}
	}
	nominated := s.nominated.forPod(info)
	// A pod that preempted others goes where room was made for it.
	if name := info.Pod.Status.NominatedNodeName; name != "" {
		if n := snap.Get(name); n != nil && state.Filter(withNominated(n, nominated)) == nil {
			return result{node: name}, nil
		}
	}
	nodes, absent := snap.Nodes(), (*framework.Status)(nil)
	if state.NodeNames != nil {
		// Only the named nodes can fit: filter them alone.
		nodes, absent = make([]*framework.NodeInfo, 0, len(state.NodeNames)), plugins.StatusNotInNodeNames
		for _, name := range state.NodeNames {
			if n := snap.Get(name); n != nil {
				nodes = append(nodes, n)
			}
		}
	}
	feasible, fitErr := s.findFeasible(ctx, state, nodes, nominated)
	if fitErr != nil {
		fitErr.NumAllNodes, fitErr.Absent = snap.Len(), absent
	}
	if fitErr != nil {
		return result{state: state}, fitErr
	}
	if len(feasible) == 1 {
		return result{node: feasible[0].Name}, nil
	}
	if cap(s.scores) < len(feasible) {
		s.scores = make([]int64, len(feasible))
	}
	scores := s.scores[:len(feasible)]
	state.Score(ctx, s.cfg.Parallelism, feasible, scores)
	return result{node: selectHost(feasible, scores)}, nil
}

// selectHost picks the highest score, breaking ties at random as upstream
// does so that equal nodes share the load.
func selectHost(nodes []*framework.NodeInfo, scores []int64) string {
	best, ties := 0, 1
	for i := 1; i < len(scores); i++ {
		switch {
		case scores[i] > scores[best]:
			best, ties = i, 1
		case scores[i] == scores[best]:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return nodes[best].Name
}

// numFeasibleNodesToFind is how many feasible nodes are enough to score, as
// upstream's adaptive percentageOfNodesToScore: all of a small cluster, else
// 50% − nodes/125 (at least 5%) of it, but never fewer than 100 nodes.
func numFeasibleNodesToFind(percentage int32, nodes int) int {
	if nodes < 100 || percentage >= 100 {
		return nodes
	}
	p := int(percentage)
	if p <= 0 {
		p = max(5, 50-nodes/125)
	}
	return max(100, nodes*p/100)
}

// findFeasible filters nodes in parallel from where the last cycle stopped,
// until enough feasible nodes are found. Nodes count the nominated pods of
// at least the pod's priority as if they ran there.
func (s *Scheduler) findFeasible(ctx context.Context, state *plugins.State, nodes []*framework.NodeInfo, nominated map[string][]*framework.PodInfo) ([]*framework.NodeInfo, *framework.FitError) {
	n := len(nodes)
	if n == 0 {
		return nil, &framework.FitError{}
	}
	want := numFeasibleNodesToFind(s.cfg.PercentageOfNodesToScore, n)
	if cap(s.feasible) < want {
		s.feasible = make([]*framework.NodeInfo, want)
	}
	if cap(s.statuses) < n {
		s.statuses = make([]*framework.Status, n)
	}
	feasible, statuses := s.feasible[:want], s.statuses[:n]
	clear(statuses)
	var found, failed atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Round-robin over the whole cluster only; a pod limited to a few
	// nodes filters them all anyway.
	full, start := n == s.snapshot.Len(), 0
	if full {
		start = s.nextStart % n
	}
	framework.Parallel(ctx, s.cfg.Parallelism, n, func(i int) {
		idx := (start + i) % n
		node := nodes[idx]
		if nominated != nil {
			node = withNominated(node, nominated)
		}
		if st := state.Filter(node); st != nil {
			statuses[idx] = st
			failed.Add(1)
			return
		}
		k := found.Add(1)
		if k > int64(want) {
			cancel()
			found.Add(-1)
			return
		}
		feasible[k-1] = node
	})
	if full {
		s.nextStart = (start + int(found.Load()+failed.Load())) % n
	}
	if f := int(found.Load()); f > 0 {
		return feasible[:f], nil
	}
	fitErr := &framework.FitError{NumAllNodes: n, Statuses: make(map[string]*framework.Status, n)}
	for i, st := range statuses {
		if st != nil {
			fitErr.Statuses[nodes[i].Name] = st
		}
	}
	return nil, fitErr
}
