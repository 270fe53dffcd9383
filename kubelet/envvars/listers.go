package envvars

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// SecretsAndConfigMaps reads Secrets and ConfigMaps one by one, as a node
// may: the kubelet's object cache (kubelet/objectcache) does. A missing
// object is an error for which apierrors.IsNotFound is true.
type SecretsAndConfigMaps interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// Sources is the kubelet's Objects: Secrets and ConfigMaps from
// SecretsAndConfigMaps, Services from a lister of an informer of every
// Service (nodes may list and watch them all).
type Sources struct {
	SecretsAndConfigMaps
	ServiceLister corelisters.ServiceLister
}

// Services implements Objects.
func (s Sources) Services(_ context.Context, namespace string) ([]*corev1.Service, error) {
	return s.ServiceLister.Services(namespace).List(labels.Everything())
}
