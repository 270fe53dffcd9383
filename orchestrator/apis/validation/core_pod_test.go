package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestPodCreate(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*corev1.Pod)
		want   []fieldErr
	}{
		"no containers": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers = nil },
			want:   []fieldErr{required("spec.containers")},
		},
		"image missing": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			want:   []fieldErr{required("spec.containers[0].image")},
		},
		"image with spaces": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			want:   []fieldErr{invalid("spec.containers[0].image", "must not have leading or trailing whitespace")},
		},
		"container name missing": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" },
			want:   []fieldErr{required("spec.containers[0].name")},
		},
		"container name not a label": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web_1" },
			want:   []fieldErr{invalid("spec.containers[0].name", "a lowercase RFC 1123 label")},
		},
		"container names unique": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0]) },
			want:   []fieldErr{duplicate("spec.containers[1].name")},
		},
		"init container named as a container": {
			mutate: func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{p.Spec.Containers[0]} },
			want:   []fieldErr{duplicate("spec.initContainers[0].name")},
		},
		"container port out of range": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			want:   []fieldErr{invalid("spec.containers[0].ports[0].containerPort", "must be between 1 and 65535, inclusive")},
		},
		"container port missing": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			want:   []fieldErr{required("spec.containers[0].ports[0].containerPort")},
		},
		"port protocol": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" },
			want:   []fieldErr{notSupported("spec.containers[0].ports[0].protocol")},
		},
		"port names unique": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 9090, Protocol: corev1.ProtocolTCP})
			},
			want: []fieldErr{duplicate("spec.containers[0].ports[1].name")},
		},
		"host ports conflict": {
			mutate: func(p *corev1.Pod) {
				c := container("sidecar", "envoy")
				c.Ports[0].HostPort, p.Spec.Containers[0].Ports[0].HostPort = 80, 80
				p.Spec.Containers = append(p.Spec.Containers, c)
			},
			want: []fieldErr{duplicate("spec.containers[1].ports[0].hostPort")},
		},
		"host network needs matching host port": {
			mutate: func(p *corev1.Pod) { p.Spec.HostNetwork = true },
			want:   []fieldErr{invalid("spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true")},
		},
		"env name": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" },
			want:   []fieldErr{invalid("spec.containers[0].env[0].name", "printable ASCII characters other than '='")},
		},
		"env name required": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "" },
			want:   []fieldErr{required("spec.containers[0].env[0].name")},
		},
		"env from config map key": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "SPECIAL_LEVEL_KEY", ValueFrom: &corev1.EnvVarSource{
					ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "special-config"}, Key: "special.how"}}}}
			},
		},
		"env value and source": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env[0].ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}
			},
			want: []fieldErr{invalid("spec.containers[0].env[0].valueFrom", "may not be specified when `value` is not empty")},
		},
		"env field path": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.hostname"}}}}
			},
			want: []fieldErr{notSupported("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")},
		},
		"env label field": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}}
			},
		},
		"env from needs a source": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}} },
			want:   []fieldErr{invalid("spec.containers[0].envFrom", "must specify one of: `configMapRef` or `secretRef`")},
		},
		"pull policy": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			want:   []fieldErr{notSupported("spec.containers[0].imagePullPolicy")},
		},
		"pull policy not defaulted": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "" },
			want:   []fieldErr{required("spec.containers[0].imagePullPolicy")},
		},
		"termination message policy": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "Logs" },
			want:   []fieldErr{notSupported("spec.containers[0].terminationMessagePolicy")},
		},
		"requests above limits": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
				}
			},
			want: []fieldErr{invalid("spec.containers[0].resources.requests", "must be less than or equal to cpu limit of 1")},
		},
		"negative quantity": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("-1Mi")}
			},
			want: []fieldErr{invalid("spec.containers[0].resources.limits[memory]", "must be greater than or equal to 0")},
		},
		"unknown resource": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"gpu": resource.MustParse("1")}
			},
			want: []fieldErr{
				invalid("spec.containers[0].resources.limits[gpu]", "must be a standard resource type or fully qualified"),
				invalid("spec.containers[0].resources.limits[gpu]", "must be a standard resource for containers"),
			},
		},
		"extended resource needs equal request and limit": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")},
					Limits:   corev1.ResourceList{"example.com/gpu": resource.MustParse("2")},
				}
			},
			want: []fieldErr{invalid("spec.containers[0].resources.requests", "must be equal to example.com/gpu limit of 2")},
		},
		"guaranteed resources": {
			mutate: func(p *corev1.Pod) {
				list := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: list, Limits: list}
			},
		},
		"volume mount of a missing volume": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/config"}}
			},
			want: []fieldErr{notFound("spec.containers[0].volumeMounts[0].name")},
		},
		"volume mounts": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{
					{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: "special-config"}, DefaultMode: ptr.To[int32](0644)}}},
					{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mysecret", DefaultMode: ptr.To[int32](0644)}}},
					{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/config"}, {Name: "secret", MountPath: "/etc/secret", ReadOnly: true},
					{Name: "cache", MountPath: "/cache", SubPath: "web"},
				}
			},
		},
		"mount paths unique": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}, {Name: "cache", MountPath: "/cache"}}
			},
			want: []fieldErr{invalid("spec.containers[0].volumeMounts[1].mountPath", "must be unique")},
		},
		"sub path escapes": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache", SubPath: "../etc"}}
			},
			want: []fieldErr{invalid("spec.containers[0].volumeMounts[0].subPath", "must not contain '..'")},
		},
		"volume names unique": {
			mutate: func(p *corev1.Pod) {
				v := corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
				p.Spec.Volumes = []corev1.Volume{v, v}
			},
			want: []fieldErr{duplicate("spec.volumes[1].name")},
		},
		"volume without a source": {
			mutate: func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "cache"}} },
			want:   []fieldErr{required("spec.volumes[0]")},
		},
		"volume with two sources": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{
					EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}}}
			},
			want: []fieldErr{forbidden("spec.volumes[0].emptyDir", "may not specify more than 1 volume type")},
		},
		"secret volume needs a name": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}}
			},
			want: []fieldErr{required("spec.volumes[0].secret.secretName")},
		},
		"file mode": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: "s", Items: []corev1.KeyToPath{{Key: "k", Path: "/abs", Mode: ptr.To[int32](01000)}}}}}}
			},
			want: []fieldErr{
				invalid("spec.volumes[0].secret.items[0].path", "must be a relative path"),
				invalid("spec.volumes[0].secret.items[0].mode", "must be a number between 0 and 0777 (octal), both inclusive"),
			},
		},
		"host path type": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: "/var/log", Type: ptr.To(corev1.HostPathType("Dir"))}}}}
			},
			want: []fieldErr{notSupported("spec.volumes[0].hostPath.type")},
		},
		"claim name": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}}}
			},
			want: []fieldErr{required("spec.volumes[0].persistentVolumeClaim.claimName")},
		},
		"restart policy": {
			mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			want:   []fieldErr{notSupported("spec.restartPolicy")},
		},
		"dns policy": {
			mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" },
			want:   []fieldErr{notSupported("spec.dnsPolicy")},
		},
		"dns policy none needs a config": {
			mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			want:   []fieldErr{required("spec.dnsConfig")},
		},
		"grace period not defaulted": {
			mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil },
			want:   []fieldErr{required("spec.terminationGracePeriodSeconds")},
		},
		"probe with two handlers": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					Exec:      &corev1.ExecAction{Command: []string{"true"}},
					TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)},
				}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
			},
			want: []fieldErr{forbidden("spec.containers[0].livenessProbe.tcpSocket", "may not specify more than 1 handler type")},
		},
		"probe without handler": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
			},
			want: []fieldErr{required("spec.containers[0].readinessProbe")},
		},
		"liveness success threshold": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/healthz", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP,
				}}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 2, FailureThreshold: 3}
			},
			want: []fieldErr{invalid("spec.containers[0].livenessProbe.successThreshold", "must be 1")},
		},
		"probe port name": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{
					Port: intstr.FromString("Not_A_Port")}}, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
			},
			want: []fieldErr{invalid("spec.containers[0].readinessProbe.tcpSocket.port", "")},
		},
		"init container without restart may not probe": {
			mutate: func(p *corev1.Pod) {
				c := container("init", "busybox")
				c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
				p.Spec.InitContainers = []corev1.Container{c}
			},
			want: []fieldErr{forbidden("spec.initContainers[0].readinessProbe", "may not be set for init containers without restartPolicy=Always")},
		},
		"sidecar": {
			mutate: func(p *corev1.Pod) {
				c := container("proxy", "envoy")
				c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
				c.Ports[0].ContainerPort = 9901
				p.Spec.InitContainers = []corev1.Container{c}
			},
		},
		"restart policy on a regular container": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
			},
			want: []fieldErr{forbidden("spec.containers[0].restartPolicy", "may not be set for non-init containers")},
		},
		"node selector": {
			mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk type": "ssd"} },
			want:   []fieldErr{invalid("spec.nodeSelector", "name part must consist of")},
		},
		"toleration key": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "bad key", Operator: corev1.TolerationOpExists})
			},
			want: []fieldErr{invalid("spec.tolerations[2].key", "name part must consist of")},
		},
		"toleration seconds need NoExecute": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v",
					Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To[int64](10)}}
			},
			want: []fieldErr{invalid("spec.tolerations[0].effect", "effect must be 'NoExecute' when `tolerationSeconds` is set")},
		},
		"toleration operator": {
			mutate: func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "In"}} },
			want:   []fieldErr{notSupported("spec.tolerations[0].operator")},
		},
		"empty toleration key needs Exists": {
			mutate: func(p *corev1.Pod) { p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}} },
			want:   []fieldErr{invalid("spec.tolerations[0].operator", "operator must be Exists when `key` is empty")},
		},
		"node name": {
			mutate: func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" },
			want:   []fieldErr{invalid("spec.nodeName", "RFC 1123 subdomain")},
		},
		"service account name": {
			mutate: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "-sa" },
			want:   []fieldErr{invalid("spec.serviceAccountName", "RFC 1123 subdomain")},
		},
		"active deadline": {
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](0) },
			want:   []fieldErr{invalid("spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive")},
		},
		"hostname": {
			mutate: func(p *corev1.Pod) { p.Spec.Hostname = "web.local" },
			want:   []fieldErr{invalid("spec.hostname", "must not contain dots")},
		},
		"run as user": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](-1)}
			},
			want: []fieldErr{invalid("spec.containers[0].securityContext.runAsUser", "must be between 0 and 2147483647, inclusive")},
		},
		"privileged without escalation": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}
			},
			want: []fieldErr{invalid("spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")},
		},
		"node affinity operator": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
			},
			want: []fieldErr{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values")},
		},
		"pod anti affinity needs a topology key": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
					PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "backend"}}}}}}}
			},
			want: []fieldErr{required("spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey")},
		},
		"topology spread": {
			mutate: func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: "Never"}}
			},
			want: []fieldErr{
				invalid("spec.topologySpreadConstraints[0].maxSkew", "must be greater than zero"),
				notSupported("spec.topologySpreadConstraints[0].whenUnsatisfiable"),
			},
		},
		"ephemeral containers on create": {
			mutate: func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}
			},
			want: []fieldErr{forbidden("spec.ephemeralContainers", "cannot be set on create")},
		},
		"image pull secrets carry only a name": {
			mutate: func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}} },
		},
		"mirror pod needs a node": {
			mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"} },
			want:   []fieldErr{invalid("metadata.annotations[kubernetes.io/config.mirror]", "must set spec.nodeName if mirror pod annotation is set")},
		},
		"deletion cost": {
			mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: "high"} },
			want:   []fieldErr{invalid("metadata.annotations[controller.kubernetes.io/pod-deletion-cost]", "must be a 32bit integer")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, Create(updated(pod(), tc.mutate)), tc.want...)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	scheduled := updated(pod(), func(p *corev1.Pod) { p.Spec.NodeName = "node-1" })
	for name, tc := range map[string]struct {
		old    *corev1.Pod
		mutate func(*corev1.Pod)
		want   []fieldErr
	}{
		"image":  {mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "taobeier/saythx-backend:v2" }},
		"labels": {mutate: func(p *corev1.Pod) { p.Labels["version"] = "v2" }},
		"shorter deadline": {
			old:    updated(pod(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) }),
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](30) },
		},
		"longer deadline": {
			old:    updated(pod(), func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) }),
			mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](120) },
			want:   []fieldErr{invalid("spec.activeDeadlineSeconds", "must be less than or equal to previous value")},
		},
		"added toleration": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists})
			},
		},
		"removed toleration": {
			mutate: func(p *corev1.Pod) { p.Spec.Tolerations = p.Spec.Tolerations[1:] },
			want:   []fieldErr{forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")},
		},
		"changed toleration seconds": {
			mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr.To[int64](60) },
		},
		"resources": {
			mutate: func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			},
			want: []fieldErr{forbidden("spec", "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")},
		},
		"added container": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, container("sidecar", "envoy")) },
			want:   []fieldErr{forbidden("spec.containers", "pod updates may not add or remove containers")},
		},
		"removed image": {
			mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			want:   []fieldErr{required("spec.containers[0].image")},
		},
		"bound to a node": {mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }},
		"moved to another node": {
			old:    scheduled,
			mutate: func(p *corev1.Pod) { p.Spec.NodeName = "node-2" },
			want:   []fieldErr{forbidden("spec", "pod updates may not change fields other than")},
		},
		"scheduling gate removed": {
			old: updated(pod(), func(p *corev1.Pod) {
				p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
			}),
			mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = nil },
		},
		"scheduling gate added": {
			mutate: func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}} },
			want:   []fieldErr{forbidden("spec.schedulingGates[0].name", "only deletion is allowed, but found new scheduling gate 'example.com/quota'")},
		},
		"gated pod gains a node selector": {
			old: updated(pod(), func(p *corev1.Pod) {
				p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
			}),
			mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} },
		},
		"mirror annotation added": {
			old:    scheduled,
			mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} },
			want:   []fieldErr{forbidden("metadata.annotations[kubernetes.io/config.mirror]", "may not add mirror pod annotation")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			old := tc.old
			if old == nil {
				old = pod()
			}
			obj := updated(old, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, Update(obj, old), tc.want...)
		})
	}
}

func TestPodUpdateMessageShowsTheChange(t *testing.T) {
	old := pod()
	obj := updated(old, func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever })
	errs := Update(obj, old)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "RestartPolicy") || !strings.Contains(errs[0].Detail, `"Never"`) {
		t.Errorf("want the forbidden change of the restart policy, got %v", errs)
	}
}

func TestPodStatusUpdate(t *testing.T) {
	running := updated(pod(), func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBestEffort, HostIP: "192.168.0.11",
			HostIPs: []corev1.HostIP{{IP: "192.168.0.11"}}, PodIP: "10.244.1.5", PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "backend", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}}
	})
	for name, tc := range map[string]struct {
		mutate func(*corev1.Pod)
		want   []fieldErr
	}{
		"conditions": {
			mutate: func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}, {Type: "example.com/ready", Status: corev1.ConditionTrue}}
			},
		},
		"phase": {
			mutate: func(p *corev1.Pod) { p.Status.Phase = "Done" },
			want:   []fieldErr{notSupported("status.phase")},
		},
		"condition type": {
			mutate: func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: "not valid", Status: corev1.ConditionTrue}}
			},
			want: []fieldErr{invalid("status.conditions[0].type", "name part must consist of")},
		},
		"pod IP": {
			mutate: func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1"}} },
			want:   []fieldErr{invalid("status.podIPs[0]", "must be a valid IP address")},
		},
		"host IPs agree": {
			mutate: func(p *corev1.Pod) { p.Status.HostIP = "192.168.0.12" },
			want:   []fieldErr{invalid("status.hostIPs[0].ip", "must be equal to `hostIP`")},
		},
		"qos class is fixed": {
			mutate: func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed },
			want:   []fieldErr{invalid("status.qosClass", "field is immutable")},
		},
		"finished container does not run again": {
			mutate: func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
			},
			want: []fieldErr{forbidden("status.containerStatuses[0].state", "may not be transitioned to non-terminated state")},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := updated(running, tc.mutate)
			obj.ResourceVersion = "2"
			expect(t, StatusUpdate(obj, running), tc.want...)
		})
	}
}
