package podautoscaler

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
)

// NewScaleClient returns a client of the scale subresource of any kind and the
// mapper from kinds to resources it needs, both from discovery, as
// kube-controller-manager builds them.
func NewScaleClient(config *rest.Config) (scale.ScalesGetter, meta.RESTMapper, error) {
	disco, err := discovery.NewDiscoveryClientForConfig(config)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a discovery client for scale targets: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco))
	scales, err := scale.NewForConfig(rest.CopyConfig(config), mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(disco))
	if err != nil {
		return nil, nil, fmt.Errorf("creating the scale client: %w", err)
	}
	return scales, mapper, nil
}
