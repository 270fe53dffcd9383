package apis

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

func defaultStorageClass(sc *storagev1.StorageClass) {
	defaultPointer(&sc.ReclaimPolicy, corev1.PersistentVolumeReclaimDelete)
	defaultPointer(&sc.VolumeBindingMode, storagev1.VolumeBindingImmediate)
}

func defaultCSIDriver(d *storagev1.CSIDriver) {
	spec := &d.Spec
	defaultPointer(&spec.AttachRequired, true)
	defaultPointer(&spec.PodInfoOnMount, false)
	defaultPointer(&spec.StorageCapacity, false)
	defaultPointer(&spec.FSGroupPolicy, storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy)
	if len(spec.VolumeLifecycleModes) == 0 {
		spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}
	}
	defaultPointer(&spec.RequiresRepublish, false)
	defaultPointer(&spec.SELinuxMount, false)
}

func defaultVolumeAttachment(va *storagev1.VolumeAttachment) {
	if spec := va.Spec.Source.InlineVolumeSpec; spec != nil {
		defaultPersistentVolumeSpec(spec)
	}
}
