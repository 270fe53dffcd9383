package scheduler

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// clientAPI is api over a clientset.
type clientAPI struct{ client kubernetes.Interface }

func (c *clientAPI) bind(ctx context.Context, pod *corev1.Pod, node string) error {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	if err := c.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("binding pod %s/%s to node %s: %w", pod.Namespace, pod.Name, node, err)
	}
	return nil
}

// updateStatus writes the pod's status as change leaves it, as a strategic
// merge patch of what changed from the scheduler's copy of the pod: no read
// first, and conditions merge by type with what others wrote meanwhile. The
// patch carries the pod's UID, which the API server refuses to change, so a
// pod deleted and recreated under the same name is not touched. change returns
// false to write nothing.
func (c *clientAPI) updateStatus(ctx context.Context, pod *corev1.Pod, change func(*corev1.PodStatus) bool) error {
	status := pod.Status.DeepCopy()
	if !change(status) {
		return nil
	}
	old, err := json.Marshal(corev1.Pod{Status: pod.Status})
	if err != nil {
		return err
	}
	updated, err := json.Marshal(corev1.Pod{Status: *status})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(old, updated, corev1.Pod{})
	if err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(patch, &fields); err != nil {
		return err
	}
	fields["metadata"] = map[string]any{"uid": string(pod.UID)}
	if patch, err = json.Marshal(fields); err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

func (c *clientAPI) setUnschedulable(ctx context.Context, pod *corev1.Pod, message string) error {
	err := c.updateStatus(ctx, pod, func(status *corev1.PodStatus) bool {
		return setCondition(status, corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: message,
		})
	})
	if err != nil {
		return fmt.Errorf("setting pod %s/%s unschedulable: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

func (c *clientAPI) nominate(ctx context.Context, pod *corev1.Pod, node string) error {
	err := c.updateStatus(ctx, pod, func(status *corev1.PodStatus) bool {
		if status.NominatedNodeName == node {
			return false
		}
		status.NominatedNodeName = node
		return true
	})
	if err != nil {
		return fmt.Errorf("nominating node %s for pod %s/%s: %w", node, pod.Namespace, pod.Name, err)
	}
	return nil
}

func (c *clientAPI) deletePod(ctx context.Context, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil {
		return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// setCondition sets c in status, keeping its transition time when the status
// did not change; it says whether anything changed.
func setCondition(status *corev1.PodStatus, c corev1.PodCondition) bool {
	now := metav1.Now()
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status {
			c.LastTransitionTime = now
		}
		c.LastProbeTime = now
		*old = c
		return true
	}
	c.LastTransitionTime, c.LastProbeTime = now, now
	status.Conditions = append(status.Conditions, c)
	return true
}

// listerVolumes is plugins.Volumes over informer listers.
type listerVolumes struct {
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
}

func (l listerVolumes) Claim(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	return l.claims.PersistentVolumeClaims(namespace).Get(name)
}

func (l listerVolumes) Volume(name string) (*corev1.PersistentVolume, error) {
	return l.volumes.Get(name)
}
