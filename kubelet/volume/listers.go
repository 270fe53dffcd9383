package volume

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Listers reads Objects from client-go listers (informer caches).
type Listers struct {
	ConfigMapLister corelisters.ConfigMapLister
	SecretLister    corelisters.SecretLister
	ClaimLister     corelisters.PersistentVolumeClaimLister
	VolumeLister    corelisters.PersistentVolumeLister
}

// ConfigMap implements Objects.
func (l Listers) ConfigMap(_ context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return l.ConfigMapLister.ConfigMaps(namespace).Get(name)
}

// Secret implements Objects.
func (l Listers) Secret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	return l.SecretLister.Secrets(namespace).Get(name)
}

// PersistentVolumeClaim implements Objects.
func (l Listers) PersistentVolumeClaim(_ context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	return l.ClaimLister.PersistentVolumeClaims(namespace).Get(name)
}

// PersistentVolume implements Objects.
func (l Listers) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	return l.VolumeLister.Get(name)
}

// ClientTokens requests tokens through a clientset's serviceaccounts/token
// subresource.
type ClientTokens struct {
	Client kubernetes.Interface
}

// CreateToken implements TokenRequester.
func (c ClientTokens) CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, serviceAccount, req, metav1.CreateOptions{})
}
