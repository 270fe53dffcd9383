// Package cache keeps the scheduler's view of nodes and the pods on them:
// pods the informers saw bound, and pods the scheduler assumed onto a node
// before their binding returned. It hands out snapshots that re-clone only
// the nodes changed since the last one. It is fed by informer handlers and
// the scheduling loop and must not talk to the API itself.
package cache

import (
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// podState is where the cache has a pod, and whether only the scheduler
// knows it is there.
type podState struct {
	info    *framework.PodInfo
	node    string
	assumed bool
}

// Cache is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]*framework.NodeInfo
	pods  map[types.UID]*podState
	// dirty names the nodes changed since the last UpdateSnapshot.
	dirty map[string]struct{}
}

// New returns an empty cache.
func New() *Cache {
	return &Cache{
		nodes: map[string]*framework.NodeInfo{},
		pods:  map[types.UID]*podState{},
		dirty: map[string]struct{}{},
	}
}

// nodeInfo returns the named node's entry, creating one (without a Node) for
// pods that arrive before their node.
func (c *Cache) nodeInfo(name string) *framework.NodeInfo {
	n, ok := c.nodes[name]
	if !ok {
		n = &framework.NodeInfo{Name: name}
		c.nodes[name] = n
	}
	c.dirty[name] = struct{}{}
	return n
}

// AddNode adds or replaces a node.
func (c *Cache) AddNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodeInfo(node.Name).SetNode(node)
}

// RemoveNode drops a node; its pods stay until they are deleted, as the
// node may come back.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		return
	}
	c.dirty[name] = struct{}{}
	if len(n.Pods) == 0 {
		delete(c.nodes, name)
		return
	}
	n.Node = nil
}

// Assume puts p on node at once, before its binding completes, so that the
// next cycles see the space it takes.
func (c *Cache) Assume(p *framework.PodInfo, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	uid := p.Pod.UID
	if _, ok := c.pods[uid]; ok {
		return fmt.Errorf("assuming pod %s/%s on node %s: it is already in the cache", p.Pod.Namespace, p.Pod.Name, node)
	}
	c.pods[uid] = &podState{info: p, node: node, assumed: true}
	c.nodeInfo(node).AddPod(p)
	return nil
}

// Forget takes an assumed pod off its node, when its binding failed.
func (c *Cache) Forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok && ps.assumed {
		c.remove(uid, ps)
	}
}

// IsAssumed says whether the pod is assumed and not yet seen bound.
func (c *Cache) IsAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[uid]
	return ok && ps.assumed
}

func (c *Cache) remove(uid types.UID, ps *podState) {
	delete(c.pods, uid)
	n := c.nodes[ps.node]
	if n == nil {
		return
	}
	n.RemovePod(uid)
	c.dirty[ps.node] = struct{}{}
	if n.Node == nil && len(n.Pods) == 0 {
		delete(c.nodes, ps.node)
	}
}

// occupies says whether a pod takes space on its node: it is bound and
// has not finished.
func occupies(pod *corev1.Pod) bool {
	return pod.Spec.NodeName != "" && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}

// SetPod records the latest version of a pod the informer saw: a bound,
// running pod is put on (or kept on) its node, confirming it if assumed;
// a finished or unbound pod is taken off.
func (c *Cache) SetPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !occupies(pod) {
		// An assumed pod whose informer copy still lags unbound stays.
		if ok && !(ps.assumed && pod.Spec.NodeName == "") {
			c.remove(pod.UID, ps)
		}
		return
	}
	if ok {
		// Confirmed or changed: the informer's copy replaces ours.
		c.remove(pod.UID, ps)
	}
	info := framework.NewPodInfo(pod)
	c.pods[pod.UID] = &podState{info: info, node: pod.Spec.NodeName}
	c.nodeInfo(pod.Spec.NodeName).AddPod(info)
}

// RemovePod takes a deleted pod off its node.
func (c *Cache) RemovePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[uid]; ok {
		c.remove(uid, ps)
	}
}

// NodeCount is the number of nodes known with their Node object.
func (c *Cache) NodeCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ni := range c.nodes {
		if ni.Node != nil {
			n++
		}
	}
	return n
}

// UpdateSnapshot brings s up to date, cloning only the nodes that changed
// since the last call, so a cycle costs what changed, not the cluster size.
// Snapshots are owned by one caller; the clones share nothing with the cache.
func (c *Cache) UpdateSnapshot(s *framework.Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirty) == 0 {
		return
	}
	changed := make(map[string]*framework.NodeInfo, len(c.dirty))
	for name := range c.dirty {
		if n, ok := c.nodes[name]; ok && n.Node != nil {
			changed[name] = n.Clone()
		} else {
			changed[name] = nil
		}
	}
	clear(c.dirty)
	s.Replace(changed)
}
