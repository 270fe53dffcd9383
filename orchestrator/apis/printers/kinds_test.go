package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// objectMeta is the metadata of a test object named name, created an hour ago.
func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: ago(time.Hour)}
}

func ptr[T any](v T) *T { return &v }

func qty(s string) *resource.Quantity { return ptr(resource.MustParse(s)) }

// template is a pod template with the given containers.
func template(names ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers(names...)}}
}

// TestCells checks the cells of representative objects of every kind, in column order.
func TestCells(t *testing.T) {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	deleted := ago(time.Second)

	tests := []struct {
		name     string
		resource schema.GroupResource
		obj      runtime.Object
		want     []any
	}{
		// core
		{
			name:     "NodePort service",
			resource: gr("", "services"),
			obj: &corev1.Service{ObjectMeta: objectMeta("web"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Ports:    []corev1.ServicePort{{Port: 80, NodePort: 31913, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}},
				Selector: map[string]string{"app": "web"},
			}},
			want: []any{"web", "NodePort", "10.96.0.10", "<none>", "80:31913/TCP,53/UDP", "60m", "app=web"},
		},
		{
			name:     "headless ClusterIP service with external IPs",
			resource: gr("", "services"),
			obj: &corev1.Service{ObjectMeta: objectMeta("db"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", ExternalIPs: []string{"1.2.3.4", "5.6.7.8"},
			}},
			want: []any{"db", "ClusterIP", "None", "1.2.3.4,5.6.7.8", "<none>", "60m", "<none>"},
		},
		{
			name:     "pending load balancer",
			resource: gr("", "services"),
			obj: &corev1.Service{ObjectMeta: objectMeta("lb"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.96.0.11"},
				Ports: []corev1.ServicePort{{Port: 443, NodePort: 30443, Protocol: corev1.ProtocolTCP}},
			}},
			want: []any{"lb", "LoadBalancer", "10.96.0.11", "<pending>", "443:30443/TCP", "60m", "<none>"},
		},
		{
			name:     "load balancer with addresses and external IPs",
			resource: gr("", "services"),
			obj: &corev1.Service{
				ObjectMeta: objectMeta("lb"),
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.12", ExternalIPs: []string{"9.9.9.9"}},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{Hostname: "lb.example.com"}, {IP: "203.0.113.7"}, {IP: "203.0.113.7"},
				}}},
			},
			want: []any{"lb", "LoadBalancer", "10.96.0.12", "203.0.113.7,lb.example.com,9.9.9.9", "<none>", "60m", "<none>"},
		},
		{
			name:     "external name service",
			resource: gr("", "services"),
			obj: &corev1.Service{ObjectMeta: objectMeta("ext"), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeExternalName, ExternalName: "example.com",
			}},
			want: []any{"ext", "ExternalName", "<none>", "example.com", "<none>", "60m", "<none>"},
		},
		{
			name:     "endpoints with more than three addresses",
			resource: gr("", "endpoints"),
			obj: &corev1.Endpoints{ObjectMeta: objectMeta("web"), Subsets: []corev1.EndpointSubset{
				{
					Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}},
					Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 443}},
				},
				{Addresses: []corev1.EndpointAddress{{IP: "fd00::1"}}},
			}},
			want: []any{"web", "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...", "60m"},
		},
		{
			name:     "endpoints without subsets",
			resource: gr("", "endpoints"),
			obj:      &corev1.Endpoints{ObjectMeta: objectMeta("none")},
			want:     []any{"none", "<none>", "60m"},
		},
		{
			name:     "cordoned control-plane node",
			resource: gr("", "nodes"),
			obj: &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: ago(50 * 24 * time.Hour), Labels: map[string]string{
					"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true", "kubernetes.io/role": "master",
				}},
				Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
					Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
					NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 13", KernelVersion: "6.12.0", ContainerRuntimeVersion: "berth://0.1.0"},
				},
			},
			want: []any{"n1", "Ready,SchedulingDisabled", "control-plane,etcd,master", "50d", "v1.37.2",
				"192.168.1.10", "<none>", "Debian GNU/Linux 13", "6.12.0", "berth://0.1.0"},
		},
		{
			name:     "node not ready, no roles",
			resource: gr("", "nodes"),
			obj: &corev1.Node{ObjectMeta: objectMeta("n2"), Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}},
			}},
			want: []any{"n2", "NotReady", "<none>", "60m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name:     "node without conditions",
			resource: gr("", "nodes"),
			obj:      &corev1.Node{ObjectMeta: objectMeta("n3")},
			want:     []any{"n3", "Unknown", "<none>", "60m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name:     "secret with string data",
			resource: gr("", "secrets"),
			obj: &corev1.Secret{ObjectMeta: objectMeta("s"), Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{"a": nil, "b": nil}, StringData: map[string]string{"b": "", "c": ""}},
			want: []any{"s", "Opaque", int64(3), "60m"},
		},
		{
			name:     "service account",
			resource: gr("", "serviceaccounts"),
			obj:      &corev1.ServiceAccount{ObjectMeta: objectMeta("default"), Secrets: []corev1.ObjectReference{{Name: "t"}}},
			want:     []any{"default", int64(1), "60m"},
		},
		{
			name:     "event from a component on a host",
			resource: gr("", "events"),
			obj: &corev1.Event{
				ObjectMeta:     objectMeta("web-1.17a"),
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{app}"},
				Reason:         "BackOff", Message: "Back-off restarting failed container\n", Type: corev1.EventTypeWarning,
				Source:         corev1.EventSource{Component: "kubelet", Host: "n1"},
				FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(30 * time.Second), Count: 12,
			},
			want: []any{"30s", "Warning", "BackOff", "pod/web-1", "spec.containers{app}", "kubelet, n1",
				"Back-off restarting failed container", "10m", int64(12), "web-1.17a"},
		},
		{
			name:     "events.k8s.io style event with a series",
			resource: gr("", "events"),
			obj: &corev1.Event{
				ObjectMeta:          objectMeta("ns.1"),
				InvolvedObject:      corev1.ObjectReference{Kind: "Namespace"},
				Reason:              "Created",
				EventTime:           metav1.NewMicroTime(now.Add(-2 * time.Hour)),
				Series:              &corev1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(now.Add(-5 * time.Second))},
				ReportingController: "berth-controller", Type: corev1.EventTypeNormal,
			},
			want: []any{"5s", "Normal", "Created", "namespace", "", "berth-controller", "", "120m", int64(4), "ns.1"},
		},
		{
			name:     "singleton event without timestamps",
			resource: gr("", "events"),
			obj:      &corev1.Event{ObjectMeta: objectMeta("e"), InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}},
			want:     []any{"<unknown>", "", "", "node/n1", "", "", "", "<unknown>", int64(1), "e"},
		},
		{
			name:     "bound persistent volume",
			resource: gr("", "persistentvolumes"),
			obj: &corev1.PersistentVolume{
				ObjectMeta: objectMeta("pv1"),
				Spec: corev1.PersistentVolumeSpec{
					Capacity:         corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce},
					ClaimRef:         &corev1.ObjectReference{Namespace: "ns", Name: "data"},
					StorageClassName: "local", PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					VolumeMode: ptr(corev1.PersistentVolumeFilesystem),
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
			},
			want: []any{"pv1", "10Gi", "RWO,RWOP", "Retain", "Bound", "ns/data", "local", "<unset>", "", "60m", "Filesystem"},
		},
		{
			name:     "pending claim",
			resource: gr("", "persistentvolumeclaims"),
			obj: &corev1.PersistentVolumeClaim{
				ObjectMeta: objectMeta("data"),
				Spec:       corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("local")},
				Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
			},
			want: []any{"data", "Pending", "", "", "", "local", "<unset>", "60m", "<unset>"},
		},
		{
			name:     "bound claim being deleted",
			resource: gr("", "persistentvolumeclaims"),
			obj: &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "data", CreationTimestamp: ago(time.Hour), DeletionTimestamp: &deleted,
					Annotations: map[string]string{corev1.BetaStorageClassAnnotation: "beta"}},
				Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1", StorageClassName: ptr("local")},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
					Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadOnlyMany}},
			},
			want: []any{"data", "Terminating", "pv1", "1Gi", "ROX,RWX", "beta", "<unset>", "60m", "<unset>"},
		},
		{
			name:     "resource quota",
			resource: gr("", "resourcequotas"),
			obj: &corev1.ResourceQuota{ObjectMeta: objectMeta("q"), Status: corev1.ResourceQuotaStatus{
				Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("2"), "limits.memory": resource.MustParse("4Gi")},
				Used: corev1.ResourceList{"pods": resource.MustParse("3"), "limits.memory": resource.MustParse("1Gi")},
			}},
			want: []any{"q", "pods: 3/10, requests.cpu: 0/2", "limits.memory: 1Gi/4Gi", "60m"},
		},
		{
			name:     "replication controller",
			resource: gr("", "replicationcontrollers"),
			obj: &corev1.ReplicationController{
				ObjectMeta: objectMeta("rc"),
				Spec:       corev1.ReplicationControllerSpec{Replicas: ptr(int32(2)), Selector: map[string]string{"app": "web"}, Template: ptr(template("web", "log"))},
				Status:     corev1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1},
			},
			want: []any{"rc", int64(2), int64(2), int64(1), "60m", "web,log", "web:1,log:1", "app=web"},
		},

		// apps
		{
			name:     "deployment 2/3 ready",
			resource: gr("apps", "deployments"),
			obj: &appsv1.Deployment{
				ObjectMeta: objectMeta("web"),
				Spec:       appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector, Template: template("web")},
				Status:     appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2},
			},
			want: []any{"web", "2/3", int64(3), int64(2), "60m", "web", "web:1", "app=web"},
		},
		{
			name:     "replica set",
			resource: gr("apps", "replicasets"),
			obj: &appsv1.ReplicaSet{
				ObjectMeta: objectMeta("web-5d4"),
				Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: selector, Template: template("web")},
				Status:     appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2},
			},
			want: []any{"web-5d4", int64(3), int64(3), int64(2), "60m", "web", "web:1", "app=web"},
		},
		{
			name:     "stateful set",
			resource: gr("apps", "statefulsets"),
			obj: &appsv1.StatefulSet{
				ObjectMeta: objectMeta("db"),
				Spec:       appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: template("db")},
				Status:     appsv1.StatefulSetStatus{ReadyReplicas: 1},
			},
			want: []any{"db", "1/3", "60m", "db", "db:1"},
		},
		{
			name:     "daemon set",
			resource: gr("apps", "daemonsets"),
			obj: &appsv1.DaemonSet{
				ObjectMeta: objectMeta("agent"),
				Spec: appsv1.DaemonSetSpec{Selector: selector, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					Containers: containers("agent"), NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
				}}},
				Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2},
			},
			want: []any{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "kubernetes.io/os=linux", "60m", "agent", "agent:1", "app=web"},
		},
		{
			name:     "controller revision of a stateful set",
			resource: gr("apps", "controllerrevisions"),
			obj: &appsv1.ControllerRevision{
				ObjectMeta: metav1.ObjectMeta{Name: "db-7f9", CreationTimestamp: ago(time.Hour), OwnerReferences: []metav1.OwnerReference{
					{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: ptr(true)},
				}},
				Revision: 2,
			},
			want: []any{"db-7f9", "statefulset.apps/db", int64(2), "60m"},
		},
		{
			name:     "controller revision without a controller",
			resource: gr("apps", "controllerrevisions"),
			obj:      &appsv1.ControllerRevision{ObjectMeta: objectMeta("orphan"), Revision: 1},
			want:     []any{"orphan", "<none>", int64(1), "60m"},
		},

		// batch
		{
			name:     "completed job 1/1",
			resource: gr("batch", "jobs"),
			obj: &batchv1.Job{
				ObjectMeta: objectMeta("pi"),
				Spec:       batchv1.JobSpec{Completions: ptr(int32(1)), Parallelism: ptr(int32(1)), Selector: selector, Template: template("pi")},
				Status: batchv1.JobStatus{
					Succeeded: 1, StartTime: ptr(ago(50 * time.Minute)), CompletionTime: ptr(ago(50*time.Minute - 8*time.Second)),
					Conditions: []batchv1.JobCondition{
						{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
						{Type: batchv1.JobComplete, Status: corev1.ConditionTrue},
					},
				},
			},
			want: []any{"pi", "Complete", "1/1", "8s", "60m", "pi", "pi:1", "app=web"},
		},
		{
			name:     "running job without completions, in parallel",
			resource: gr("batch", "jobs"),
			obj: &batchv1.Job{
				ObjectMeta: objectMeta("work"),
				Spec:       batchv1.JobSpec{Parallelism: ptr(int32(3)), Template: template("w")},
				Status:     batchv1.JobStatus{StartTime: ptr(ago(3 * time.Minute))},
			},
			want: []any{"work", "Running", "0/1 of 3", "3m", "60m", "w", "w:1", "<none>"},
		},
		{
			name:     "suspended job",
			resource: gr("batch", "jobs"),
			obj: &batchv1.Job{
				ObjectMeta: objectMeta("later"),
				Spec:       batchv1.JobSpec{Template: template("w")},
				Status:     batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuspended, Status: corev1.ConditionTrue}}},
			},
			want: []any{"later", "Suspended", "0/1", "", "60m", "w", "w:1", "<none>"},
		},
		{
			name:     "job whose success criteria are met",
			resource: gr("batch", "jobs"),
			obj: &batchv1.Job{
				ObjectMeta: objectMeta("idx"),
				Spec:       batchv1.JobSpec{Completions: ptr(int32(5)), Template: template("w")},
				Status: batchv1.JobStatus{Succeeded: 2,
					Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}}},
			},
			want: []any{"idx", "SuccessCriteriaMet", "2/5", "", "60m", "w", "w:1", "<none>"},
		},
		{
			name:     "failed job being deleted",
			resource: gr("batch", "jobs"),
			obj: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "bad", CreationTimestamp: ago(time.Hour), DeletionTimestamp: &deleted},
				Spec:       batchv1.JobSpec{Template: template("w")},
				Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
					{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue}, {Type: batchv1.JobFailed, Status: corev1.ConditionTrue},
				}},
			},
			want: []any{"bad", "Failed", "0/1", "", "60m", "w", "w:1", "<none>"},
		},
		{
			name:     "cron job",
			resource: gr("batch", "cronjobs"),
			obj: &batchv1.CronJob{
				ObjectMeta: objectMeta("nightly"),
				Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", Suspend: ptr(false), TimeZone: ptr("Europe/Berlin"),
					JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template("backup")}}},
				Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "nightly-1"}}, LastScheduleTime: ptr(ago(9 * time.Hour))},
			},
			want: []any{"nightly", "0 3 * * *", "Europe/Berlin", "False", int64(1), "9h", "60m", "backup", "backup:1", "<none>"},
		},
		{
			name:     "cron job never scheduled",
			resource: gr("batch", "cronjobs"),
			obj:      &batchv1.CronJob{ObjectMeta: objectMeta("new"), Spec: batchv1.CronJobSpec{Schedule: "@hourly"}},
			want:     []any{"new", "@hourly", "<none>", "<unset>", int64(0), "<none>", "60m", "", "", "<none>"},
		},

		// autoscaling
		{
			name:     "horizontal pod autoscaler",
			resource: gr("autoscaling", "horizontalpodautoscalers"),
			obj: &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: objectMeta("web"),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
					MinReplicas:    ptr(int32(1)), MaxReplicas: 10,
					Metrics: []autoscalingv2.MetricSpec{
						{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
							Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{AverageUtilization: ptr(int32(80))}}},
						{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
							Target: autoscalingv2.MetricTarget{AverageValue: qty("1k")}}},
						{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
							Target: autoscalingv2.MetricTarget{Value: qty("5")}}},
					},
				},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, CurrentMetrics: []autoscalingv2.MetricStatus{
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
						Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(40))}}},
				}},
			},
			want: []any{"web", "Deployment/web", "cpu: 40%/80%, <unknown>/1k + 1 more...", "1", int64(10), int64(2), "60m"},
		},
		{
			name:     "horizontal pod autoscaler without metrics",
			resource: gr("autoscaling", "horizontalpodautoscalers"),
			obj: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objectMeta("idle"), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "db"}, MaxReplicas: 3,
			}},
			want: []any{"idle", "StatefulSet/db", "<none>", "<unset>", int64(3), int64(0), "60m"},
		},

		// policy
		{
			name:     "pod disruption budget",
			resource: gr("policy", "poddisruptionbudgets"),
			obj: &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta("web"),
				Spec:   policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromString("25%"))},
				Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}},
			want: []any{"web", "N/A", "25%", int64(1), "60m"},
		},

		// networking.k8s.io
		{
			name:     "ingress with TLS and many hosts",
			resource: gr("networking.k8s.io", "ingresses"),
			obj: &networkingv1.Ingress{
				ObjectMeta: objectMeta("web"),
				Spec: networkingv1.IngressSpec{
					IngressClassName: ptr("nginx"),
					TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}},
					Rules:            []networkingv1.IngressRule{{Host: "a.example.com"}, {}, {Host: "b.example.com"}, {Host: "c.example.com"}, {Host: "d.example.com"}},
				},
				Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{
					Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "203.0.113.9"}, {Hostname: "lb.example.com"}},
				}},
			},
			want: []any{"web", "nginx", "a.example.com,b.example.com,c.example.com + 2 more...", "203.0.113.9,lb.example.com", "80, 443", "60m"},
		},
		{
			name:     "ingress without hosts or class",
			resource: gr("networking.k8s.io", "ingresses"),
			obj:      &networkingv1.Ingress{ObjectMeta: objectMeta("any"), Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{}}}},
			want:     []any{"any", "<none>", "*", "", "80", "60m"},
		},
		{
			name:     "ingress class with parameters",
			resource: gr("networking.k8s.io", "ingressclasses"),
			obj: &networkingv1.IngressClass{ObjectMeta: objectMeta("nginx"), Spec: networkingv1.IngressClassSpec{
				Controller: "k8s.io/ingress-nginx",
				Parameters: &networkingv1.IngressClassParametersReference{APIGroup: ptr("k8s.example.com"), Kind: "IngressParameters", Name: "external"},
			}},
			want: []any{"nginx", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external", "60m"},
		},
		{
			name:     "network policy selecting all pods",
			resource: gr("networking.k8s.io", "networkpolicies"),
			obj:      &networkingv1.NetworkPolicy{ObjectMeta: objectMeta("deny")},
			want:     []any{"deny", "<none>", "60m"},
		},
		{
			name:     "network policy",
			resource: gr("networking.k8s.io", "networkpolicies"),
			obj:      &networkingv1.NetworkPolicy{ObjectMeta: objectMeta("web"), Spec: networkingv1.NetworkPolicySpec{PodSelector: *selector}},
			want:     []any{"web", "app=web", "60m"},
		},

		// discovery.k8s.io
		{
			name:     "endpoint slice",
			resource: gr("discovery.k8s.io", "endpointslices"),
			obj: &discoveryv1.EndpointSlice{
				ObjectMeta:  objectMeta("web-abc"),
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}, {Port: ptr(int32(9090))}},
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}}},
			},
			want: []any{"web-abc", "IPv4", "80,metrics,* + 1 more...", "10.0.0.1,10.0.0.2", "60m"},
		},
		{
			name:     "empty endpoint slice",
			resource: gr("discovery.k8s.io", "endpointslices"),
			obj:      &discoveryv1.EndpointSlice{ObjectMeta: objectMeta("none"), AddressType: discoveryv1.AddressTypeIPv6},
			want:     []any{"none", "IPv6", "<unset>", "<unset>", "60m"},
		},

		// coordination.k8s.io, scheduling.k8s.io, storage.k8s.io
		{
			name:     "lease",
			resource: gr("coordination.k8s.io", "leases"),
			obj:      &coordinationv1.Lease{ObjectMeta: objectMeta("n1"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("n1")}},
			want:     []any{"n1", "n1", "60m"},
		},
		{
			name:     "priority class",
			resource: gr("scheduling.k8s.io", "priorityclasses"),
			obj: &schedulingv1.PriorityClass{ObjectMeta: objectMeta("system-node-critical"), Value: 2000001000,
				PreemptionPolicy: ptr(corev1.PreemptLowerPriority)},
			want: []any{"system-node-critical", int64(2000001000), false, "60m", "PreemptLowerPriority"},
		},
		{
			name:     "default storage class",
			resource: gr("storage.k8s.io", "storageclasses"),
			obj: &storagev1.StorageClass{
				ObjectMeta: metav1.ObjectMeta{Name: "local", CreationTimestamp: ago(time.Hour),
					Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
				Provisioner:       "berth.dev/local",
				VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer),
			},
			want: []any{"local (default)", "berth.dev/local", "Delete", "WaitForFirstConsumer", false, "60m"},
		},

		// rbac.authorization.k8s.io, certificates.k8s.io
		{
			name:     "role binding",
			resource: gr("rbac.authorization.k8s.io", "rolebindings"),
			obj: &rbacv1.RoleBinding{
				ObjectMeta: objectMeta("edit"),
				RoleRef:    rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"},
				Subjects: []rbacv1.Subject{
					{Kind: rbacv1.UserKind, Name: "alice"}, {Kind: rbacv1.UserKind, Name: "bob"},
					{Kind: rbacv1.GroupKind, Name: "devs"}, {Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "deployer"},
				},
			},
			want: []any{"edit", "ClusterRole/edit", "60m", "alice, bob", "devs", "ci/deployer"},
		},
		{
			name:     "cluster role binding",
			resource: gr("rbac.authorization.k8s.io", "clusterrolebindings"),
			obj: &rbacv1.ClusterRoleBinding{ObjectMeta: objectMeta("admins"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "system:masters"}}},
			want: []any{"admins", "ClusterRole/cluster-admin", "60m", "", "system:masters", ""},
		},
		{
			name:     "approved and issued certificate signing request",
			resource: gr("certificates.k8s.io", "certificatesigningrequests"),
			obj: &certificatesv1.CertificateSigningRequest{
				ObjectMeta: objectMeta("csr-1"),
				Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: "kubernetes.io/kube-apiserver-client-kubelet",
					Username: "system:node:n1", ExpirationSeconds: ptr(int32(86400))},
				Status: certificatesv1.CertificateSigningRequestStatus{
					Conditions:  []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}},
					Certificate: []byte("PEM"),
				},
			},
			want: []any{"csr-1", "60m", "kubernetes.io/kube-apiserver-client-kubelet", "system:node:n1", "24h", "Approved,Issued"},
		},
		{
			name:     "pending certificate signing request",
			resource: gr("certificates.k8s.io", "certificatesigningrequests"),
			obj:      &certificatesv1.CertificateSigningRequest{ObjectMeta: objectMeta("csr-2")},
			want:     []any{"csr-2", "60m", "<none>", "", "<none>", "Pending"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, tt.resource, tt.obj, nil)
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			assertCells(t, table.Rows[0].Cells, tt.want)
		})
	}
}
