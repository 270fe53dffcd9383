package node

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestVisitRefs(t *testing.T) {
	secretEnv := func(name string) corev1.EnvVar {
		return corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"}}}
	}
	configMapEnv := func(name string) corev1.EnvVar {
		return corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"}}}
	}
	tests := []struct {
		name string
		spec corev1.PodSpec
		want []string
	}{{
		name: "a pod naming nothing runs as the default account",
		want: []string{"serviceaccount/default"},
	}, {
		name: "volumes",
		spec: corev1.PodSpec{ServiceAccountName: "builder", Volumes: []corev1.Volume{
			{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "vol-cm"}}}},
			{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}},
			}}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
			{Name: "csi", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "d", NodePublishSecretRef: &corev1.LocalObjectReference{Name: "csi-secret"}}}},
			{Name: "rbd", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{SecretRef: &corev1.LocalObjectReference{Name: "rbd-secret"}}}},
			{Name: "azure", VolumeSource: corev1.VolumeSource{AzureFile: &corev1.AzureFileVolumeSource{SecretName: "azure-secret"}}},
			{Name: "cephfs-without-secret", VolumeSource: corev1.VolumeSource{CephFS: &corev1.CephFSVolumeSource{}}},
			{Name: "empty", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}},
		want: []string{"serviceaccount/builder", "secret/vol-secret", "configmap/vol-cm", "configmap/kube-root-ca.crt",
			"secret/proj-secret", "claim/data", "claim/web-scratch", "secret/csi-secret", "secret/rbd-secret", "secret/azure-secret"},
	}, {
		name: "pull secrets and every kind of container",
		spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull-secret"}},
			InitContainers:     []corev1.Container{{Name: "init", Env: []corev1.EnvVar{configMapEnv("init-cm"), {Name: "PLAIN", Value: "v"}}}},
			Containers: []corev1.Container{{Name: "app", Env: []corev1.EnvVar{secretEnv("env-secret")}, EnvFrom: []corev1.EnvFromSource{
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-secret"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-cm"}}},
			}}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Env: []corev1.EnvVar{secretEnv("debug-secret")}}}},
		},
		want: []string{"serviceaccount/builder", "secret/pull-secret", "configmap/init-cm", "secret/envfrom-secret",
			"configmap/envfrom-cm", "secret/env-secret", "secret/debug-secret"},
	}}
	kinds := map[refKind]string{secretRef: "secret", configMapRef: "configmap", claimRef: "claim", serviceAccountRef: "serviceaccount"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "work"}, Spec: tt.spec}
			var got []string
			visitRefs(pod, func(kind refKind, name string) bool {
				got = append(got, fmt.Sprintf("%s/%s", kinds[kind], name))
				return true
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("references = %q\nwant         %q", got, tt.want)
			}
			for _, ref := range tt.want {
				var seen int
				visitRefs(pod, func(kind refKind, name string) bool {
					seen++
					return fmt.Sprintf("%s/%s", kinds[kind], name) != ref
				})
				if want := slices.Index(tt.want, ref) + 1; seen != want {
					t.Errorf("a walk stopped at %s visited %d references, want %d", ref, seen, want)
				}
			}
		})
	}
}
