package serviceaccount

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// newPlugin returns the plugin with cached service accounts in its informer
// and live ones behind its client only.
func newPlugin(t *testing.T, cached []*corev1.ServiceAccount, live ...runtime.Object) (*Plugin, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(live...)
	f := informers.NewSharedInformerFactory(client, 0)
	for _, sa := range cached {
		if err := f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	return New(client, f), client
}

func account(name string, mutate ...func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "work", Name: name}}
	for _, m := range mutate {
		m(sa)
	}
	return sa
}

func noAutomount(sa *corev1.ServiceAccount) { sa.AutomountServiceAccountToken = ptr.To(false) }

func admit(t *testing.T, p *Plugin, pod *corev1.Pod, op admission.Operation, subresource string) error {
	t.Helper()
	pod.Namespace, pod.Name = "work", "app"
	a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "work", "app",
		corev1.SchemeGroupVersion.WithResource("pods"), subresource, op, nil, false, nil)
	return p.Admit(context.Background(), a, nil)
}

func TestAdmitNamesTheServiceAccount(t *testing.T) {
	tests := []struct {
		name        string
		pod         corev1.Pod
		op          admission.Operation
		subresource string
		wantName    string
		wantLegacy  string
	}{{
		name:     "pod without a service account runs as default",
		op:       admission.Create,
		wantName: "default", wantLegacy: "default",
	}, {
		name:     "named service account is kept",
		pod:      corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "builder"}},
		op:       admission.Create,
		wantName: "builder", wantLegacy: "builder",
	}, {
		name:     "the deprecated field names the account when alone",
		pod:      corev1.Pod{Spec: corev1.PodSpec{DeprecatedServiceAccount: "legacy"}},
		op:       admission.Create,
		wantName: "legacy", wantLegacy: "legacy",
	}, {
		name:     "serviceAccountName wins over a different deprecated field",
		pod:      corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "builder", DeprecatedServiceAccount: "legacy"}},
		op:       admission.Create,
		wantName: "builder", wantLegacy: "builder",
	}, {
		name: "mirror pods get no service account",
		pod:  corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{mirrorPodAnnotation: "abc"}}},
		op:   admission.Create,
	}, {
		name: "updates are left alone",
		op:   admission.Update,
	}, {
		name:        "subresources are left alone",
		op:          admission.Create,
		subresource: "binding",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newPlugin(t, []*corev1.ServiceAccount{account("default"), account("builder"), account("legacy")})
			pod := tt.pod.DeepCopy()
			if err := admit(t, p, pod, tt.op, tt.subresource); err != nil {
				t.Fatal(err)
			}
			if pod.Spec.ServiceAccountName != tt.wantName || pod.Spec.DeprecatedServiceAccount != tt.wantLegacy {
				t.Errorf("serviceAccountName, serviceAccount = %q, %q; want %q, %q",
					pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount, tt.wantName, tt.wantLegacy)
			}
			if tt.wantName == "" && len(pod.Spec.Volumes) > 0 {
				t.Errorf("a pod left alone got volumes %v", pod.Spec.Volumes)
			}
		})
	}
}

// wantVolume is the token volume upstream's plugin adds, under name.
func wantVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o644),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}},
			}}},
		},
	}}}
}

func tokenMount(name string) corev1.VolumeMount {
	return corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}
}

func TestAdmitMountsTheToken(t *testing.T) {
	ownMount := corev1.VolumeMount{Name: "mine", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}
	dataMount := corev1.VolumeMount{Name: "data", MountPath: "/data"}
	podWith := func(mutate func(*corev1.PodSpec)) corev1.Pod {
		pod := corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "app", VolumeMounts: []corev1.VolumeMount{dataMount}}, {Name: "side"}},
			Volumes:        []corev1.Volume{{Name: "data"}},
		}}
		if mutate != nil {
			mutate(&pod.Spec)
		}
		return pod
	}
	const generated = "kube-api-access-x7k2q"
	cases := []struct {
		name   string
		cached []*corev1.ServiceAccount
		live   []runtime.Object
		pod    corev1.Pod
		// names are what the name generator answers, in turn.
		names []string
		// want is the spec after admission, from the pod's.
		want func(*corev1.PodSpec)
	}{
		{
			name:   "every container and init container mounts a new volume",
			cached: []*corev1.ServiceAccount{account("default")},
			pod:    podWith(nil),
			want: func(s *corev1.PodSpec) {
				s.InitContainers[0].VolumeMounts = []corev1.VolumeMount{tokenMount(generated)}
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount, tokenMount(generated)}
				s.Containers[1].VolumeMounts = []corev1.VolumeMount{tokenMount(generated)}
				s.Volumes = append(s.Volumes, wantVolume(generated))
			},
		},
		{
			name:   "the pod opts out",
			cached: []*corev1.ServiceAccount{account("default")},
			pod:    podWith(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = ptr.To(false) }),
		},
		{
			name:   "the service account opts out",
			cached: []*corev1.ServiceAccount{account("default", noAutomount)},
			pod:    podWith(nil),
		},
		{
			name: "the service account opts out, read live when the cache does not have it yet",
			live: []runtime.Object{account("default", noAutomount)},
			pod:  podWith(nil),
		},
		{
			name:   "the pod's choice wins over its service account's",
			cached: []*corev1.ServiceAccount{account("default", noAutomount)},
			pod:    podWith(func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = ptr.To(true) }),
			want: func(s *corev1.PodSpec) {
				s.InitContainers[0].VolumeMounts = []corev1.VolumeMount{tokenMount(generated)}
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount, tokenMount(generated)}
				s.Containers[1].VolumeMounts = []corev1.VolumeMount{tokenMount(generated)}
				s.Volumes = append(s.Volumes, wantVolume(generated))
			},
		},
		{
			name: "a pod whose service account does not exist yet still gets the volume",
			pod:  podWith(nil),
			want: func(s *corev1.PodSpec) {
				s.InitContainers[0].VolumeMounts = []corev1.VolumeMount{tokenMount(generated)}
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount, tokenMount(generated)}
				s.Containers[1].VolumeMounts = []corev1.VolumeMount{tokenMount(generated)}
				s.Volumes = append(s.Volumes, wantVolume(generated))
			},
		},
		{
			name:   "a container with its own mount at the path keeps it",
			cached: []*corev1.ServiceAccount{account("default")},
			pod:    podWith(func(s *corev1.PodSpec) { s.Containers[1].VolumeMounts = []corev1.VolumeMount{ownMount} }),
			want: func(s *corev1.PodSpec) {
				s.InitContainers[0].VolumeMounts = []corev1.VolumeMount{tokenMount(generated)}
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount, tokenMount(generated)}
				s.Volumes = append(s.Volumes, wantVolume(generated))
			},
		},
		{
			name:   "no volume when every container mounts its own",
			cached: []*corev1.ServiceAccount{account("default")},
			pod: podWith(func(s *corev1.PodSpec) {
				s.InitContainers[0].VolumeMounts = []corev1.VolumeMount{ownMount}
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{ownMount}
				s.Containers[1].VolumeMounts = []corev1.VolumeMount{ownMount}
			}),
		},
		{
			name:   "a pod copied from another keeps its token volume",
			cached: []*corev1.ServiceAccount{account("default")},
			pod: podWith(func(s *corev1.PodSpec) {
				s.Volumes = append(s.Volumes, wantVolume("kube-api-access-old01"))
				s.Containers[0].VolumeMounts = append(s.Containers[0].VolumeMounts, tokenMount("kube-api-access-old01"))
			}),
			want: func(s *corev1.PodSpec) {
				s.InitContainers[0].VolumeMounts = []corev1.VolumeMount{tokenMount("kube-api-access-old01")}
				s.Containers[1].VolumeMounts = []corev1.VolumeMount{tokenMount("kube-api-access-old01")}
			},
		},
		{
			name:   "a volume named like a token volume is taken for one, as upstream does",
			cached: []*corev1.ServiceAccount{account("default")},
			pod:    podWith(func(s *corev1.PodSpec) { s.Volumes = append(s.Volumes, corev1.Volume{Name: "kube-api-access-mine"}) }),
			names:  []string{},
			want: func(s *corev1.PodSpec) {
				s.InitContainers[0].VolumeMounts = []corev1.VolumeMount{tokenMount("kube-api-access-mine")}
				s.Containers[0].VolumeMounts = []corev1.VolumeMount{dataMount, tokenMount("kube-api-access-mine")}
				s.Containers[1].VolumeMounts = []corev1.VolumeMount{tokenMount("kube-api-access-mine")}
			},
		},
		{
			name: "the service account's image pull secrets are copied",
			cached: []*corev1.ServiceAccount{account("default", noAutomount, func(sa *corev1.ServiceAccount) {
				sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
			})},
			pod:  podWith(nil),
			want: func(s *corev1.PodSpec) { s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}} },
		},
		{
			name: "the pod's own image pull secrets are kept",
			cached: []*corev1.ServiceAccount{account("default", noAutomount, func(sa *corev1.ServiceAccount) {
				sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
			})},
			pod: podWith(func(s *corev1.PodSpec) { s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mine"}} }),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := newPlugin(t, c.cached, c.live...)
			names := c.names
			if names == nil {
				names = []string{generated}
			}
			p.generateName = func(prefix string) string {
				if prefix != "kube-api-access-" {
					t.Errorf("volume name generated from %q", prefix)
				}
				if len(names) == 0 {
					t.Fatal("more names generated than expected")
				}
				n := names[0]
				names = names[1:]
				return n
			}
			pod := c.pod.DeepCopy()
			if err := admit(t, p, pod, admission.Create, ""); err != nil {
				t.Fatal(err)
			}
			want := c.pod.DeepCopy()
			want.Spec.ServiceAccountName, want.Spec.DeprecatedServiceAccount = "default", "default"
			if c.want != nil {
				c.want(&want.Spec)
			}
			if diff := cmp.Diff(want.Spec, pod.Spec); diff != "" {
				t.Errorf("spec after admission (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdmitGeneratesUpstreamNames(t *testing.T) {
	p, _ := newPlugin(t, []*corev1.ServiceAccount{account("default")})
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if err := admit(t, p, pod, admission.Create, ""); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Volumes) != 1 {
		t.Fatalf("volumes %v, want the token volume", pod.Spec.Volumes)
	}
	name := pod.Spec.Volumes[0].Name
	if suffix, ok := strings.CutPrefix(name, "kube-api-access-"); !ok || len(suffix) != 5 {
		t.Errorf("token volume %q, want kube-api-access- and five random characters", name)
	}
}

func TestAdmitRefusesWhenServiceAccountsCannotBeRead(t *testing.T) {
	p, client := newPlugin(t, nil)
	client.PrependReactor("get", "serviceaccounts", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is away")
	})
	err := admit(t, p, &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}, admission.Create, "")
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "error looking up service account work/default") {
		t.Errorf("Admit = %v, want Forbidden: error looking up service account work/default", err)
	}
}
