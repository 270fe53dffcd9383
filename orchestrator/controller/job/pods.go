package job

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"

	"berth.dev/berth/orchestrator/controller/podcontrol"
)

// burst caps the pods created or deleted in one sync.
const burst = 500

// claimPods returns every pod job controls, finished ones included, having
// adopted the orphans its selector matches and released those that no longer
// match. An adopted pod gets the tracking finalizer, so that it is counted
// like the job's own.
func (c *Controller) claimPods(ctx context.Context, job *batchv1.Job, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.pods.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	orphans := sets.New[types.UID]()
	for _, p := range all {
		if metav1.GetControllerOfNoCopy(p) == nil {
			orphans.Insert(p.UID)
		}
	}
	claimer := podcontrol.NewClaimer(c.client, job, controllerKind, selector, func(ctx context.Context) (metav1.Object, error) {
		return c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	})
	claimed, err := claimer.ClaimPods(ctx, all)
	if err != nil {
		return nil, fmt.Errorf("claiming pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	for _, p := range claimed {
		if !orphans.Has(p.UID) || hasFinalizer(p) {
			continue
		}
		// The Claimer adopts with the owner alone; upstream adds the
		// finalizer in the same patch.
		patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"finalizers": []string{batchv1.JobTrackingFinalizer}, "uid": p.UID}})
		if err != nil {
			return nil, err
		}
		_, err = c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("adding tracking finalizer to adopted pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return claimed, nil
}

// newPod is a pod of job for a completion index (-1 when not Indexed): its
// template, controlled by it, holding the tracking finalizer.
func newPod(job *batchv1.Job, index int) *corev1.Pod {
	pod := podcontrol.PodFromTemplate(&job.Spec.Template, job.Namespace, metav1.NewControllerRef(job, controllerKind))
	pod.Finalizers = append(pod.Finalizers, batchv1.JobTrackingFinalizer)
	if index < 0 {
		return pod
	}
	ix := strconv.Itoa(index)
	pod.GenerateName = generateName(job.Name, ix)
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[batchv1.JobCompletionIndexAnnotation] = ix
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[batchv1.JobCompletionIndexAnnotation] = ix
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = job.Name + "-" + ix
	}
	// As upstream: the index reaches the containers through the downward API.
	env := corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: fmt.Sprintf("metadata.annotations['%s']", batchv1.JobCompletionIndexAnnotation)}}}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !slices.ContainsFunc(cs[i].Env, func(e corev1.EnvVar) bool { return e.Name == env.Name }) {
				cs[i].Env = append(cs[i].Env, env)
			}
		}
	}
	return pod
}

// generateName is "<job>-<index>-", the job's name cut so that the whole
// name, with the server's five random characters, stays a valid name.
func generateName(job, index string) string {
	const maxGenerated = 63 - 5
	prefix := job + "-" + index + "-"
	if len(prefix) > maxGenerated {
		prefix = job[:max(0, len(job)-(len(prefix)-maxGenerated))] + "-" + index + "-"
	}
	return prefix
}

// createPods creates pods in batches of growing size, stopping after a batch
// with a failure as the ReplicaSet controller does: a job whose pods all fail
// (quota, a webhook) so makes one failing request per sync. It returns how
// many were created.
func (c *Controller) createPods(ctx context.Context, job *batchv1.Job, key string, pods []*corev1.Pod) (int, error) {
	c.expect.ExpectCreations(key, len(pods))
	created, attempted := 0, 0
	for batch := min(len(pods), 1); batch > 0; batch = min(2*batch, len(pods)-attempted) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i, p := range pods[attempted : attempted+batch] {
			wg.Go(func() { errs[i] = c.createPod(ctx, job, p) })
		}
		wg.Wait()
		attempted += batch
		var first error
		for _, err := range errs {
			switch {
			case err == nil:
				created++
			case first == nil:
				first = err
			}
		}
		if first != nil {
			// The pods that failed or were never tried will never be seen.
			for range len(pods) - created {
				c.expect.CreationObserved(key)
			}
			return created, first
		}
	}
	return created, nil
}

func (c *Controller) createPod(ctx context.Context, job *batchv1.Job, pod *corev1.Pod) error {
	_, err := c.control.Create(ctx, job, pod)
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		return nil // every create fails until the namespace is gone
	}
	if err != nil {
		return fmt.Errorf("creating pod for job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return nil
}

// deletePods deletes pods of job in parallel and returns how many deletions
// were issued. With uncount, each pod's finalizer goes first, so that a pod
// given up (parallelism lowered, job suspended) never counts as failed; without
// it, the finalizer stays and the pod is counted once it is gone (job failed).
func (c *Controller) deletePods(ctx context.Context, job *batchv1.Job, key string, pods []*corev1.Pod, uncount bool) (int, error) {
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i], _ = cache.MetaNamespaceKeyFunc(p)
	}
	c.expect.ExpectDeletions(key, keys...)
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			if uncount && hasFinalizer(p) {
				c.removing.expect(key, p.UID)
				if err := c.removeFinalizer(ctx, p); err != nil {
					c.removing.observed(key, p.UID)
					c.expect.DeletionObserved(key, keys[i])
					errs[i] = err
					return
				}
			}
			if err := c.control.Delete(ctx, job, p); err != nil {
				// Never to be seen going, or gone already.
				c.expect.DeletionObserved(key, keys[i])
				if !apierrors.IsNotFound(err) {
					errs[i] = err
				}
			}
		})
	}
	wg.Wait()
	n, first := 0, error(nil)
	for _, err := range errs {
		switch {
		case err == nil:
			n++
		case first == nil:
			first = err
		}
	}
	return n, first
}
