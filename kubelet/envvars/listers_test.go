package envvars

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestSources(t *testing.T) {
	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes"}, Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", Ports: []corev1.ServicePort{{Port: 443}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "elsewhere"}, Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.2", Ports: []corev1.ServicePort{{Port: 80}}}},
	} {
		if err := services.Add(svc); err != nil {
			t.Fatal(err)
		}
	}
	l := Sources{
		SecretsAndConfigMaps: &fakeObjects{configMaps: map[string]*corev1.ConfigMap{
			"ns/cfg": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"k": "v"}},
		}},
		ServiceLister: corelisters.NewServiceLister(services),
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	keyRef := func(kind string) corev1.EnvVar {
		sel := corev1.LocalObjectReference{Name: "cfg"}
		if kind == "secret" {
			return corev1.EnvVar{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: sel, Key: "k"}}}
		}
		return corev1.EnvVar{Name: "C", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: sel, Key: "k"}}}
	}
	tests := []struct {
		name    string
		env     corev1.EnvVar
		want    string
		wantErr string
	}{
		{name: "configmap from the object source", env: keyRef("configmap"), want: "v"},
		{name: "secret missing from the object source", env: keyRef("secret"), wantErr: `secret "cfg" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := NewBuilder(l, nil).Env(context.Background(), Input{Pod: pod, Container: &corev1.Container{Name: "c", Env: []corev1.EnvVar{tc.env}}})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := envMap(env)
			if got[tc.env.Name] != tc.want || got["KUBERNETES_SERVICE_HOST"] != "10.0.0.1" || got["ELSEWHERE_SERVICE_HOST"] != "" {
				t.Errorf("env = %v", got)
			}
		})
	}
}
