// Package tolerations is the DefaultTolerationSeconds admission plugin: every pod
// tolerates its node being not-ready or unreachable for 300 seconds before it is
// evicted, unless it says otherwise by tolerating those taints itself.
//
// It only adds the two NoExecute tolerations; it must not change tolerations a pod
// states, and evicting pods is the node lifecycle controller's business.
package tolerations

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
)

// PluginName is the name upstream gives this plugin.
const PluginName = "DefaultTolerationSeconds"

// DefaultSeconds is how long a pod stays on a not-ready or unreachable node.
const DefaultSeconds int64 = 300

var podResource = schema.GroupResource{Resource: "pods"}

// Plugin is the DefaultTolerationSeconds admission plugin.
type Plugin struct {
	*admission.Handler
}

var _ admission.MutationInterface = (*Plugin)(nil)

// New returns the plugin.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update)}
}

// Admit adds the default tolerations a pod lacks.
func (p *Plugin) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != podResource || a.GetSubresource() != "" {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		if tolerates(pod.Spec.Tolerations, key) {
			continue
		}
		seconds := DefaultSeconds
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key:               key,
			Operator:          corev1.TolerationOpExists,
			Effect:            corev1.TaintEffectNoExecute,
			TolerationSeconds: &seconds,
		})
	}
	return nil
}

// tolerates reports whether some toleration already covers the NoExecute taint
// key: one naming the key or any key, with effect NoExecute or any effect.
func tolerates(tolerations []corev1.Toleration, key string) bool {
	for _, t := range tolerations {
		if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") {
			return true
		}
	}
	return false
}
