package daemonset

import (
	"context"
	"fmt"
	"slices"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// burstReplicas caps the pods created or deleted in one sync.
const burstReplicas = 250

// sync brings the pods of the DaemonSet named by key to one per node that
// fits it, rolls out its template, and writes its status.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.daemons.DaemonSets(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	// Validation should have refused a bad selector; a retry cannot help.
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		c.log.Error("invalid selector", "key", key, "err", err)
		return nil
	}
	if selector.Empty() {
		c.recorder.Event(ds, corev1.EventTypeWarning, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	if ds.DeletionTimestamp != nil {
		// The garbage collector deletes its pods.
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	// One claimer, so that the owner is read from the API at most once.
	claimer := podcontrol.NewClaimer(c.client, ds, controllerKind, selector, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
	status := ds.Status.DeepCopy()
	h, err := c.constructHistory(ctx, ds, claimer, status)
	if err != nil {
		return fmt.Errorf("constructing history of %s: %w", key, err)
	}
	// Read the expectations before the cache: a pod added between the two
	// reads is then counted rather than created twice.
	satisfied := c.expect.Satisfied(key)
	byNode, err := c.podsByNode(ctx, ds, claimer)
	if err != nil {
		return err
	}
	var manageErr error
	if satisfied {
		manageErr = c.manage(ctx, ds, nodes, byNode, h.hash())
		// Roll out only once the cache shows what manage did.
		if manageErr == nil && c.expect.Satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
			manageErr = c.rollingUpdate(ctx, ds, nodes, byNode, h.hash())
		}
		if manageErr == nil {
			manageErr = c.cleanupHistory(ctx, ds, h, byNode)
		}
	}
	if err := c.updateStatus(ctx, ds, calculateStatus(ds, *status, nodes, byNode, h.hash(), c.now())); err != nil {
		return err
	}
	return manageErr
}

// podsByNode claims ds's pods and groups them by the node they run on or are
// pinned to. Pods pinned nowhere are grouped under "".
func (c *Controller) podsByNode(ctx context.Context, ds *appsv1.DaemonSet, claimer *podcontrol.Claimer) (map[string][]*corev1.Pod, error) {
	all, err := c.pods.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	// Pods being deleted are claimed too (unlike the ReplicaSet's), so that a
	// node whose daemon is terminating does not get a second one too early.
	claimed, err := claimer.ClaimPods(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("claiming pods: %w", err)
	}
	byNode := map[string][]*corev1.Pod{}
	for _, p := range claimed {
		n := targetNode(p)
		byNode[n] = append(byNode[n], p)
	}
	return byNode, nil
}

// manage creates the pods missing on nodes that should run ds and deletes the
// ones on nodes that should not, the failed ones, and all but the oldest where
// a node has too many.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) error {
	spec := daemonPodSpec(ds)
	var create []string
	var remove []*corev1.Pod
	known := map[string]bool{}
	for _, node := range nodes {
		known[node.Name] = true
		shouldRun, shouldContinue := placement(spec, node)
		pods := byNode[node.Name]
		switch {
		case shouldRun && len(pods) == 0:
			create = append(create, node.Name)
		case shouldContinue:
			remove = append(remove, c.excessPods(ds, node.Name, pods, hash)...)
		default:
			remove = append(remove, slices.DeleteFunc(slices.Clone(pods), terminating)...)
		}
	}
	// Pods pinned to a node that is gone, never bound to it, would wait for
	// the scheduler forever.
	for n, pods := range byNode {
		if known[n] {
			continue
		}
		for _, p := range pods {
			if p.Spec.NodeName == "" && !terminating(p) {
				remove = append(remove, p)
			}
		}
	}
	return c.syncNodes(ctx, ds, remove, create, hash)
}

func terminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }

// excessPods are the pods to delete on a node that keeps running ds: the
// failed ones (the next sync replaces them), and beyond one pod, all but the
// oldest, or with maxSurge, all but the oldest of the current template and the
// oldest of older ones (the rolling update deletes that when the new one is
// available).
func (c *Controller) excessPods(ds *appsv1.DaemonSet, node string, pods []*corev1.Pod, hash string) []*corev1.Pod {
	var remove, running []*corev1.Pod
	for _, p := range pods {
		switch {
		case terminating(p):
		case p.Status.Phase == corev1.PodFailed:
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node)
			remove = append(remove, p)
		case p.Status.Phase == corev1.PodSucceeded:
			// A daemon is not meant to finish: start it again.
			remove = append(remove, p)
		default:
			running = append(running, p)
		}
	}
	if len(running) <= 1 {
		return remove
	}
	slices.SortStableFunc(running, olderFirst)
	if surge(ds) == 0 {
		return append(remove, running[1:]...)
	}
	var keptNew, keptOld bool
	for _, p := range running {
		if updated(p, hash) && !keptNew {
			keptNew = true
		} else if !updated(p, hash) && !keptOld {
			keptOld = true
		} else {
			remove = append(remove, p)
		}
	}
	return remove
}

// olderFirst orders pods by creation, then running before not, so that the
// pod kept on a crowded node is the one that has been serving.
func olderFirst(a, b *corev1.Pod) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return boolFirst(a.Status.Phase == corev1.PodRunning, b.Status.Phase == corev1.PodRunning)
}

func boolFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

func updated(p *corev1.Pod, hash string) bool {
	return p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash
}

// daemonPodSpec is ds's pod spec with the daemon tolerations, against which
// nodes are checked and from which pods are made.
func daemonPodSpec(ds *appsv1.DaemonSet) *corev1.PodSpec {
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	return spec
}

// syncNodes deletes remove and creates a pod on each node of create, at most
// burstReplicas of each, recording what it expects to see.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, remove []*corev1.Pod, create []string, hash string) error {
	key, _ := cache.MetaNamespaceKeyFunc(ds)
	create = create[:min(len(create), burstReplicas)]
	remove = remove[:min(len(remove), burstReplicas)]
	podKeys := make([]string, len(remove))
	for i, p := range remove {
		podKeys[i], _ = cache.MetaNamespaceKeyFunc(p)
	}
	c.expect.Expect(key, len(create), podKeys...)

	template := ds.Spec.Template.DeepCopy()
	template.Spec = *daemonPodSpec(ds)
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	ref := metav1.NewControllerRef(ds, controllerKind)

	// Slow start, as the ReplicaSet controller: a DaemonSet whose pods all
	// fail (quota, a webhook) makes one failing request per sync, not hundreds.
	var errs []error
	done := 0
	for batch := min(len(create), 1); batch > 0 && len(errs) == 0; batch = min(2*batch, len(create)-done) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, node := range create[done : done+batch] {
			wg.Go(func() {
				pod := podcontrol.PodFromTemplate(template, ds.Namespace, ref)
				pinToNode(&pod.Spec, node)
				_, err := c.control.Create(ctx, ds, pod)
				if err == nil {
					return
				}
				c.expect.CreationObserved(key)
				if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("creating daemon pod on node %s: %w", node, err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		done += batch
	}
	// The pods never tried will never be seen.
	for range len(create) - done {
		c.expect.CreationObserved(key)
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, p := range remove {
		wg.Go(func() {
			if err := c.control.Delete(ctx, ds, p); err != nil {
				c.expect.DeletionObserved(key, podKeys[i])
				if !apierrors.IsNotFound(err) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return utilerrors.NewAggregate(errs)
}
