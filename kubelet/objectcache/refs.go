package objectcache

import (
	corev1 "k8s.io/api/core/v1"
)

// podRefs are the names of the Secrets and ConfigMaps one pod references,
// all in the pod's namespace.
type podRefs struct {
	namespace           string
	secrets, configMaps map[string]bool
}

// refsOf lists what pod references that the kubelet reads: the Secrets and
// ConfigMaps of its volumes (projected ones included), of the env and
// envFrom of every container (init and ephemeral ones too), and its
// imagePullSecrets. Empty names are left out.
func refsOf(pod *corev1.Pod) podRefs {
	r := podRefs{namespace: pod.Namespace, secrets: map[string]bool{}, configMaps: map[string]bool{}}
	add := func(set map[string]bool, name string) {
		if name != "" {
			set[name] = true
		}
	}
	spec := &pod.Spec
	for _, s := range spec.ImagePullSecrets {
		add(r.secrets, s.Name)
	}
	for i := range spec.Volumes {
		src := &spec.Volumes[i].VolumeSource
		switch {
		case src.Secret != nil:
			add(r.secrets, src.Secret.SecretName)
		case src.ConfigMap != nil:
			add(r.configMaps, src.ConfigMap.Name)
		case src.Projected != nil:
			for _, p := range src.Projected.Sources {
				if p.Secret != nil {
					add(r.secrets, p.Secret.Name)
				}
				if p.ConfigMap != nil {
					add(r.configMaps, p.ConfigMap.Name)
				}
			}
		}
	}
	env := func(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) {
		for _, e := range envFrom {
			if e.SecretRef != nil {
				add(r.secrets, e.SecretRef.Name)
			}
			if e.ConfigMapRef != nil {
				add(r.configMaps, e.ConfigMapRef.Name)
			}
		}
		for _, e := range env {
			if e.ValueFrom == nil {
				continue
			}
			if ref := e.ValueFrom.SecretKeyRef; ref != nil {
				add(r.secrets, ref.Name)
			}
			if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
				add(r.configMaps, ref.Name)
			}
		}
	}
	for i := range spec.InitContainers {
		env(spec.InitContainers[i].Env, spec.InitContainers[i].EnvFrom)
	}
	for i := range spec.Containers {
		env(spec.Containers[i].Env, spec.Containers[i].EnvFrom)
	}
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i].EphemeralContainerCommon
		env(c.Env, c.EnvFrom)
	}
	return r
}
