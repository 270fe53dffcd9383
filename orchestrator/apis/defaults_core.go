package apis

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func defaultPodTemplate(t *corev1.PodTemplate) {
	defaultPodSpec(&t.Template.Spec)
}

// defaultReplicationController also takes the selector, and the labels when it has
// none, from the pod template's labels.
func defaultReplicationController(rc *corev1.ReplicationController) {
	defaultPointer(&rc.Spec.Replicas, 1)
	if rc.Spec.Template == nil {
		return
	}
	if labels := rc.Spec.Template.Labels; labels != nil {
		if len(rc.Spec.Selector) == 0 {
			rc.Spec.Selector = labels
		}
		if len(rc.Labels) == 0 {
			rc.Labels = labels
		}
	}
	defaultPodSpec(&rc.Spec.Template.Spec)
}

// defaultService leaves the cluster IPs and IP families alone: the REST layer sets
// them when it allocates.
func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	defaultValue(&spec.SessionAffinity, corev1.ServiceAffinityNone)
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(corev1.DefaultClientIPServiceAffinitySeconds)},
			}
		}
	}
	defaultValue(&spec.Type, corev1.ServiceTypeClusterIP)
	for i := range spec.Ports {
		p := &spec.Ports[i]
		defaultValue(&p.Protocol, corev1.ProtocolTCP)
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	externallyAccessible := spec.Type == corev1.ServiceTypeLoadBalancer || spec.Type == corev1.ServiceTypeNodePort ||
		spec.Type == corev1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0
	if externallyAccessible {
		defaultValue(&spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
	}
	if spec.Type != corev1.ServiceTypeExternalName {
		defaultPointer(&spec.InternalTrafficPolicy, corev1.ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		defaultPointer(&spec.AllocateLoadBalancerNodePorts, true)
		for i := range svc.Status.LoadBalancer.Ingress {
			if ing := &svc.Status.LoadBalancer.Ingress[i]; ing.IP != "" {
				defaultPointer(&ing.IPMode, corev1.LoadBalancerIPModeVIP)
			}
		}
	}
}

func defaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			defaultValue(&ep.Subsets[i].Ports[j].Protocol, corev1.ProtocolTCP)
		}
	}
}

// defaultNamespace labels a namespace with its name and makes it Active.
//
// A namespace that has no phase yet is a new one (every stored namespace has a
// phase), and only a new one gets the kubernetes finalizer when it names no
// finalizers: defaulting a stored namespace must not bring back a finalizer that
// the namespace controller removed.
func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" && ns.Spec.Finalizers == nil {
		ns.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
	}
	defaultValue(&ns.Status.Phase, corev1.NamespaceActive)
}

// defaultNode makes a node's allocatable resources its capacity when it reports
// none, and keeps its pod CIDR and pod CIDRs in agreement as upstream's conversion
// of the v1 types does.
func defaultNode(node *corev1.Node) {
	status := &node.Status
	if status.Allocatable == nil && status.Capacity != nil {
		status.Allocatable = status.Capacity.DeepCopy()
	}
	roundResources(status.Capacity, status.Allocatable)
	mirrorIPs(&node.Spec.PodCIDR, &node.Spec.PodCIDRs, func(cidr string) string { return cidr }, func(cidr string) string { return cidr })
}

// defaultSecret makes a secret Opaque, and writes its stringData into its data:
// upstream keeps no stringData, which is write-only, and lets it win over data.
func defaultSecret(secret *corev1.Secret) {
	defaultValue(&secret.Type, corev1.SecretTypeOpaque)
	if len(secret.StringData) > 0 && secret.Data == nil {
		secret.Data = make(map[string][]byte, len(secret.StringData))
	}
	for k, v := range secret.StringData {
		secret.Data[k] = []byte(v)
	}
	secret.StringData = nil
}

func defaultConfigMap(cm *corev1.ConfigMap) {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

func defaultPersistentVolume(pv *corev1.PersistentVolume) {
	defaultValue(&pv.Status.Phase, corev1.VolumePending)
	defaultValue(&pv.Spec.PersistentVolumeReclaimPolicy, corev1.PersistentVolumeReclaimRetain)
	defaultPointer(&pv.Spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	defaultPersistentVolumeSpec(&pv.Spec)
}

// defaultPersistentVolumeSpec defaults the volume sources of a persistent volume
// spec, of a PersistentVolume or inlined in a VolumeAttachment.
func defaultPersistentVolumeSpec(spec *corev1.PersistentVolumeSpec) {
	roundResources(spec.Capacity)
	src := &spec.PersistentVolumeSource
	switch {
	case src.HostPath != nil:
		defaultPointer(&src.HostPath.Type, corev1.HostPathUnset)
	case src.ISCSI != nil:
		defaultValue(&src.ISCSI.ISCSIInterface, "default")
	case src.RBD != nil:
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	case src.AzureDisk != nil:
		defaultAzureDisk(src.AzureDisk)
	case src.ScaleIO != nil:
		defaultScaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	}
}

func defaultPersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) {
	defaultValue(&pvc.Status.Phase, corev1.ClaimPending)
	defaultPersistentVolumeClaimSpec(&pvc.Spec)
	roundResources(pvc.Status.Capacity, pvc.Status.AllocatedResources)
}

// defaultPersistentVolumeClaimSpec defaults a claim's spec, of a claim or of a
// claim template.
func defaultPersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	defaultPointer(&spec.VolumeMode, corev1.PersistentVolumeFilesystem)
	roundResources(spec.Resources.Limits, spec.Resources.Requests)
}

// defaultLimitRange fills, for container limits, the default limit from the max,
// and the default request from the default limit, else from the min.
func defaultLimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			if item.Default == nil {
				item.Default = corev1.ResourceList{}
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = corev1.ResourceList{}
			}
			fillResources(item.Default, item.Max)
			fillResources(item.DefaultRequest, item.Default)
			fillResources(item.DefaultRequest, item.Min)
		}
		roundResources(item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio)
	}
}

// fillResources copies into list the quantities of from that it does not name.
func fillResources(list, from corev1.ResourceList) {
	for name, q := range from {
		if _, ok := list[name]; !ok {
			list[name] = q.DeepCopy()
		}
	}
}

func defaultResourceQuota(q *corev1.ResourceQuota) {
	roundResources(q.Spec.Hard, q.Status.Hard, q.Status.Used)
}
