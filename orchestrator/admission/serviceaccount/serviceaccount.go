// Package serviceaccount is the ServiceAccount admission plugin. A pod created
// without a service account runs as the namespace's "default" one (the
// deprecated serviceAccount field always equals serviceAccountName); it gets
// its service account's imagePullSecrets when it names none; and, unless the
// pod or else its service account sets automountServiceAccountToken to false,
// upstream's kube-api-access-<random> projected volume (a bound token from
// serviceaccounts/token, the kube-root-ca.crt ConfigMap's ca.crt and the
// namespace) mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount
// in every container and init container that has nothing mounted there, which
// is where in-cluster clients look.
//
// Unlike upstream it admits pods whose service account does not exist (yet):
// such a pod gets the token volume, and the kubelet cannot fetch its token
// until the account exists. berth's service account controller creates
// "default" asynchronously after a namespace appears, and API servers run
// without controllers (as in tests) or with that one disabled, where refusing
// would fail every pod. It reads ServiceAccounts and must not create or change
// them, or Secrets. Mirror pods, which the kubelet creates for static pods, are
// left alone as upstream leaves them.
package serviceaccount

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/ptr"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "ServiceAccount"

// DefaultName is the service account pods run as when they name none.
const DefaultName = "default"

// Upstream's names for the token volume and where it is mounted.
const (
	// VolumePrefix starts the name of the token volume, followed by five
	// random characters.
	VolumePrefix = "kube-api-access-"
	// MountPath is where containers find token, ca.crt and namespace.
	MountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is the ConfigMap of every namespace that holds the
	// cluster CA as ca.crt.
	RootCAConfigMap = "kube-root-ca.crt"
	// TokenExpirationSeconds is the lifetime asked for the mounted token, by
	// which the API server recognises it (see satoken.WarnOnlyExpiration).
	TokenExpirationSeconds = 3607
)

// mirrorPodAnnotation marks pods the kubelet mirrors from static manifests.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

var podResource = schema.GroupResource{Resource: "pods"}

// Plugin is the ServiceAccount admission plugin.
type Plugin struct {
	*admission.Handler
	client   kubernetes.Interface
	accounts corelisters.ServiceAccountLister
	// generateName names the token volume from VolumePrefix.
	generateName func(prefix string) string
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New returns the plugin, reading ServiceAccounts from f's informer and, when
// that does not have one (yet), from client.
func New(client kubernetes.Interface, f informers.SharedInformerFactory) *Plugin {
	return &Plugin{
		Handler:      admission.NewHandler(admission.Create),
		client:       client,
		accounts:     f.Core().V1().ServiceAccounts().Lister(),
		generateName: names.SimpleNameGenerator.GenerateName,
	}
}

// Admit names the service account of a new pod and mounts its token.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != podResource || a.GetSubresource() != "" || a.GetOperation() != admission.Create {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return nil
	}
	spec := &pod.Spec
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = DefaultName
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	sa, err := p.serviceAccount(ctx, a.GetNamespace(), spec.ServiceAccountName)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up service account %s/%s: %w", a.GetNamespace(), spec.ServiceAccountName, err))
	}
	if automount(sa, pod) {
		p.mountToken(pod)
	}
	if sa != nil && len(spec.ImagePullSecrets) == 0 {
		for _, s := range sa.ImagePullSecrets {
			spec.ImagePullSecrets = append(spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s.Name})
		}
	}
	return nil
}

// serviceAccount reads a service account from the cache, else from the API;
// nil when it does not exist.
func (p *Plugin) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	sa, err := p.accounts.ServiceAccounts(namespace).Get(name)
	if err == nil {
		return sa, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	sa, err = p.client.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return sa, err
}

// automount: the pod's choice wins, else its service account's, else yes.
func automount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if v := pod.Spec.AutomountServiceAccountToken; v != nil {
		return *v
	}
	if sa != nil && sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken mounts the token volume in every container that has nothing at
// MountPath, adding the volume unless the pod already has one (a pod copied
// from another keeps its volume's name).
func (p *Plugin) mountToken(pod *corev1.Pod) {
	spec := &pod.Spec
	volume := ""
	for _, v := range spec.Volumes {
		if volume == "" && strings.HasPrefix(v.Name, VolumePrefix) {
			volume = v.Name
		}
	}
	// A generated name cannot be taken: every name it could be would have been
	// reused above.
	hasVolume := volume != ""
	if !hasVolume {
		volume = p.generateName(VolumePrefix)
	}
	mount := corev1.VolumeMount{Name: volume, ReadOnly: true, MountPath: MountPath}
	mounted := false
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			c := &containers[i]
			has := false
			for _, m := range c.VolumeMounts {
				has = has || m.MountPath == MountPath
			}
			if !has {
				c.VolumeMounts = append(c.VolumeMounts, mount)
				mounted = true
			}
		}
	}
	if mounted && !hasVolume {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{Projected: TokenVolumeSource()}})
	}
}

// TokenVolumeSource is upstream's projected token volume: a token for the API
// server bound to the pod, the cluster CA and the namespace, readable by all
// (0644, set explicitly as upstream does).
func TokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](TokenExpirationSeconds)}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{
				Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
			}},
		},
	}
}
