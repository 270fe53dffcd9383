package gitops

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// RequestReconcile asks the controller to reconcile the GitSource or
// Release name of client now, by a new ReconcileRequestAnnotation, and waits
// until its status says it acted on it. It returns whether the object is
// Ready and its Ready condition's message.
func RequestReconcile(ctx context.Context, client dynamic.ResourceInterface, name string, timeout time.Duration) (bool, string, error) {
	at := time.Now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{ReconcileRequestAnnotation: at}}})
	if err != nil {
		return false, "", err
	}
	if _, err := client.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return false, "", fmt.Errorf("requesting a reconcile of %s: %w", name, err)
	}
	var (
		ready bool
		msg   string
	)
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		u, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		var obj struct {
			Status struct {
				Conditions             []metav1.Condition `json:"conditions"`
				LastHandledReconcileAt string             `json:"lastHandledReconcileAt"`
			} `json:"status"`
		}
		if err := FromUnstructured(u, &obj); err != nil {
			return false, err
		}
		status := obj.Status
		if status.LastHandledReconcileAt != at {
			return false, nil
		}
		c := meta.FindStatusCondition(status.Conditions, ConditionReady)
		if c == nil {
			return false, nil
		}
		ready, msg = c.Status == metav1.ConditionTrue, c.Message
		return true, nil
	})
	if err != nil {
		return false, "", fmt.Errorf("waiting for %s to be reconciled: %w", name, err)
	}
	return ready, msg, nil
}
