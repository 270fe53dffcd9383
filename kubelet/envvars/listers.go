package envvars

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Listers reads Objects from client-go listers (informer caches).
type Listers struct {
	ConfigMapLister corelisters.ConfigMapLister
	SecretLister    corelisters.SecretLister
	ServiceLister   corelisters.ServiceLister
}

// ConfigMap implements Objects.
func (l Listers) ConfigMap(_ context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return l.ConfigMapLister.ConfigMaps(namespace).Get(name)
}

// Secret implements Objects.
func (l Listers) Secret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	return l.SecretLister.Secrets(namespace).Get(name)
}

// Services implements Objects.
func (l Listers) Services(_ context.Context, namespace string) ([]*corev1.Service, error) {
	return l.ServiceLister.Services(namespace).List(labels.Everything())
}
