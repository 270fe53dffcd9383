package release

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// EnsureNamespace creates ns unless it exists. A user who may not create
// namespaces (one who holds a namespace's edit role, say) is refused before
// the server looks for it; for such a user an existing namespace is fine, as
// Helm's --create-namespace is not.
func EnsureNamespace(ctx context.Context, client kubernetes.Interface, ns *corev1.Namespace) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsForbidden(err) {
		if _, getErr := client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{}); getErr == nil {
			return nil
		}
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns.Name, err)
	}
	return nil
}
