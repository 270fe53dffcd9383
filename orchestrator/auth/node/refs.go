package node

import (
	corev1 "k8s.io/api/core/v1"
)

// refKind is the kind of object a pod names in its spec.
type refKind int

const (
	secretRef refKind = iota
	configMapRef
	claimRef
	serviceAccountRef
)

// defaultServiceAccount is the account of a pod that names none; the kubelet
// requests its tokens then.
const defaultServiceAccount = "default"

// references reports whether pod names the object of kind called name, in
// its own namespace.
func references(pod *corev1.Pod, kind refKind, name string) bool {
	found := false
	visitRefs(pod, func(k refKind, n string) bool {
		found = k == kind && n == name
		return !found
	})
	return found
}

// visitRefs calls visit for every object a pod's spec names, in the pod's
// namespace, until visit returns false: the Secrets and ConfigMaps of its
// volumes (projected sources too), of every container's env and envFrom
// (init and ephemeral containers too) and its imagePullSecrets; the Secrets
// of volume plugins that take one, as upstream counts them; its
// PersistentVolumeClaims, generic ephemeral volumes' included; and its
// ServiceAccount. Empty names are skipped.
func visitRefs(pod *corev1.Pod, visit func(kind refKind, name string) bool) {
	v := refVisitor{visit: visit}
	spec := &pod.Spec
	account := spec.ServiceAccountName
	if account == "" {
		account = defaultServiceAccount
	}
	if !v.emit(serviceAccountRef, account) {
		return
	}
	for _, s := range spec.ImagePullSecrets {
		if !v.emit(secretRef, s.Name) {
			return
		}
	}
	for i := range spec.Volumes {
		if !v.volume(pod, &spec.Volumes[i]) {
			return
		}
	}
	for i := range spec.InitContainers {
		if !v.env(spec.InitContainers[i].Env, spec.InitContainers[i].EnvFrom) {
			return
		}
	}
	for i := range spec.Containers {
		if !v.env(spec.Containers[i].Env, spec.Containers[i].EnvFrom) {
			return
		}
	}
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i].EphemeralContainerCommon
		if !v.env(c.Env, c.EnvFrom) {
			return
		}
	}
}

// refVisitor carries visit through the walk; each method returns false once
// visit asked to stop.
type refVisitor struct {
	visit func(kind refKind, name string) bool
}

func (v refVisitor) emit(kind refKind, name string) bool {
	return name == "" || v.visit(kind, name)
}

func (v refVisitor) local(kind refKind, ref *corev1.LocalObjectReference) bool {
	return ref == nil || v.emit(kind, ref.Name)
}

func (v refVisitor) volume(pod *corev1.Pod, vol *corev1.Volume) bool {
	src := &vol.VolumeSource
	switch {
	case src.Secret != nil:
		return v.emit(secretRef, src.Secret.SecretName)
	case src.ConfigMap != nil:
		return v.emit(configMapRef, src.ConfigMap.Name)
	case src.Projected != nil:
		for _, p := range src.Projected.Sources {
			if p.Secret != nil && !v.emit(secretRef, p.Secret.Name) {
				return false
			}
			if p.ConfigMap != nil && !v.emit(configMapRef, p.ConfigMap.Name) {
				return false
			}
		}
		return true
	case src.PersistentVolumeClaim != nil:
		return v.emit(claimRef, src.PersistentVolumeClaim.ClaimName)
	case src.Ephemeral != nil:
		// The ephemeral volume controller names the claim after the pod
		// and the volume.
		return v.emit(claimRef, pod.Name+"-"+vol.Name)
	// Volume plugins that read a Secret of the pod's namespace.
	case src.AzureFile != nil:
		return v.emit(secretRef, src.AzureFile.SecretName)
	case src.CephFS != nil:
		return v.local(secretRef, src.CephFS.SecretRef)
	case src.Cinder != nil:
		return v.local(secretRef, src.Cinder.SecretRef)
	case src.FlexVolume != nil:
		return v.local(secretRef, src.FlexVolume.SecretRef)
	case src.ISCSI != nil:
		return v.local(secretRef, src.ISCSI.SecretRef)
	case src.RBD != nil:
		return v.local(secretRef, src.RBD.SecretRef)
	case src.ScaleIO != nil:
		return v.local(secretRef, src.ScaleIO.SecretRef)
	case src.StorageOS != nil:
		return v.local(secretRef, src.StorageOS.SecretRef)
	case src.CSI != nil:
		return v.local(secretRef, src.CSI.NodePublishSecretRef)
	}
	return true
}

func (v refVisitor) env(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) bool {
	for _, e := range envFrom {
		if e.SecretRef != nil && !v.emit(secretRef, e.SecretRef.Name) {
			return false
		}
		if e.ConfigMapRef != nil && !v.emit(configMapRef, e.ConfigMapRef.Name) {
			return false
		}
	}
	for _, e := range env {
		if e.ValueFrom == nil {
			continue
		}
		if ref := e.ValueFrom.SecretKeyRef; ref != nil && !v.emit(secretRef, ref.Name) {
			return false
		}
		if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil && !v.emit(configMapRef, ref.Name) {
			return false
		}
	}
	return true
}
