package validation

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

// The fixtures are objects as the upstream API server stores them: defaulted,
// with the system fields the REST layer sets.

func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              name,
		Namespace:         namespace,
		UID:               types.UID("7d5a0c2e-" + name),
		ResourceVersion:   "1",
		Generation:        1,
		CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
	}
}

// container is a defaulted container of the pods of the saythx tutorial.
func container(name, image string) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		Ports:                    []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Env:                      []corev1.EnvVar{{Name: "REDIS_HOST", Value: "saythx-redis"}},
		Resources:                corev1.ResourceRequirements{},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		ImagePullPolicy:          corev1.PullIfNotPresent,
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{container("backend", "taobeier/saythx-backend")},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 corev1.DefaultSchedulerName,
		EnableServiceLinks:            ptr.To(true),
		PreemptionPolicy:              ptr.To(corev1.PreemptLowerPriority),
		Priority:                      ptr.To[int32](0),
		Tolerations: []corev1.Toleration{
			{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		},
	}
}

func pod() *corev1.Pod {
	meta := objectMeta("backend", "work")
	meta.Labels = map[string]string{"app": "backend"}
	return &corev1.Pod{
		ObjectMeta: meta,
		Spec:       podSpec(),
		Status:     corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort},
	}
}

func template(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       podSpec(),
	}
}

func deployment() *appsv1.Deployment {
	quarter := intstr.FromString("25%")
	return &appsv1.Deployment{
		ObjectMeta: objectMeta("saythx-backend", "work"),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "backend"}},
			Template: template("backend"),
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &quarter, MaxSurge: &quarter},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

func replicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: objectMeta("saythx-backend-5d9f7c6b8", "work"),
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "backend", "pod-template-hash": "5d9f7c6b8"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "backend", "pod-template-hash": "5d9f7c6b8"}},
				Spec:       podSpec(),
			},
		},
	}
}

func statefulSet() *appsv1.StatefulSet {
	tmpl := template("redis")
	tmpl.Spec.Containers = []corev1.Container{container("redis", "redis:5")}
	tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	return &appsv1.StatefulSet{
		ObjectMeta: objectMeta("saythx-redis", "work"),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](1),
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "redis"}},
			Template:            tmpl,
			ServiceName:         "saythx-redis",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0)},
			},
			RevisionHistoryLimit: ptr.To[int32](10),
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					VolumeMode:  ptr.To(corev1.PersistentVolumeFilesystem),
				},
			}},
		},
	}
}

func daemonSet() *appsv1.DaemonSet {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	tmpl := template("node-exporter")
	tmpl.Spec.HostNetwork = true
	tmpl.Spec.Containers[0].Ports[0].HostPort = 8080
	return &appsv1.DaemonSet{
		ObjectMeta: objectMeta("node-exporter", "kube-system"),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "node-exporter"}},
			Template: tmpl,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one, MaxSurge: &zero},
			},
			RevisionHistoryLimit: ptr.To[int32](10),
		},
	}
}

func replicationController() *corev1.ReplicationController {
	tmpl := template("frontend")
	return &corev1.ReplicationController{
		ObjectMeta: objectMeta("frontend", "work"),
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To[int32](2),
			Selector: map[string]string{"app": "frontend"},
			Template: &tmpl,
		},
	}
}

// job is a job as stored: the server made the selector and labelled the pods.
func job() *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: objectMeta("pi", "work")}
	uid := string(j.UID)
	tmpl := template("pi")
	tmpl.Labels = map[string]string{
		batchv1.ControllerUidLabel: uid, legacyControllerUIDLabel: uid,
		batchv1.JobNameLabel: "pi", legacyJobNameLabel: "pi",
	}
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	j.Spec = batchv1.JobSpec{
		Parallelism:          ptr.To[int32](1),
		Completions:          ptr.To[int32](1),
		BackoffLimit:         ptr.To[int32](6),
		Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}},
		ManualSelector:       nil,
		Template:             tmpl,
		CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
		Suspend:              ptr.To(false),
		PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
	}
	return j
}

func cronJob() *batchv1.CronJob {
	tmpl := template("hello")
	tmpl.Labels = nil
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return &batchv1.CronJob{
		ObjectMeta: objectMeta("hello", "work"),
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/1 * * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptr.To(false),
			SuccessfulJobsHistoryLimit: ptr.To[int32](3),
			FailedJobsHistoryLimit:     ptr.To[int32](1),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				BackoffLimit:         ptr.To[int32](6),
				Completions:          ptr.To[int32](1),
				Parallelism:          ptr.To[int32](1),
				Template:             tmpl,
				CompletionMode:       ptr.To(batchv1.NonIndexedCompletion),
				Suspend:              ptr.To(false),
				PodReplacementPolicy: ptr.To(batchv1.TerminatingOrFailed),
			}},
		},
	}
}

// service is the NodePort service of the tutorial's redis, after allocation.
func service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta("saythx-redis", "work"),
		Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{
				Protocol: corev1.ProtocolTCP, Port: 6379, TargetPort: intstr.FromInt32(6379), NodePort: 31913,
			}},
			Selector:              map[string]string{"app": "redis"},
			ClusterIP:             "10.96.0.42",
			ClusterIPs:            []string{"10.96.0.42"},
			Type:                  corev1.ServiceTypeNodePort,
			SessionAffinity:       corev1.ServiceAffinityNone,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}
}

// clusterIPService is the kube-dns service: two named ports on a fixed IP.
func clusterIPService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta("kube-dns", "kube-system"),
		Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, TargetPort: intstr.FromInt32(53)},
			},
			Selector:              map[string]string{"k8s-app": "kube-dns"},
			ClusterIP:             "10.96.0.10",
			ClusterIPs:            []string{"10.96.0.10"},
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       corev1.ServiceAffinityNone,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}
}

// updated returns a copy of obj changed by mutate.
func updated[T runtime.Object](obj T, mutate func(T)) T {
	c := obj.DeepCopyObject().(T)
	mutate(c)
	return c
}

// fieldErr is an expected validation error: the field's path, the type, and a
// part of the detail the user reads ("" to not check it).
type fieldErr struct {
	field  string
	typ    field.ErrorType
	detail string
}

func required(f string) fieldErr                 { return fieldErr{f, field.ErrorTypeRequired, ""} }
func invalid(f, detail string) fieldErr          { return fieldErr{f, field.ErrorTypeInvalid, detail} }
func forbidden(f, detail string) fieldErr        { return fieldErr{f, field.ErrorTypeForbidden, detail} }
func notSupported(f string) fieldErr             { return fieldErr{f, field.ErrorTypeNotSupported, ""} }
func duplicate(f string) fieldErr                { return fieldErr{f, field.ErrorTypeDuplicate, ""} }
func notFound(f string) fieldErr                 { return fieldErr{f, field.ErrorTypeNotFound, ""} }
func errOf(f string, t field.ErrorType) fieldErr { return fieldErr{f, t, ""} }

// expect checks that errs are exactly the expected errors, in any order.
func expect(t *testing.T, errs field.ErrorList, want ...fieldErr) {
	t.Helper()
	left := append(field.ErrorList(nil), errs...)
	for _, w := range want {
		found := -1
		for i, e := range left {
			if e.Field == w.field && e.Type == w.typ && strings.Contains(e.Detail, w.detail) {
				found = i
				break
			}
		}
		if found < 0 {
			t.Errorf("missing error %s %s %q", w.field, w.typ, w.detail)
			continue
		}
		left = append(left[:found], left[found+1:]...)
	}
	for _, e := range left {
		t.Errorf("unexpected error: %v", e)
	}
}
