package apis

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func newTestScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s, err := NewScheme()
	if err != nil {
		t.Fatalf("NewScheme: %v", err)
	}
	return s
}

// defaultedContainer is a container named name running image with the defaults
// every container gets, pulled with policy.
func defaultedContainer(name, image string, policy corev1.PullPolicy) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          policy,
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// defaultedTemplateSpec is the spec of a pod template with containers and the
// defaults every pod spec gets.
func defaultedTemplateSpec(containers ...corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    containers,
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: new(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 "default-scheduler",
	}
}

func TestDefaults(t *testing.T) {
	labels := map[string]string{"app": "web"}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx"}}},
	}
	defaultedTemplate := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       defaultedTemplateSpec(defaultedContainer("nginx", "nginx", corev1.PullAlways)),
	}

	tests := []struct {
		name string
		in   runtime.Object
		want runtime.Object
	}{
		{
			name: "a Deployment from kubectl create deployment",
			in: &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
				Spec: appsv1.DeploymentSpec{
					Replicas: new(int32(1)),
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: template,
				},
			},
			want: &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
				Spec: appsv1.DeploymentSpec{
					Replicas: new(int32(1)),
					Selector: &metav1.LabelSelector{MatchLabels: labels},
					Template: defaultedTemplate,
					Strategy: appsv1.DeploymentStrategy{
						Type: appsv1.RollingUpdateDeploymentStrategyType,
						RollingUpdate: &appsv1.RollingUpdateDeployment{
							MaxUnavailable: new(intstr.FromString("25%")),
							MaxSurge:       new(intstr.FromString("25%")),
						},
					},
					RevisionHistoryLimit:    new(int32(10)),
					ProgressDeadlineSeconds: new(int32(600)),
				},
			},
		},
		{
			name: "a Pod from kubectl run with a port",
			in: &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				}}},
			},
			want: &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec: func() corev1.PodSpec {
					c := defaultedContainer("web", "nginx:1.27", corev1.PullIfNotPresent)
					c.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}}
					spec := defaultedTemplateSpec(c)
					spec.EnableServiceLinks = new(true)
					return spec
				}(),
			},
		},
		{
			name: "a Pod requests what it limits unless it requests it",
			in: &corev1.Pod{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "app:1", Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi")},
					Requests: corev1.ResourceList{"cpu": resource.MustParse("250m")},
				}}},
				InitContainers: []corev1.Container{{Name: "init", Image: "init:1", Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{"memory": resource.MustParse("64Mi")},
				}}},
			}},
			want: &corev1.Pod{Spec: func() corev1.PodSpec {
				app := defaultedContainer("app", "app:1", corev1.PullIfNotPresent)
				app.Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi")},
					Requests: corev1.ResourceList{"cpu": resource.MustParse("250m"), "memory": resource.MustParse("1Gi")},
				}
				init := defaultedContainer("init", "init:1", corev1.PullIfNotPresent)
				init.Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{"memory": resource.MustParse("64Mi")},
					Requests: corev1.ResourceList{"memory": resource.MustParse("64Mi")},
				}
				spec := defaultedTemplateSpec(app)
				spec.InitContainers = []corev1.Container{init}
				spec.EnableServiceLinks = new(true)
				return spec
			}()},
		},
		{
			name: "a Pod's volumes, probes and downward API references",
			in: &corev1.Pod{Spec: corev1.PodSpec{
				Volumes: []corev1.Volume{
					{Name: "scratch"},
					{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
					{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
					{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
					{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
						Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
					}}},
				},
				Containers: []corev1.Container{{
					Name: "app", Image: "app:1",
					Env: []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{
						FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"},
					}}},
					LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)},
					}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
						GRPC: &corev1.GRPCAction{Port: 9090},
					}, PeriodSeconds: 5},
				}},
			}},
			want: &corev1.Pod{Spec: func() corev1.PodSpec {
				app := defaultedContainer("app", "app:1", corev1.PullIfNotPresent)
				app.Env = []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"},
				}}}
				app.LivenessProbe = &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP,
					}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				}
				app.ReadinessProbe = &corev1.Probe{
					ProbeHandler:   corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090, Service: new("")}},
					TimeoutSeconds: 1, PeriodSeconds: 5, SuccessThreshold: 1, FailureThreshold: 3,
				}
				spec := defaultedTemplateSpec(app)
				spec.Volumes = []corev1.Volume{
					{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: new(int32(0o644))}}},
					{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: new(int32(0o644))}}},
					{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log", Type: new(corev1.HostPathUnset)}}},
					{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
						Sources:     []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: new(int64(3600))}}},
						DefaultMode: new(int32(0o644)),
					}}},
				}
				spec.EnableServiceLinks = new(true)
				return spec
			}()},
		},
		{
			name: "a host network Pod exposes its container ports on the host",
			in: &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
				Name: "dns", Image: "dns:1", Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
			}}}},
			want: &corev1.Pod{Spec: func() corev1.PodSpec {
				c := defaultedContainer("dns", "dns:1", corev1.PullIfNotPresent)
				c.Ports = []corev1.ContainerPort{{ContainerPort: 53, HostPort: 53, Protocol: corev1.ProtocolUDP}}
				spec := defaultedTemplateSpec(c)
				spec.HostNetwork = true
				spec.EnableServiceLinks = new(true)
				return spec
			}()},
		},
		{
			name: "a ReplicaSet's template keeps its unset requests",
			in: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "app:1", Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{"cpu": resource.MustParse("1")},
				}}},
			}}}},
			want: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{
				Replicas: new(int32(1)),
				Template: corev1.PodTemplateSpec{Spec: func() corev1.PodSpec {
					c := defaultedContainer("app", "app:1", corev1.PullIfNotPresent)
					c.Resources.Limits = corev1.ResourceList{"cpu": resource.MustParse("1")}
					return defaultedTemplateSpec(c)
				}()},
			}},
		},
		{
			name: "a StatefulSet with a volume claim template",
			in: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Template: template,
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "data"},
				}},
			}},
			want: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
				Replicas:            new(int32(1)),
				Template:            defaultedTemplate,
				PodManagementPolicy: appsv1.OrderedReadyPodManagement,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type:          appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(0))},
				},
				RevisionHistoryLimit: new(int32(10)),
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "data"},
					Spec:       corev1.PersistentVolumeClaimSpec{VolumeMode: new(corev1.PersistentVolumeFilesystem)},
					Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
				}},
			}},
		},
		{
			name: "a DaemonSet",
			in:   &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: template}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				Template: defaultedTemplate,
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
					Type: appsv1.RollingUpdateDaemonSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDaemonSet{
						MaxUnavailable: new(intstr.FromInt32(1)),
						MaxSurge:       new(intstr.FromInt32(0)),
					},
				},
				RevisionHistoryLimit: new(int32(10)),
			}},
		},
		{
			name: "a Job from kubectl create job takes its labels from its template",
			in:   &batchv1.Job{Spec: batchv1.JobSpec{Template: template}},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					Template:             defaultedTemplate,
					Completions:          new(int32(1)),
					Parallelism:          new(int32(1)),
					BackoffLimit:         new(int32(6)),
					CompletionMode:       new(batchv1.NonIndexedCompletion),
					Suspend:              new(false),
					PodReplacementPolicy: new(batchv1.TerminatingOrFailed),
				},
			},
		},
		{
			name: "a Job with a pod failure policy replaces only failed pods",
			in: &batchv1.Job{Spec: batchv1.JobSpec{
				Parallelism: new(int32(3)),
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}},
				}}},
				Template: template,
			}},
			want: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					Parallelism: new(int32(3)),
					PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
						Action:          batchv1.PodFailurePolicyActionIgnore,
						OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
					}}},
					Template:             defaultedTemplate,
					BackoffLimit:         new(int32(6)),
					CompletionMode:       new(batchv1.NonIndexedCompletion),
					Suspend:              new(false),
					PodReplacementPolicy: new(batchv1.Failed),
				},
			},
		},
		{
			name: "a CronJob's job template gets a template's defaults only",
			in: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule:    "*/5 * * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}},
			}},
			want: &batchv1.CronJob{Spec: batchv1.CronJobSpec{
				Schedule:                   "*/5 * * * *",
				JobTemplate:                batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: defaultedTemplate}},
				ConcurrencyPolicy:          batchv1.AllowConcurrent,
				Suspend:                    new(false),
				SuccessfulJobsHistoryLimit: new(int32(3)),
				FailedJobsHistoryLimit:     new(int32(1)),
			}},
		},
		{
			name: "a ReplicationController takes its selector and labels from its template",
			in: &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{
				Template: template.DeepCopy(),
			}},
			want: &corev1.ReplicationController{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.ReplicationControllerSpec{
					Replicas: new(int32(1)),
					Selector: labels,
					Template: defaultedTemplate.DeepCopy(),
				},
			},
		},
		{
			name: "a Service targets its ports unless told otherwise",
			in: &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
				{Name: "http", Port: 80},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")},
			}}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)},
					{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("metrics")},
				},
				Type:                  corev1.ServiceTypeClusterIP,
				SessionAffinity:       corev1.ServiceAffinityNone,
				InternalTrafficPolicy: new(corev1.ServiceInternalTrafficPolicyCluster),
			}},
		},
		{
			name: "a LoadBalancer Service with client IP affinity",
			in: &corev1.Service{Spec: corev1.ServiceSpec{
				Type:            corev1.ServiceTypeLoadBalancer,
				SessionAffinity: corev1.ServiceAffinityClientIP,
				Ports:           []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolUDP}},
			}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type:            corev1.ServiceTypeLoadBalancer,
				SessionAffinity: corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{
					ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: new(int32(10800))},
				},
				Ports:                         []corev1.ServicePort{{Port: 443, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(443)}},
				ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyCluster,
				InternalTrafficPolicy:         new(corev1.ServiceInternalTrafficPolicyCluster),
				AllocateLoadBalancerNodePorts: new(true),
			}},
		},
		{
			name: "an ExternalName Service has no traffic policies",
			in:   &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone,
			}},
		},
		{
			name: "a new Namespace",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"kubernetes.io/metadata.name": "team"}},
				Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
			},
		},
		{
			name: "a finalized Namespace keeps no finalizer",
			in: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"kubernetes.io/metadata.name": "team"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
			want: &corev1.Namespace{
				ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"kubernetes.io/metadata.name": "team"}},
				Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			},
		},
		{
			name: "a Secret's string data goes into its data",
			in: &corev1.Secret{
				Data:       map[string][]byte{"user": []byte("old"), "keep": []byte("yes")},
				StringData: map[string]string{"user": "admin"},
			},
			want: &corev1.Secret{
				Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{"user": []byte("admin"), "keep": []byte("yes")},
			},
		},
		{
			name: "a PersistentVolume",
			in: &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{"storage": resource.MustParse("1Gi")},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
			}},
			want: &corev1.PersistentVolume{
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{"storage": resource.MustParse("1Gi")},
					PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data", Type: new(corev1.HostPathUnset)}},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					VolumeMode:                    new(corev1.PersistentVolumeFilesystem),
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
			},
		},
		{
			name: "a LimitRange that only sets a max",
			in: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
				Type: corev1.LimitTypeContainer,
				Max:  corev1.ResourceList{"cpu": resource.MustParse("2")},
				Min:  corev1.ResourceList{"memory": resource.MustParse("16Mi")},
			}}}},
			want: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
				Type:           corev1.LimitTypeContainer,
				Max:            corev1.ResourceList{"cpu": resource.MustParse("2")},
				Min:            corev1.ResourceList{"memory": resource.MustParse("16Mi")},
				Default:        corev1.ResourceList{"cpu": resource.MustParse("2")},
				DefaultRequest: corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("16Mi")},
			}}}},
		},
		{
			name: "a HorizontalPodAutoscaler with a scale-down rule only",
			in: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				MaxReplicas: 5,
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: new(int32(60))},
				},
			}},
			want: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				MinReplicas: new(int32(1)),
				MaxReplicas: 5,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{
						Name:   corev1.ResourceCPU,
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(80))},
					},
				}},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleUp: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: new(int32(0)),
						SelectPolicy:               new(autoscalingv2.MaxChangePolicySelect),
						Policies: []autoscalingv2.HPAScalingPolicy{
							{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
							{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
						},
					},
					ScaleDown: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: new(int32(60)),
						SelectPolicy:               new(autoscalingv2.MaxChangePolicySelect),
						Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
					},
				},
			}},
		},
		{
			name: "a NetworkPolicy with egress rules governs egress too",
			in: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: new(intstr.FromInt32(80))}}}},
				Egress:  []networkingv1.NetworkPolicyEgressRule{{}},
			}},
			want: &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
				Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{
					Port: new(intstr.FromInt32(80)), Protocol: new(corev1.ProtocolTCP),
				}}}},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			}},
		},
		{
			name: "a StorageClass",
			in:   &storagev1.StorageClass{Provisioner: "local"},
			want: &storagev1.StorageClass{
				Provisioner:       "local",
				ReclaimPolicy:     new(corev1.PersistentVolumeReclaimDelete),
				VolumeBindingMode: new(storagev1.VolumeBindingImmediate),
			},
		},
		{
			name: "a RoleBinding puts users and groups in the RBAC group",
			in: &rbacv1.RoleBinding{
				RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "reader"},
				Subjects: []rbacv1.Subject{
					{Kind: rbacv1.UserKind, Name: "jane"},
					{Kind: rbacv1.GroupKind, Name: "devs"},
					{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: "default"},
				},
			},
			want: &rbacv1.RoleBinding{
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "reader"},
				Subjects: []rbacv1.Subject{
					{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"},
					{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"},
					{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: "default"},
				},
			},
		},
		{
			name: "a PriorityClass preempts lower priorities",
			in:   &schedulingv1.PriorityClass{Value: 1000},
			want: &schedulingv1.PriorityClass{Value: 1000, PreemptionPolicy: new(corev1.PreemptLowerPriority)},
		},
		{
			name: "a ValidatingWebhookConfiguration",
			in: &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:         "check.example.com",
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "x", Name: "y"}},
				Rules:        []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE"}}},
			}}},
			want: &admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name:              "check.example.com",
				ClientConfig:      admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: "x", Name: "y", Port: new(int32(443))}},
				Rules:             []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE"}, Rule: admissionregistrationv1.Rule{Scope: new(admissionregistrationv1.AllScopes)}}},
				FailurePolicy:     new(admissionregistrationv1.Fail),
				MatchPolicy:       new(admissionregistrationv1.Equivalent),
				NamespaceSelector: &metav1.LabelSelector{},
				ObjectSelector:    &metav1.LabelSelector{},
				TimeoutSeconds:    new(int32(10)),
			}}},
		},
		{
			name: "the items of a list",
			in:   &corev1.SecretList{Items: []corev1.Secret{{}, {Type: corev1.SecretTypeTLS}}},
			want: &corev1.SecretList{Items: []corev1.Secret{{Type: corev1.SecretTypeOpaque}, {Type: corev1.SecretTypeTLS}}},
		},
	}
	s := newTestScheme(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.DeepCopyObject()
			s.Default(got)
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("defaulted object differs from the expected one (-want +got):\n%s", diff.Diff(tt.want, got))
			}
			again := got.DeepCopyObject()
			s.Default(again)
			if !equality.Semantic.DeepEqual(again, got) {
				t.Errorf("defaulting twice changes the object (-once +twice):\n%s", diff.Diff(got, again))
			}
		})
	}
}

func TestImagePullPolicy(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		image string
		set   corev1.PullPolicy
		want  corev1.PullPolicy
	}{
		{name: "no tag", image: "nginx", want: corev1.PullAlways},
		{name: "latest tag", image: "nginx:latest", want: corev1.PullAlways},
		{name: "version tag", image: "nginx:1.27", want: corev1.PullIfNotPresent},
		{name: "registry with a port and no tag", image: "registry.local:5000/team/app", want: corev1.PullAlways},
		{name: "registry with a port and a tag", image: "registry.local:5000/team/app:v2", want: corev1.PullIfNotPresent},
		{name: "digest", image: "nginx@" + digest, want: corev1.PullIfNotPresent},
		{name: "latest tag and digest", image: "nginx:latest@" + digest, want: corev1.PullAlways},
		{name: "reference that does not parse", image: "NGINX", want: corev1.PullIfNotPresent},
		{name: "no image", image: "", want: corev1.PullIfNotPresent},
		{name: "policy given", image: "nginx", set: corev1.PullNever, want: corev1.PullNever},
	}
	s := newTestScheme(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: tt.image, ImagePullPolicy: tt.set}},
				Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
					Image: &corev1.ImageVolumeSource{Reference: tt.image, PullPolicy: tt.set},
				}}},
			}}
			s.Default(pod)
			if got := pod.Spec.Containers[0].ImagePullPolicy; got != tt.want {
				t.Errorf("container image %q: pull policy %q, want %q", tt.image, got, tt.want)
			}
			if got := pod.Spec.Volumes[0].Image.PullPolicy; got != tt.want {
				t.Errorf("image volume %q: pull policy %q, want %q", tt.image, got, tt.want)
			}
		})
	}
}

func TestPodLevelResources(t *testing.T) {
	res := func(kv ...string) corev1.ResourceList {
		list := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			list[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return list
	}
	sidecar := corev1.ContainerRestartPolicyAlways
	tests := []struct {
		name string
		spec corev1.PodSpec
		want *corev1.ResourceRequirements
	}{
		{
			name: "no pod-level resources",
			spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: res("cpu", "1")}}}},
			want: nil,
		},
		{
			name: "pod limits default the requests the containers do not make",
			spec: corev1.PodSpec{
				Resources:  &corev1.ResourceRequirements{Limits: res("cpu", "2", "memory", "1Gi")},
				Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: res("cpu", "500m")}}},
			},
			want: &corev1.ResourceRequirements{Limits: res("cpu", "2", "memory", "1Gi"), Requests: res("cpu", "500m", "memory", "1Gi")},
		},
		{
			name: "requests add up sidecars and take the larger init container",
			spec: corev1.PodSpec{
				Resources: &corev1.ResourceRequirements{Limits: res("cpu", "4")},
				InitContainers: []corev1.Container{
					{Name: "proxy", RestartPolicy: &sidecar, Resources: corev1.ResourceRequirements{Requests: res("cpu", "100m")}},
					{Name: "migrate", Resources: corev1.ResourceRequirements{Requests: res("cpu", "2")}},
				},
				Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: res("cpu", "1")}}},
			},
			// Containers: 1 + 100m; migration: 2 + 100m of the proxy started before it.
			want: &corev1.ResourceRequirements{Limits: res("cpu", "4"), Requests: res("cpu", "2100m")},
		},
		{
			name: "pod requests default limits that every container sets",
			spec: corev1.PodSpec{
				Resources: &corev1.ResourceRequirements{Requests: res("cpu", "1", "memory", "1Gi")},
				Containers: []corev1.Container{
					{Name: "a", Resources: corev1.ResourceRequirements{Limits: res("cpu", "1", "memory", "1Gi")}},
					{Name: "b", Resources: corev1.ResourceRequirements{Limits: res("cpu", "1")}},
				},
			},
			want: &corev1.ResourceRequirements{Requests: res("cpu", "1", "memory", "1Gi"), Limits: res("cpu", "2")},
		},
	}
	s := newTestScheme(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: tt.spec}
			s.Default(pod)
			if !equality.Semantic.DeepEqual(pod.Spec.Resources, tt.want) {
				t.Errorf("pod-level resources (-want +got):\n%s", diff.Diff(tt.want, pod.Spec.Resources))
			}
		})
	}
}
