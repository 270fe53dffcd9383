package printers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// storageKinds are the printed kinds of the storage.k8s.io group.
func storageKinds() map[string]kind {
	return map[string]kind{
		"storageclasses": cellsOf(storageClassColumns(), storageClassCells),
	}
}

func storageClassColumns() []metav1.TableColumnDefinition {
	doc := storagev1.StorageClass{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Provisioner", "string", doc["provisioner"]),
		column("ReclaimPolicy", "string", doc["reclaimPolicy"]),
		column("VolumeBindingMode", "string", doc["volumeBindingMode"]),
		column("AllowVolumeExpansion", "string", doc["allowVolumeExpansion"]),
		ageColumn(),
	}
}

// storageClassCells marks the default class "name (default)" and shows the defaults
// of unset policies: Delete and Immediate.
func storageClassCells(sc *storagev1.StorageClass, now time.Time) []any {
	name := sc.Name
	if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" ||
		sc.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true" {
		name += " (default)"
	}
	return []any{name, sc.Provisioner, valueOr(sc.ReclaimPolicy, string(corev1.PersistentVolumeReclaimDelete)),
		valueOr(sc.VolumeBindingMode, string(storagev1.VolumeBindingImmediate)), deref(sc.AllowVolumeExpansion),
		since(sc.CreationTimestamp, now)}
}
