package localpath

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ClassName is the name of the StorageClass this provisioner serves.
const ClassName = "local-path"

// annDefaultClass marks the cluster's default StorageClass.
const annDefaultClass = "storageclass.kubernetes.io/is-default-class"

// StorageClass returns the cluster's default StorageClass, served by this
// provisioner: claims that name no class get a directory on a node, deleted
// with the claim. Binding waits for the first pod using the claim to be placed
// on a node (WaitForFirstConsumer), so that the volume is made on that pod's
// node rather than wherever the provisioner with Default runs.
func StorageClass() *storagev1.StorageClass {
	policy := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: ClassName, Annotations: map[string]string{annDefaultClass: "true"}},
		Provisioner:       Name,
		ReclaimPolicy:     &policy,
		VolumeBindingMode: &mode,
	}
}

// EnsureStorageClass creates StorageClass() unless a class of its name exists;
// an existing one, changed or not, is left as it is.
func EnsureStorageClass(ctx context.Context, client kubernetes.Interface) error {
	_, err := client.StorageV1().StorageClasses().Get(ctx, ClassName, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("looking up storage class %s: %w", ClassName, err)
	}
	_, err = client.StorageV1().StorageClasses().Create(ctx, StorageClass(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating storage class %s: %w", ClassName, err)
	}
	return nil
}
