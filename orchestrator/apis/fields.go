package apis

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// registerFieldSelectors registers, for every served kind, the conversion of field
// selector labels that accepts exactly the fields SelectableFields gives for the
// kind, and refuses any other label as upstream does.
func registerFieldSelectors(s *runtime.Scheme) error {
	for _, gv := range GroupVersions {
		for kind := range s.KnownTypes(gv) {
			gvk := gv.WithKind(kind)
			obj, err := s.New(gvk)
			if err != nil {
				return fmt.Errorf("registering the field selectors of %s: %w", gvk, err)
			}
			set, ok := SelectableFields(obj)
			if !ok {
				continue // a list, options or a meta type
			}
			aliases := fieldLabelAliases[gvk.GroupKind()]
			err = s.AddFieldLabelConversionFunc(gvk, func(label, value string) (string, string, error) {
				if field, ok := aliases[label]; ok {
					return field, value, nil
				}
				if _, ok := set[label]; !ok {
					return "", "", fmt.Errorf("field label not supported: %s", label)
				}
				return label, value, nil
			})
			if err != nil {
				return fmt.Errorf("registering the field selectors of %s: %w", gvk, err)
			}
		}
	}
	return nil
}

// fieldLabelAliases maps, per kind, the legacy labels that field selectors still
// accept to the fields they select on.
var fieldLabelAliases = map[schema.GroupKind]map[string]string{
	{Kind: "Pod"}: {"spec.host": "spec.nodeName"},
}

// SelectableFields returns the fields of obj that field selectors can match, and
// whether obj is of a served kind.
func SelectableFields(obj runtime.Object) (fields.Set, bool) {
	gvk, ok := servedKinds()[reflect.TypeOf(obj)]
	if !ok {
		return nil, false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	set := kindFields(obj)
	if set == nil {
		set = fields.Set{}
	}
	set["metadata.name"] = m.GetName()
	if !clusterScoped[gvk.GroupKind()] {
		set["metadata.namespace"] = m.GetNamespace()
	}
	return set, true
}

// kindFields returns the fields beyond the object's name and namespace that field
// selectors can match on a kind, as upstream's registry offers them.
func kindFields(obj runtime.Object) fields.Set {
	switch o := obj.(type) {
	case *corev1.Pod:
		podIP := ""
		if len(o.Status.PodIPs) > 0 {
			podIP = o.Status.PodIPs[0].IP
		}
		return fields.Set{
			"spec.nodeName":           o.Spec.NodeName,
			"spec.restartPolicy":      string(o.Spec.RestartPolicy),
			"spec.schedulerName":      o.Spec.SchedulerName,
			"spec.serviceAccountName": o.Spec.ServiceAccountName,
			"spec.hostNetwork":        strconv.FormatBool(o.Spec.HostNetwork),
			"status.phase":            string(o.Status.Phase),
			"status.podIP":            podIP,
			// Upstream accepts the label but selects on no value for it, so only an
			// empty value matches.
			"status.podIPs":            "",
			"status.nominatedNodeName": o.Status.NominatedNodeName,
		}
	case *corev1.Event:
		source := o.Source.Component
		if source == "" {
			source = o.ReportingController
		}
		return fields.Set{
			"involvedObject.kind":            o.InvolvedObject.Kind,
			"involvedObject.namespace":       o.InvolvedObject.Namespace,
			"involvedObject.name":            o.InvolvedObject.Name,
			"involvedObject.uid":             string(o.InvolvedObject.UID),
			"involvedObject.apiVersion":      o.InvolvedObject.APIVersion,
			"involvedObject.resourceVersion": o.InvolvedObject.ResourceVersion,
			"involvedObject.fieldPath":       o.InvolvedObject.FieldPath,
			"reason":                         o.Reason,
			"reportingComponent":             o.ReportingController,
			"source":                         source,
			"type":                           o.Type,
		}
	case *eventsv1.Event:
		source := o.DeprecatedSource.Component
		if source == "" {
			source = o.ReportingController
		}
		return fields.Set{
			"regarding.kind":            o.Regarding.Kind,
			"regarding.namespace":       o.Regarding.Namespace,
			"regarding.name":            o.Regarding.Name,
			"regarding.uid":             string(o.Regarding.UID),
			"regarding.apiVersion":      o.Regarding.APIVersion,
			"regarding.resourceVersion": o.Regarding.ResourceVersion,
			"regarding.fieldPath":       o.Regarding.FieldPath,
			"reason":                    o.Reason,
			"reportingController":       o.ReportingController,
			"source":                    source,
			"type":                      o.Type,
		}
	case *corev1.Namespace:
		return fields.Set{"status.phase": string(o.Status.Phase)}
	case *corev1.Node:
		return fields.Set{"spec.unschedulable": strconv.FormatBool(o.Spec.Unschedulable)}
	case *corev1.Secret:
		return fields.Set{"type": string(o.Type)}
	case *corev1.Service:
		return fields.Set{"spec.clusterIP": o.Spec.ClusterIP, "spec.type": string(o.Spec.Type)}
	case *corev1.ReplicationController:
		return fields.Set{"status.replicas": strconv.Itoa(int(o.Status.Replicas))}
	case *appsv1.ReplicaSet:
		return fields.Set{"status.replicas": strconv.Itoa(int(o.Status.Replicas))}
	case *batchv1.Job:
		return fields.Set{"status.successful": strconv.Itoa(int(o.Status.Succeeded))}
	case *certificatesv1.CertificateSigningRequest:
		return fields.Set{"spec.signerName": o.Spec.SignerName}
	case *certificatesv1.ClusterTrustBundle:
		return fields.Set{"spec.signerName": o.Spec.SignerName}
	case *certificatesv1.PodCertificateRequest:
		return fields.Set{
			"spec.signerName": o.Spec.SignerName,
			"spec.podName":    o.Spec.PodName,
			"spec.nodeName":   string(o.Spec.NodeName),
		}
	}
	return nil
}

// clusterScoped lists the served kinds whose objects live outside namespaces.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}:        true,
	{Kind: "Node"}:             true,
	{Kind: "PersistentVolume"}: true,
	{Kind: "ComponentStatus"}:  true,

	{Group: "networking.k8s.io", Kind: "IngressClass"}: true,
	{Group: "networking.k8s.io", Kind: "IPAddress"}:    true,
	{Group: "networking.k8s.io", Kind: "ServiceCIDR"}:  true,

	{Group: "scheduling.k8s.io", Kind: "PriorityClass"}: true,

	{Group: "storage.k8s.io", Kind: "StorageClass"}:          true,
	{Group: "storage.k8s.io", Kind: "VolumeAttachment"}:      true,
	{Group: "storage.k8s.io", Kind: "CSIDriver"}:             true,
	{Group: "storage.k8s.io", Kind: "CSINode"}:               true,
	{Group: "storage.k8s.io", Kind: "VolumeAttributesClass"}: true,

	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,

	{Group: "authentication.k8s.io", Kind: "TokenReview"}:       true,
	{Group: "authentication.k8s.io", Kind: "SelfSubjectReview"}: true,

	{Group: "authorization.k8s.io", Kind: "SubjectAccessReview"}:     true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectAccessReview"}: true,
	{Group: "authorization.k8s.io", Kind: "SelfSubjectRulesReview"}:  true,

	{Group: "certificates.k8s.io", Kind: "CertificateSigningRequest"}: true,
	{Group: "certificates.k8s.io", Kind: "ClusterTrustBundle"}:        true,

	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}:   true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingWebhookConfiguration"}:     true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        true,
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicy"}:          true,
	{Group: "admissionregistration.k8s.io", Kind: "MutatingAdmissionPolicyBinding"}:   true,
}

// servedKinds maps the Go type of every served kind to its group, version and kind.
// Lists, options and the meta types that every group registers are left out.
var servedKinds = sync.OnceValue(func() map[reflect.Type]schema.GroupVersionKind {
	s := runtime.NewScheme()
	for _, add := range addToScheme {
		_ = add(s) // a group that fails to register fails NewScheme, which says why
	}
	kinds := map[reflect.Type]schema.GroupVersionKind{}
	for _, gv := range GroupVersions {
		for kind, typ := range s.KnownTypes(gv) {
			if typ.PkgPath() == "k8s.io/apimachinery/pkg/apis/meta/v1" ||
				strings.HasSuffix(kind, "List") || strings.HasSuffix(kind, "Options") {
				continue
			}
			kinds[reflect.PointerTo(typ)] = gv.WithKind(kind)
		}
	}
	return kinds
})
