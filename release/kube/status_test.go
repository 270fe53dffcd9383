package kube

import (
	"context"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

type fixedEndpoints int

func (n fixedEndpoints) readyEndpoints(context.Context, string, string) (int, error) {
	return int(n), nil
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func deployment(replicas int32, gen int64, s appsv1.DeploymentStatus, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status:     s,
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

// TestJudge checks the status rules on objects alone.
func TestJudge(t *testing.T) {
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	tests := []struct {
		name   string
		gk     schema.GroupKind
		obj    runtime.Object
		rules  statusRules
		eps    fixedEndpoints
		status Status
		msg    string
	}{
		{"deployment not observed", deploymentKind, deployment(3, 2, appsv1.DeploymentStatus{ObservedGeneration: 1}), reportRules, 0,
			InProgress, "waiting for the controller to observe generation 2"},
		{"deployment updating", deploymentKind, deployment(3, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 1}), reportRules, 0,
			InProgress, "1 of 3 replicas updated"},
		{"deployment old replicas", deploymentKind, deployment(3, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}), reportRules, 0,
			InProgress, "1 old replicas pending termination"},
		{"deployment unavailable", deploymentKind, deployment(3, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 1}), reportRules, 0,
			InProgress, "1 of 3 replicas available"},
		// 10 replicas, maxUnavailable 25%: 2 may be unavailable.
		{"deployment within maxUnavailable", deploymentKind, deployment(10, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 10, UpdatedReplicas: 10, AvailableReplicas: 8}), reportRules, 0,
			Current, "8 of 10 replicas available"},
		{"deployment recreate", deploymentKind, deployment(10, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 10, UpdatedReplicas: 10, AvailableReplicas: 8}, func(d *appsv1.Deployment) {
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}), reportRules, 0, InProgress, "8 of 10 replicas available"},
		{"deployment deadline", deploymentKind, deployment(1, 1, appsv1.DeploymentStatus{ObservedGeneration: 1, Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "too slow"}}}), reportRules, 0,
			Failed, "progress deadline exceeded: too slow"},
		{"deployment paused", deploymentKind, deployment(1, 2, appsv1.DeploymentStatus{}, func(d *appsv1.Deployment) { d.Spec.Paused = true }), reportRules, 0,
			Current, "paused"},
		{"statefulset partition", statefulSetKind, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: 1},
			Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](2)}}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, UpdatedReplicas: 1, ReadyReplicas: 3, CurrentRevision: "a", UpdateRevision: "b"},
		}, reportRules, 0, Current, "3 of 3 replicas ready"},
		{"statefulset rolling", statefulSetKind, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: 1},
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2)},
			Status:     appsv1.StatefulSetStatus{ObservedGeneration: 1, UpdatedReplicas: 2, ReadyReplicas: 2, CurrentRevision: "a", UpdateRevision: "b"},
		}, reportRules, 0, InProgress, "rolling out revision b"},
		{"daemonset", daemonSetKind, &appsv1.DaemonSet{
			Spec:   appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 2},
		}, reportRules, 0, InProgress, "2 of 4 pods available"},
		{"pod image pull", podKind, &corev1.Pod{
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}},
		}, reportRules, 0, InProgress, "waiting for image pull (ErrImagePull)"},
		{"pod crash loop", podKind, &corev1.Pod{
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}},
		}, reportRules, 0, InProgress, "container app waiting (CrashLoopBackOff)"},
		{"pod unscheduled", podKind, &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available"}}}}, reportRules, 0,
			InProgress, "not scheduled: Unschedulable (0/1 nodes are available)"},
		{"pod ready", podKind, &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{ready}}}, reportRules, 0,
			Current, "ready"},
		{"pod failed", podKind, &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}}, reportRules, 0,
			Failed, "failed: Evicted"},
		{"pvc pending", pvcKind, &corev1.PersistentVolumeClaim{Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}}, reportRules, 0,
			InProgress, "pending"},
		{"pvc bound", pvcKind, &corev1.PersistentVolumeClaim{Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}, reportRules, 0,
			Current, "bound"},
		{"service without endpoints", serviceKind, &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", Selector: map[string]string{"app": "web"}}}, reportRules, 0,
			InProgress, "no endpoints"},
		{"service with endpoints", serviceKind, &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", Selector: map[string]string{"app": "web"}}}, reportRules, 2,
			Current, "2 ready endpoints"},
		{"service load balancer", serviceKind, &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1", Type: corev1.ServiceTypeLoadBalancer}}, reportRules, 0,
			InProgress, "waiting for a load balancer ingress"},
		{"service without selector", serviceKind, &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.1"}}, reportRules, 0,
			Current, "ready"},
		{"job running", jobKind, &batchv1.Job{Status: batchv1.JobStatus{Active: 1}}, reportRules, 0,
			InProgress, "0 of 1 completions succeeded, 1 active, 0 failed"},
		{"job not waited for", jobKind, &batchv1.Job{Status: batchv1.JobStatus{Active: 1}}, statusRules{}, 0,
			Current, "exists"},
		{"job failed", jobKind, &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}}}, reportRules, 0,
			Failed, "failed: BackoffLimitExceeded"},
		{"custom resource reconciling", schema.GroupKind{Group: "example.com", Kind: "Widget"}, &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"generation": int64(1)},
			"status": map[string]any{"observedGeneration": int64(1), "conditions": []any{
				map[string]any{"type": "Ready", "status": "False", "reason": "Provisioning"}}},
		}}, reportRules, 0, InProgress, "not ready: Provisioning"},
		{"custom resource on existence", schema.GroupKind{Group: "example.com", Kind: "Widget"}, &unstructured.Unstructured{Object: map[string]any{
			"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False"}}},
		}}, statusRules{}, 0, Current, "exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := tc.obj.(*unstructured.Unstructured)
			if !ok {
				u = toUnstructured(t, tc.obj)
			}
			st, msg, err := judge(context.Background(), tc.gk, u, tc.rules, tc.eps)
			if err != nil {
				t.Fatal(err)
			}
			if st != tc.status || msg != tc.msg {
				t.Errorf("got %s %q, want %s %q", st, msg, tc.status, tc.msg)
			}
		})
	}
}

func testStatus(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	owner := Owner{ReleaseName: "shop", ReleaseNamespace: ns}
	objs := e.apply(t, docs(
		configMapYAML("settings", nil),
		deploymentYAML("web", 3),
		serviceYAML("web"),
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: app\n    image: nope\n",
	), ns, owner)
	missing := e.build(t, configMapYAML("missing", nil), ns)
	objs = append(objs, missing...)

	setDeploymentStatus(t, e, ns, "web", 3, 1)
	pod, err := e.s.Client.CoreV1().Pods(ns).Get(ctx, "x", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = corev1.PodPending
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: "nope",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}}}
	if _, err := e.s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	sts, err := e.kc.Status(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status Status
		msg    string
	}{
		{Current, "ConfigMap settings: exists"},
		{InProgress, "Deployment web: 1 of 3 replicas available"},
		{InProgress, "Service web: no endpoints"},
		{InProgress, "Pod x: waiting for image pull (ErrImagePull)"},
		{NotFound, "ConfigMap missing: not found"},
	}
	if len(sts) != len(want) {
		t.Fatalf("got %d statuses, want %d", len(sts), len(want))
	}
	for i, w := range want {
		if sts[i].Status != w.status || sts[i].Message != w.msg {
			t.Errorf("status %d = %s %q, want %s %q", i, sts[i].Status, sts[i].Message, w.status, w.msg)
		}
	}

	// An endpoint makes the Service current.
	addEndpoint(t, e, ns, "web")
	sts, err = e.kc.Status(ctx, objs[2:3])
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].Status != Current {
		t.Errorf("Service with an endpoint: %s %s", sts[0].Status, sts[0].Message)
	}
}

func deploymentYAML(name string, replicas int) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
spec:
  replicas: ` + strconv.Itoa(replicas) + `
  selector:
    matchLabels: {app: ` + name + `}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
      containers:
      - name: app
        image: example.com/app:1
`
}

func serviceYAML(name string) string {
	return `apiVersion: v1
kind: Service
metadata:
  name: ` + name + `
spec:
  selector: {app: ` + name + `}
  ports:
  - port: 80
`
}

// setDeploymentStatus writes what a deployment controller would: the
// generation observed, all replicas updated and available of them available.
func setDeploymentStatus(t *testing.T, e *env, ns, name string, replicas, available int32) {
	t.Helper()
	ctx := context.Background()
	d, err := e.s.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation,
		Replicas:           replicas,
		UpdatedReplicas:    replicas,
		ReadyReplicas:      available,
		AvailableReplicas:  available,
	}
	if _, err := e.s.Client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// addEndpoint gives a Service a ready endpoint, as the EndpointSlice controller
// would.
func addEndpoint(t *testing.T, e *env, ns, service string) {
	t.Helper()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
	}
	if _, err := e.s.Client.DiscoveryV1().EndpointSlices(ns).Create(context.Background(), slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
