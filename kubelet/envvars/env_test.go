package envvars

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

type fakeObjects struct {
	configMaps map[string]*corev1.ConfigMap // by namespace/name
	secrets    map[string]*corev1.Secret
	services   []*corev1.Service
}

func (f *fakeObjects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	// As client-go listers say it.
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (f *fakeObjects) Services(_ context.Context, ns string) ([]*corev1.Service, error) {
	var out []*corev1.Service
	for _, s := range f.services {
		if s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

type event struct{ kind, reason, message string }

type fakeRecorder struct{ events []event }

func (r *fakeRecorder) Eventf(_ runtime.Object, kind, reason, format string, args ...any) {
	r.events = append(r.events, event{kind, reason, fmt.Sprintf(format, args...)})
}

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func objects() *fakeObjects {
	return &fakeObjects{
		configMaps: map[string]*corev1.ConfigMap{
			"ns/cfg": {Data: map[string]string{"k": "v", "bad-key": "x", "1NUM": "y", "GOOD": "g"}},
		},
		secrets: map[string]*corev1.Secret{
			"ns/sec": {Data: map[string][]byte{"pw": []byte("hunter2"), "=x": []byte("?")}},
		},
		services: []*corev1.Service{
			svc("default", "kubernetes", "10.0.0.1", corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}),
			svc("default", "other", "10.0.0.9", corev1.ServicePort{Port: 1}),
			svc("ns", "my-web", "10.0.0.2",
				corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
				corev1.ServicePort{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}),
			svc("ns", "headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 80}),
		},
	}
}

func ptr[T any](v T) *T { return &v }

func envMap(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}

func TestEnvServiceLinks(t *testing.T) {
	kube := map[string]string{
		"KUBERNETES_SERVICE_HOST":       "10.0.0.1",
		"KUBERNETES_SERVICE_PORT":       "443",
		"KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT":               "tcp://10.0.0.1:443",
		"KUBERNETES_PORT_443_TCP":       "tcp://10.0.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp",
		"KUBERNETES_PORT_443_TCP_PORT":  "443",
		"KUBERNETES_PORT_443_TCP_ADDR":  "10.0.0.1",
	}
	web := map[string]string{
		"MY_WEB_SERVICE_HOST":         "10.0.0.2",
		"MY_WEB_SERVICE_PORT":         "80",
		"MY_WEB_SERVICE_PORT_HTTP":    "80",
		"MY_WEB_SERVICE_PORT_DNS_UDP": "53",
		"MY_WEB_PORT":                 "tcp://10.0.0.2:80",
		"MY_WEB_PORT_80_TCP":          "tcp://10.0.0.2:80",
		"MY_WEB_PORT_80_TCP_PROTO":    "tcp",
		"MY_WEB_PORT_80_TCP_PORT":     "80",
		"MY_WEB_PORT_80_TCP_ADDR":     "10.0.0.2",
		"MY_WEB_PORT_53_UDP":          "udp://10.0.0.2:53",
		"MY_WEB_PORT_53_UDP_PROTO":    "udp",
		"MY_WEB_PORT_53_UDP_PORT":     "53",
		"MY_WEB_PORT_53_UDP_ADDR":     "10.0.0.2",
	}
	merge := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	tests := []struct {
		name  string
		links *bool
		env   []corev1.EnvVar
		want  map[string]string
	}{
		{name: "links on", links: ptr(true), want: merge(kube, web)},
		{name: "links unset means on", want: merge(kube, web)},
		{name: "links off keeps kubernetes", links: ptr(false), want: kube},
		{
			name:  "declared env wins over a service variable",
			links: ptr(true),
			env:   []corev1.EnvVar{{Name: "MY_WEB_SERVICE_HOST", Value: "mine"}},
			want:  merge(kube, web, map[string]string{"MY_WEB_SERVICE_HOST": "mine"}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
				Spec:       corev1.PodSpec{EnableServiceLinks: tc.links},
			}
			ctr := &corev1.Container{Name: "c", Env: tc.env}
			got, err := NewBuilder(objects(), nil).Env(context.Background(), Input{Pod: pod, Container: ctr})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, envMap(got)); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvValues(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "p", UID: "uid-1",
			Labels:      map[string]string{"app": "web", "tier": "front"},
			Annotations: map[string]string{"example.com/a": "x"},
		},
		Spec: corev1.PodSpec{
			EnableServiceLinks: ptr(false),
			NodeName:           "node1",
			ServiceAccountName: "sa",
			Containers: []corev1.Container{{Name: "side", Resources: corev1.ResourceRequirements{
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			}}},
		},
	}
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	res := func(name, container, res, divisor string) corev1.EnvVar {
		sel := &corev1.ResourceFieldSelector{ContainerName: container, Resource: res}
		if divisor != "" {
			sel.Divisor = resource.MustParse(divisor)
		}
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: sel}}
	}
	cmKey := func(name, cm, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: key, Optional: &optional}}}
	}
	secKey := func(name, s, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s}, Key: key, Optional: &optional}}}
	}
	kube := map[string]string{
		"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"KUBERNETES_PORT": "tcp://10.0.0.1:443", "KUBERNETES_PORT_443_TCP": "tcp://10.0.0.1:443",
		"KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": "443", "KUBERNETES_PORT_443_TCP_ADDR": "10.0.0.1",
	}
	tests := []struct {
		name       string
		ctr        corev1.Container
		want       map[string]string // besides the kubernetes variables
		wantErr    string
		wantEvents []event
	}{
		{
			name: "expansion",
			ctr: corev1.Container{Env: []corev1.EnvVar{
				{Name: "A", Value: "a"},
				{Name: "B", Value: "$(A)-$(KUBERNETES_SERVICE_HOST)"},
				{Name: "C", Value: "$$(A) $(MISSING) $(LATER) $ $x $(unterminated"},
				{Name: "D", Value: "$(A)$$"},
				{Name: "LATER", Value: "l"},
				{Name: "EMPTY"},
			}},
			want: map[string]string{
				"A": "a", "B": "a-10.0.0.1", "C": "$(A) $(MISSING) $(LATER) $ $x $(unterminated",
				"D": "a$", "LATER": "l", "EMPTY": "",
			},
		},
		{
			name: "fieldRef",
			ctr: corev1.Container{Env: []corev1.EnvVar{
				field("NAME", "metadata.name"), field("NS", "metadata.namespace"), field("UID", "metadata.uid"),
				field("APP", "metadata.labels['app']"), field("ANN", "metadata.annotations['example.com/a']"),
				field("LABELS", "metadata.labels"), field("NODE", "spec.nodeName"), field("SA", "spec.serviceAccountName"),
				field("HOST_IP", "status.hostIP"), field("HOST_IPS", "status.hostIPs"),
				field("POD_IP", "status.podIP"), field("POD_IPS", "status.podIPs"),
			}},
			want: map[string]string{
				"NAME": "p", "NS": "ns", "UID": "uid-1", "APP": "web", "ANN": "x",
				"LABELS": "app=\"web\"\ntier=\"front\"", "NODE": "node1", "SA": "sa",
				"HOST_IP": "192.168.1.1", "HOST_IPS": "192.168.1.1,fd00::1",
				"POD_IP": "10.1.0.5", "POD_IPS": "10.1.0.5,fd01::5",
			},
		},
		{
			name:    "unsupported fieldRef",
			ctr:     corev1.Container{Env: []corev1.EnvVar{field("X", "spec.hostname")}},
			wantErr: `env "X" of container "c": unsupported fieldPath: spec.hostname`,
		},
		{
			name: "resourceFieldRef",
			ctr: corev1.Container{
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				},
				Env: []corev1.EnvVar{
					res("CPU_LIMIT", "", "limits.cpu", ""),             // 1.5 cores rounds up to 2
					res("CPU_LIMIT_M", "", "limits.cpu", "1m"),         // 1500
					res("CPU_REQ_M", "", "requests.cpu", "1m"),         // 250
					res("MEM_REQ_MI", "", "requests.memory", "1Mi"),    // 32
					res("MEM_LIMIT", "", "limits.memory", ""),          // node allocatable
					res("SIDE_MEM_MI", "side", "limits.memory", "1Mi"), // another container's
				},
			},
			want: map[string]string{
				"CPU_LIMIT": "2", "CPU_LIMIT_M": "1500", "CPU_REQ_M": "250", "MEM_REQ_MI": "32",
				"MEM_LIMIT": "2147483648", "SIDE_MEM_MI": "64",
			},
		},
		{
			name: "configMap and secret keys",
			ctr: corev1.Container{Env: []corev1.EnvVar{
				cmKey("K", "cfg", "k", false), secKey("PW", "sec", "pw", false),
				cmKey("OPT_KEY", "cfg", "nope", true), cmKey("OPT_CM", "gone", "k", true),
				secKey("OPT_SEC", "gone", "k", true), {Name: "REF", Value: "$(K)/$(OPT_KEY)"},
			}},
			want: map[string]string{"K": "v", "PW": "hunter2", "REF": "v/$(OPT_KEY)"},
		},
		{
			name:    "missing configmap",
			ctr:     corev1.Container{Env: []corev1.EnvVar{cmKey("K", "gone", "k", false)}},
			wantErr: `configmap "gone" not found`,
		},
		{
			name:    "missing configmap key",
			ctr:     corev1.Container{Env: []corev1.EnvVar{cmKey("K", "cfg", "nope", false)}},
			wantErr: `couldn't find key nope in ConfigMap ns/cfg`,
		},
		{
			name:    "missing secret",
			ctr:     corev1.Container{Env: []corev1.EnvVar{secKey("K", "gone", "k", false)}},
			wantErr: `secret "gone" not found`,
		},
		{
			name:    "missing secret key",
			ctr:     corev1.Container{Env: []corev1.EnvVar{secKey("K", "sec", "nope", false)}},
			wantErr: `couldn't find key nope in Secret ns/sec`,
		},
		{
			name: "envFrom with prefix, invalid keys skipped, env overrides",
			ctr: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
					{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
				},
				Env: []corev1.EnvVar{{Name: "GOOD", Value: "override $(k)"}},
			},
			want: map[string]string{"k": "v", "bad-key": "x", "GOOD": "override v", "S_pw": "hunter2"},
			wantEvents: []event{
				{"Warning", "InvalidEnvironmentVariableNames", "Keys [1NUM] from the EnvFrom configMap ns/cfg were skipped since they are considered invalid environment variable names."},
				{"Warning", "InvalidEnvironmentVariableNames", "Keys [S_=x] from the EnvFrom secret ns/sec were skipped since they are considered invalid environment variable names."},
			},
		},
		{
			name: "envFrom missing secret",
			ctr: corev1.Container{EnvFrom: []corev1.EnvFromSource{
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
			}},
			wantErr: `secret "gone" not found`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			ctr := tc.ctr
			ctr.Name = "c"
			got, err := NewBuilder(objects(), rec).Env(context.Background(), Input{
				Pod: pod, Container: &ctr,
				PodIPs: []string{"10.1.0.5", "fd01::5"}, HostIPs: []string{"192.168.1.1", "fd00::1"},
				NodeAllocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
			})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for k, v := range kube {
				want[k] = v
			}
			for k, v := range tc.want {
				want[k] = v
			}
			if diff := cmp.Diff(want, envMap(got)); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEvents, rec.events, cmp.AllowUnexported(event{})); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMissingObjectIsNotFound(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	ctr := &corev1.Container{Name: "c", EnvFrom: []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
	}}
	_, err := NewBuilder(objects(), nil).Env(context.Background(), Input{Pod: pod, Container: ctr})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("error %v: want a NotFound", err)
	}
}

func TestExpandArgs(t *testing.T) {
	env := []corev1.EnvVar{{Name: "PORT", Value: "8080"}}
	got := ExpandArgs([]string{"--port=$(PORT)", "$$(PORT)", "$(NONE)"}, env)
	want := []string{"--port=8080", "$(PORT)", "$(NONE)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
