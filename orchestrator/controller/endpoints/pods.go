package endpoints

import (
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podReady reports whether the pod's Ready condition is True.
func podReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// podIPs are the pod's addresses, normalised.
func podIPs(pod *corev1.Pod) []netip.Addr {
	var raw []string
	for _, ip := range pod.Status.PodIPs {
		raw = append(raw, ip.IP)
	}
	if len(raw) == 0 && pod.Status.PodIP != "" {
		raw = append(raw, pod.Status.PodIP)
	}
	var out []netip.Addr
	for _, s := range raw {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// hasEndpoint reports whether a pod has a place in endpoints at all: it has an
// address and has not finished. Terminating pods count only if
// includeTerminating.
func hasEndpoint(pod *corev1.Pod, includeTerminating bool) bool {
	switch {
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return false
	case len(podIPs(pod)) == 0:
		return false
	case pod.DeletionTimestamp != nil && !includeTerminating:
		return false
	}
	return true
}

// setHostname: a pod's hostname is published when its subdomain names the
// Service, which is how StatefulSet pods get DNS names.
func setHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace
}

// findPort resolves a Service port's targetPort on a pod: a number is itself, a
// name is looked up in the pod's containers (and sidecars) for the same protocol.
func findPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	target := sp.TargetPort
	switch {
	case target.Type == intstr.Int && target.IntVal != 0:
		return target.IntVal, true
	case target.Type == intstr.Int:
		return sp.Port, true // defaulting normally fills it; be safe
	}
	protocol := sp.Protocol
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	match := func(containers []corev1.Container, sidecarsOnly bool) (int32, bool) {
		for _, ctr := range containers {
			if sidecarsOnly && (ctr.RestartPolicy == nil || *ctr.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range ctr.Ports {
				pp := p.Protocol
				if pp == "" {
					pp = corev1.ProtocolTCP
				}
				if p.Name == target.StrVal && pp == protocol {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	}
	if port, ok := match(pod.Spec.Containers, false); ok {
		return port, true
	}
	return match(pod.Spec.InitContainers, true)
}

// endpointChanged reports whether a pod update can change its endpoints (labels
// aside): readiness, addresses, termination, hostname, node.
func endpointChanged(old, cur *corev1.Pod) bool {
	if old.ResourceVersion == cur.ResourceVersion {
		return false // a resync
	}
	if (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) || podReady(old) != podReady(cur) ||
		old.Status.Phase != cur.Status.Phase || old.Spec.NodeName != cur.Spec.NodeName ||
		old.Spec.Hostname != cur.Spec.Hostname || old.Spec.Subdomain != cur.Spec.Subdomain {
		return true
	}
	a, b := podIPs(old), podIPs(cur)
	if len(a) != len(b) {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return true
		}
	}
	return false
}

// triggerTimes computes the endpoints.kubernetes.io/last-change-trigger-time
// annotation: the earliest time, among the changes a sync picks up, at which a
// pod's readiness changed or the Service was created. It remembers, per
// Service, what the previous sync saw. Syncs of one Service never run at once
// (the queue guarantees it), so only the map needs the lock.
type triggerTimes struct {
	mu    sync.Mutex
	state map[string]triggerState
}

type triggerState struct {
	service time.Time
	pods    map[string]time.Time
}

func newTriggerTimes() *triggerTimes { return &triggerTimes{state: map[string]triggerState{}} }

// observe returns the trigger time of this sync (zero: none to report).
func (t *triggerTimes) observe(key string, svc *corev1.Service, pods []*corev1.Pod) time.Time {
	t.mu.Lock()
	prev, known := t.state[key]
	t.mu.Unlock()
	next := triggerState{service: svc.CreationTimestamp.Time, pods: make(map[string]time.Time, len(pods))}
	var earliest time.Time
	consider := func(at time.Time) {
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	for _, pod := range pods {
		c := readyCondition(pod)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		at := c.LastTransitionTime.Time
		next.pods[pod.Name] = at
		if at.After(prev.pods[pod.Name]) {
			consider(at)
		}
	}
	if next.service.After(prev.service) {
		consider(next.service)
	}
	t.mu.Lock()
	t.state[key] = next
	t.mu.Unlock()
	if !known {
		return svc.CreationTimestamp.Time
	}
	return earliest
}

func (t *triggerTimes) forget(key string) {
	t.mu.Lock()
	delete(t.state, key)
	t.mu.Unlock()
}

// writes remembers this controller's own writes of Endpoints and slices, per
// Service, to tell when the informer cache has not caught up with them yet and
// to ignore their echoes. Only equality of resource versions is used, never
// their order.
type writes struct {
	mu    sync.Mutex
	byKey map[string]map[types.UID]write
}

type write struct {
	before  string // resource version replaced by the write; "" for a create
	after   string // resource version the write produced
	deleted bool
}

func newWrites() *writes { return &writes{byKey: map[string]map[types.UID]write{}} }

func (w *writes) record(key string, uid types.UID, wr write) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.byKey[key]
	if m == nil {
		m = map[types.UID]write{}
		w.byKey[key] = m
	}
	m[uid] = wr
}

// wrote records a create (before "") or update of an object.
func (w *writes) wrote(key string, uid types.UID, before, after string) {
	w.record(key, uid, write{before: before, after: after})
}

// deleted records a delete.
func (w *writes) deleted(key string, obj interface{ GetUID() types.UID }) {
	w.record(key, obj.GetUID(), write{deleted: true})
}

// stale reports whether the cached objects of a Service (uid → resource
// version) still miss one of this controller's writes, and forgets the writes
// the cache has caught up with.
func (w *writes) stale(key string, cached map[types.UID]string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	stale := false
	for uid, wr := range w.byKey[key] {
		rv, present := cached[uid]
		switch {
		case wr.deleted && present, !wr.deleted && !present, !wr.deleted && wr.before != "" && rv == wr.before:
			stale = true
		default:
			delete(w.byKey[key], uid)
		}
	}
	if len(w.byKey[key]) == 0 {
		delete(w.byKey, key)
	}
	return stale
}

// echo reports whether an observed object version is one this controller wrote.
func (w *writes) echo(key string, uid types.UID, rv string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	wr, ok := w.byKey[key][uid]
	return ok && !wr.deleted && wr.after == rv
}

// deletedEcho reports whether an observed deletion is this controller's, and
// forgets the object: the cache no longer has it either way.
func (w *writes) deletedEcho(key string, uid types.UID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	wr, ok := w.byKey[key][uid]
	if ok {
		delete(w.byKey[key], uid)
		if len(w.byKey[key]) == 0 {
			delete(w.byKey, key)
		}
	}
	return ok && wr.deleted
}
