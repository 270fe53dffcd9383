package volume

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// SecretsAndConfigMaps reads Secrets and ConfigMaps one by one, as a node
// may: the kubelet's object cache (kubelet/objectcache) does. A missing
// object is an error for which apierrors.IsNotFound is true.
type SecretsAndConfigMaps interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// Sources is the kubelet's Objects: Secrets and ConfigMaps from
// SecretsAndConfigMaps, claims and volumes with a GET each through Client,
// which the Node authorizer allows for the claims of the node's pods and
// their volumes (the Manager reads them once per pod and claim).
type Sources struct {
	SecretsAndConfigMaps
	Client kubernetes.Interface
}

// PersistentVolumeClaim implements Objects.
func (s Sources) PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	return s.Client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, name, metav1.GetOptions{})
}

// PersistentVolume implements Objects.
func (s Sources) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return s.Client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
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
