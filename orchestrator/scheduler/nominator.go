package scheduler

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// nominator remembers the pods preemption made room for, by node, so that
// pods of lower priority do not take that room while the victims leave.
type nominator struct {
	mu     sync.Mutex
	byNode map[string][]*framework.PodInfo
	nodeOf map[types.UID]string
}

func newNominator() *nominator {
	return &nominator{byNode: map[string][]*framework.PodInfo{}, nodeOf: map[types.UID]string{}}
}

func (n *nominator) add(p *framework.PodInfo, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.removeLocked(p.Pod.UID)
	n.nodeOf[p.Pod.UID] = node
	n.byNode[node] = append(n.byNode[node], p)
}

func (n *nominator) remove(uid types.UID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.removeLocked(uid)
}

func (n *nominator) removeLocked(uid types.UID) {
	node, ok := n.nodeOf[uid]
	if !ok {
		return
	}
	delete(n.nodeOf, uid)
	pods := n.byNode[node]
	for i, p := range pods {
		if p.Pod.UID == uid {
			pods = append(pods[:i:i], pods[i+1:]...)
			break
		}
	}
	if len(pods) == 0 {
		delete(n.byNode, node)
		return
	}
	n.byNode[node] = pods
}

// forPod returns, per node, the nominated pods that p must leave room for:
// those of at least its priority, other than itself; nil when there are
// none, which is the common case and costs nothing.
func (n *nominator) forPod(p *framework.PodInfo) map[string][]*framework.PodInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.nodeOf) == 0 {
		return nil
	}
	var out map[string][]*framework.PodInfo
	for node, pods := range n.byNode {
		for _, q := range pods {
			if q.Pod.UID != p.Pod.UID && q.Priority >= p.Priority {
				if out == nil {
					out = map[string][]*framework.PodInfo{}
				}
				out[node] = append(out[node], q)
			}
		}
	}
	return out
}

// withNominated returns n with the nominated pods on it, or n itself.
func withNominated(n *framework.NodeInfo, nominated map[string][]*framework.PodInfo) *framework.NodeInfo {
	pods := nominated[n.Name]
	if len(pods) == 0 {
		return n
	}
	c := n.Clone()
	for _, p := range pods {
		c.AddPod(p)
	}
	return c
}
