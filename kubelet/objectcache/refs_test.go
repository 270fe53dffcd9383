package objectcache

import (
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRefsOf(t *testing.T) {
	local := func(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }
	env := func(secret, cm string) []corev1.EnvVar {
		return []corev1.EnvVar{
			{Name: "PLAIN", Value: "x"},
			{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: local(secret), Key: "k"}}},
			{Name: "C", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: local(cm), Key: "k"}}},
			{Name: "F", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		}
	}
	envFrom := func(secret, cm string) []corev1.EnvFromSource {
		return []corev1.EnvFromSource{
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: local(secret)}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: local(cm)}},
		}
	}
	tests := []struct {
		name                    string
		spec                    corev1.PodSpec
		wantSecrets, wantConfig []string
	}{
		{name: "nothing", spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}},
		{
			name: "volumes",
			spec: corev1.PodSpec{Volumes: []corev1.Volume{
				{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
				{Name: "b", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: local("vol-cm")}}},
				{Name: "c", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{LocalObjectReference: local("proj-secret")}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: local("proj-cm")}},
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				}}}},
				{Name: "d", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			}},
			wantSecrets: []string{"proj-secret", "vol-secret"},
			wantConfig:  []string{"proj-cm", "vol-cm"},
		},
		{
			name: "every container's environment",
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "i", Env: env("init-secret", "init-cm")}},
				Containers:     []corev1.Container{{Name: "c", Env: env("env-secret", "env-cm"), EnvFrom: envFrom("from-secret", "from-cm")}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug", EnvFrom: envFrom("eph-secret", "eph-cm"),
				}}},
			},
			wantSecrets: []string{"env-secret", "eph-secret", "from-secret", "init-secret"},
			wantConfig:  []string{"env-cm", "eph-cm", "from-cm", "init-cm"},
		},
		{
			name:        "image pull secrets, empty names left out",
			spec:        corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}, {Name: ""}}},
			wantSecrets: []string{"pull"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := refsOf(&corev1.Pod{Spec: tc.spec})
			if got := slices.Sorted(maps.Keys(r.secrets)); !slices.Equal(got, tc.wantSecrets) {
				t.Errorf("secrets %v, want %v", got, tc.wantSecrets)
			}
			if got := slices.Sorted(maps.Keys(r.configMaps)); !slices.Equal(got, tc.wantConfig) {
				t.Errorf("configMaps %v, want %v", got, tc.wantConfig)
			}
		})
	}
}
