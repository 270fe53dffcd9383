package podcontrol

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Control creates and deletes the pods of controllers and records, on the
// controller's object, the events upstream records for each.
type Control struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
}

// NewControl returns a Control writing pods through client and events through
// recorder.
func NewControl(client kubernetes.Interface, recorder record.EventRecorder) *Control {
	return &Control{client: client, recorder: recorder}
}

// PodFromTemplate returns a pod of template for the controller ref names, in
// namespace: named "<controller>-" plus a suffix the API server picks, with the
// template's labels, annotations, finalizers and spec. A controller that wants a
// fixed name sets Name and clears GenerateName.
func PodFromTemplate(template *corev1.PodTemplateSpec, namespace string, ref *metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ref.Name + "-",
			Namespace:       namespace,
			Labels:          maps.Clone(template.Labels),
			Annotations:     maps.Clone(template.Annotations),
			Finalizers:      slices.Clone(template.Finalizers),
			OwnerReferences: []metav1.OwnerReference{*ref},
		},
		Spec: *template.Spec.DeepCopy(),
	}
}

// Create creates pod and records SuccessfulCreate or FailedCreate on object, the
// controller the pod is for. A pod without labels is refused: its controller
// could never find it again and would create pods forever. A create refused
// because the namespace is terminating is returned with no event, since every
// create fails until the namespace is gone; callers test for it with
// apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause).
func (c *Control) Create(ctx context.Context, object runtime.Object, pod *corev1.Pod) (*corev1.Pod, error) {
	if len(pod.Labels) == 0 {
		return nil, errors.New("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(object, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return nil, err
	}
	c.recorder.Eventf(object, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return created, nil
}

// Delete deletes pod and records SuccessfulDelete or FailedDelete on object, the
// controller the pod is for. A pod already gone is reported as NotFound with no
// event: someone else got there first.
func (c *Control) Delete(ctx context.Context, object runtime.Object, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return err
	case err != nil:
		c.recorder.Eventf(object, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	c.recorder.Eventf(object, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
	return nil
}
