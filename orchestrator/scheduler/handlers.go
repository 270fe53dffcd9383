package scheduler

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	toolscache "k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/scheduler/framework"
)

// The filters a pod leaving a node (deleted, or finished) may now satisfy,
// and those a pod arriving on one may.
const (
	freedBy   = framework.NodeResourcesFit | framework.NodePorts | framework.InterPodAffinity | framework.PodTopologySpread | framework.VolumeBinding
	arrivedBy = framework.InterPodAffinity | framework.PodTopologySpread
)

func podOf(obj any) *corev1.Pod {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, _ := obj.(*corev1.Pod)
	return pod
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// podHandler feeds bound pods to the cache and pending pods of this
// scheduler to the queue, and tells the queue when space may have freed.
func (s *Scheduler) podHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if pod := podOf(obj); pod != nil {
				s.podChanged(pod)
				if pod.Spec.NodeName != "" {
					s.queue.MoveAll(arrivedBy)
				}
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, pod := podOf(oldObj), podOf(newObj)
			if old == nil || pod == nil {
				return
			}
			s.podChanged(pod)
			switch {
			case pod.Spec.NodeName != "" && terminal(pod) && !terminal(old):
				s.queue.MoveAll(freedBy)
			case pod.Spec.NodeName != "" && !equality.Semantic.DeepEqual(old.Labels, pod.Labels):
				s.queue.MoveAll(arrivedBy)
			}
		},
		DeleteFunc: func(obj any) {
			pod := podOf(obj)
			if pod == nil {
				return
			}
			s.cache.RemovePod(pod.UID)
			s.queue.Delete(pod.UID)
			s.nominated.remove(pod.UID)
			if pod.Spec.NodeName != "" {
				s.queue.MoveAll(freedBy)
			}
		},
	}
}

func (s *Scheduler) podChanged(pod *corev1.Pod) {
	if pod.Spec.NodeName != "" {
		s.queue.Delete(pod.UID)
		s.nominated.remove(pod.UID)
		s.cache.SetPod(pod)
		return
	}
	// An assumed pod's informer copy lags until its binding shows.
	if pod.Spec.SchedulerName != s.cfg.SchedulerName || terminal(pod) || s.cache.IsAssumed(pod.UID) {
		return
	}
	// A gated pod waits outside the queue until its gates are removed.
	if len(pod.Spec.SchedulingGates) > 0 {
		s.queue.Delete(pod.UID)
		return
	}
	s.queue.Add(pod)
}

// nodeHandler keeps the cache's nodes and retries unschedulable pods when a
// node appears or changes in a way filters look at.
func (s *Scheduler) nodeHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if node, ok := obj.(*corev1.Node); ok {
				s.cache.AddNode(node)
				s.queue.MoveAll(framework.AllPlugins)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, ok1 := oldObj.(*corev1.Node)
			node, ok2 := newObj.(*corev1.Node)
			if !ok1 || !ok2 {
				return
			}
			s.cache.AddNode(node)
			if nodeChangeMayHelp(old, node) {
				s.queue.MoveAll(framework.AllPlugins)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if node, ok := obj.(*corev1.Node); ok {
				s.cache.RemoveNode(node.Name)
			}
		},
	}
}

// nodeChangeMayHelp ignores heartbeats: only what filters read counts.
func nodeChangeMayHelp(old, node *corev1.Node) bool {
	return old.Spec.Unschedulable != node.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(old.Labels, node.Labels) ||
		!equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) ||
		readyStatus(old) != readyStatus(node)
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// moveHandler retries the pods rejected by plugins on any change.
func (s *Scheduler) moveHandler(plugins framework.Plugin) toolscache.ResourceEventHandler {
	move := func(any) { s.queue.MoveAll(plugins) }
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    move,
		UpdateFunc: func(_, obj any) { move(obj) },
	}
}
