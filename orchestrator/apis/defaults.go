package apis

import (
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// registerDefaults registers, for every served kind, the defaulting that the
// upstream API server applies, so that clients read back the fields they expect.
//
// The API machinery calls these functions on every object it decodes, from a
// request or from storage, so each of them only fills what is unset and leaves a
// defaulted object as it is. The rules follow the upstream defaulting of the v1
// types, nested structs included; the functions live in one file per group.
func registerDefaults(s *runtime.Scheme) {
	// core/v1
	addDefaults(s, defaultPod)
	addDefaults(s, defaultPodTemplate)
	addDefaults(s, defaultReplicationController)
	addDefaults(s, defaultService)
	addDefaults(s, defaultEndpoints)
	addDefaults(s, defaultNamespace)
	addDefaults(s, defaultNode)
	addDefaults(s, defaultSecret)
	addDefaults(s, defaultConfigMap)
	addDefaults(s, defaultPersistentVolume)
	addDefaults(s, defaultPersistentVolumeClaim)
	addDefaults(s, defaultLimitRange)
	addDefaults(s, defaultResourceQuota)

	// apps/v1
	addDefaults(s, defaultDeployment)
	addDefaults(s, defaultReplicaSet)
	addDefaults(s, defaultStatefulSet)
	addDefaults(s, defaultDaemonSet)

	// batch/v1
	addDefaults(s, defaultJob)
	addDefaults(s, defaultCronJob)

	// autoscaling/v2 and v1
	addDefaults(s, defaultHorizontalPodAutoscaler)
	addDefaults(s, func(hpa *autoscalingv1.HorizontalPodAutoscaler) { defaultPointer(&hpa.Spec.MinReplicas, 1) })

	// networking.k8s.io/v1 and discovery.k8s.io/v1
	addDefaults(s, defaultNetworkPolicy)
	addDefaults(s, defaultIngressClass)
	addDefaults(s, defaultEndpointSlice)

	// storage.k8s.io/v1
	addDefaults(s, defaultStorageClass)
	addDefaults(s, defaultCSIDriver)
	addDefaults(s, defaultVolumeAttachment)

	// rbac.authorization.k8s.io/v1
	addDefaults(s, defaultRoleBinding)
	addDefaults(s, defaultClusterRoleBinding)

	// admissionregistration.k8s.io/v1
	addDefaults(s, defaultValidatingWebhookConfiguration)
	addDefaults(s, defaultMutatingWebhookConfiguration)
	addDefaults(s, defaultValidatingAdmissionPolicy)
	addDefaults(s, defaultValidatingAdmissionPolicyBinding)
	addDefaults(s, defaultMutatingAdmissionPolicy)
	addDefaults(s, defaultMutatingAdmissionPolicyBinding)

	// The small groups: scheduling, certificates and authentication.
	addDefaults(s, func(pc *schedulingv1.PriorityClass) {
		defaultPointer(&pc.PreemptionPolicy, corev1.PreemptLowerPriority)
	})
	addDefaults(s, func(pcr *certificatesv1.PodCertificateRequest) {
		defaultPointer(&pcr.Spec.MaxExpirationSeconds, 86400)
	})
	addDefaults(s, func(tr *authenticationv1.TokenRequest) {
		defaultPointer(&tr.Spec.ExpirationSeconds, 3600)
	})

	addListDefaults(s)
}

// addDefaults registers fn as the defaulting function of the kind whose Go type is T.
func addDefaults[T any, PT interface {
	*T
	runtime.Object
}](s *runtime.Scheme, fn func(PT)) {
	s.AddTypeDefaultingFunc(PT(new(T)), func(obj any) { fn(obj.(PT)) })
}

// addListDefaults registers, for every List kind of the served group versions,
// defaulting that defaults each item as its own kind, as upstream's generated
// defaulters do.
func addListDefaults(s *runtime.Scheme) {
	for _, gv := range GroupVersions {
		for kind := range s.KnownTypes(gv) {
			if !strings.HasSuffix(kind, "List") || kind == "List" {
				continue
			}
			list, err := s.New(gv.WithKind(kind))
			if err != nil || !meta.IsListType(list) {
				continue
			}
			s.AddTypeDefaultingFunc(list, func(obj any) {
				_ = meta.EachListItem(obj.(runtime.Object), func(item runtime.Object) error {
					s.Default(item)
					return nil
				})
			})
		}
	}
}

// defaultPointer points *p at v when it is nil.
func defaultPointer[T any](p **T, v T) {
	if *p == nil {
		*p = &v
	}
}

// defaultValue sets *p to v when it holds the zero value.
func defaultValue[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// roundResources rounds every quantity of the lists up to a thousandth, as upstream
// does for API compatibility instead of refusing values that need rounding.
func roundResources(lists ...corev1.ResourceList) {
	for _, list := range lists {
		for name, q := range list {
			q.RoundUp(-3) // milli scale
			list[name] = q
		}
	}
}
