// Package metrics owns the resource usage that kubelets report: the latest
// figures of every node and of the pods running on it, in the types of the
// resource metrics API (metrics.k8s.io/v1beta1), kept in memory as
// metrics-server keeps its last scrape. The API server reads it to answer
// `kubectl top`; the autoscalers read it through that API.
//
// It must not know where the figures come from (hollow nodes, a real kubelet) nor
// serve them: it imports no apiserver and no kubelet package, and keeps nothing
// in etcd, since usage is rewritten every few seconds and worthless after a restart.
package metrics

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"k8s.io/utils/clock"
)

// DefaultMaxAge is how long a report is served: a few reporting intervals of a
// kubelet, so that a node that stops reporting (dead, partitioned) drops out of
// `kubectl top` and out of the autoscalers' averages instead of freezing there.
const DefaultMaxAge = time.Minute

// Option configures a Store.
type Option func(*Store) error

// WithMaxAge sets how long after its timestamp a report is still served.
func WithMaxAge(d time.Duration) Option {
	return func(s *Store) error {
		if d <= 0 {
			return fmt.Errorf("metrics store: max age %s must be positive", d)
		}
		s.maxAge = d
		return nil
	}
}

// WithClock sets the clock reports are aged by.
func WithClock(c clock.PassiveClock) Option {
	return func(s *Store) error { s.clock = c; return nil }
}

// Store holds the latest report of every node. It is safe for concurrent use.
type Store struct {
	maxAge time.Duration
	clock  clock.PassiveClock

	mu    sync.RWMutex
	nodes map[string]nodeReport
	// podNode says which node last reported each pod, so that a pod is found
	// without scanning every node.
	podNode map[types.NamespacedName]string
}

type nodeReport struct {
	node metricsv1beta1.NodeMetrics
	pods map[types.NamespacedName]metricsv1beta1.PodMetrics
}

// NewStore returns an empty store.
func NewStore(opts ...Option) (*Store, error) {
	s := &Store{maxAge: DefaultMaxAge, clock: clock.RealClock{}, nodes: map[string]nodeReport{}, podNode: map[types.NamespacedName]string{}}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Report replaces what node.Name reported before with node's usage and the
// usage of pods, the pods running on it: a pod the node no longer reports is
// gone. Report keeps copies; the caller may reuse what it passed.
func (s *Store) Report(node metricsv1beta1.NodeMetrics, pods []metricsv1beta1.PodMetrics) {
	r := nodeReport{node: *node.DeepCopy(), pods: make(map[types.NamespacedName]metricsv1beta1.PodMetrics, len(pods))}
	for i := range pods {
		r.pods[types.NamespacedName{Namespace: pods[i].Namespace, Name: pods[i].Name}] = *pods[i].DeepCopy()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.nodes[node.Name].pods {
		if _, still := r.pods[key]; !still && s.podNode[key] == node.Name {
			delete(s.podNode, key)
		}
	}
	for key := range r.pods {
		s.podNode[key] = node.Name
	}
	s.nodes[node.Name] = r
}

// Node returns the latest usage of the named node, and false when it has none
// or only one older than the max age.
func (s *Store) Node(name string) (metricsv1beta1.NodeMetrics, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.nodes[name]
	if !ok || s.stale(r.node.Timestamp.Time) {
		return metricsv1beta1.NodeMetrics{}, false
	}
	return *r.node.DeepCopy(), true
}

// Pod returns the latest usage of the pod namespace/name, and false when no node
// reports it or its report is older than the max age.
func (s *Store) Pod(namespace, name string) (metricsv1beta1.PodMetrics, bool) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	s.mu.RLock()
	defer s.mu.RUnlock()
	pod, ok := s.nodes[s.podNode[key]].pods[key]
	if !ok || s.stale(pod.Timestamp.Time) {
		return metricsv1beta1.PodMetrics{}, false
	}
	return *pod.DeepCopy(), true
}

func (s *Store) stale(at time.Time) bool {
	return s.clock.Since(at) > s.maxAge
}
