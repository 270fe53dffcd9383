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
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// fakeCluster serves the reads of a status from memory.
type fakeCluster struct {
	endpoints int
	podList   []corev1.Pod
	rsList    []appsv1.ReplicaSet
}

func (f fakeCluster) readyEndpoints(context.Context, string, string) (int, error) {
	return f.endpoints, nil
}

func (f fakeCluster) pods(_ context.Context, namespace string, sel labels.Selector) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range f.podList {
		if p.Namespace == namespace && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

func (f fakeCluster) replicaSets(_ context.Context, namespace string, sel labels.Selector) []appsv1.ReplicaSet {
	var out []appsv1.ReplicaSet
	for _, rs := range f.rsList {
		if rs.Namespace == namespace && sel.Matches(labels.Set(rs.Labels)) {
			out = append(out, rs)
		}
	}
	return out
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
		eps    int
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
		{"pod image pull back-off", podKind, pod("x", waiting("app", "ImagePullBackOff", `Back-off pulling image "nope"`)), reportRules, 0,
			InProgress, `waiting for image pull (ImagePullBackOff: Back-off pulling image "nope")`},
		// No retry parses an image name.
		{"pod invalid image name", podKind, pod("x", waiting("app", "InvalidImageName", "couldn't parse image name")), reportRules, 0,
			Failed, "waiting for image pull (InvalidImageName: couldn't parse image name)"},
		{"pod image never pulled", podKind, pod("x", waiting("app", "ErrImageNeverPull", "")), reportRules, 0,
			InProgress, "waiting for image pull (ErrImageNeverPull)"},
		{"pod crash loop after an exit", podKind, pod("x", waiting("app", "CrashLoopBackOff", "back-off 10s restarting failed container=app pod=x_shop(uid)"), func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}
		}), reportRules, 0, InProgress, "container app waiting (CrashLoopBackOff), last exit code 2 (Error)"},
		{"pod config error", podKind, pod("x", waiting("app", "CreateContainerConfigError", `secret "db" not found`)), reportRules, 0,
			InProgress, `container app waiting (CreateContainerConfigError: secret "db" not found)`},
		{"pod container creating", podKind, pod("x", waiting("app", "ContainerCreating", "")), reportRules, 0,
			InProgress, "container app waiting (ContainerCreating)"},
		{"pod readiness probe", podKind, pod("x", running("app", false), func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
		}), reportRules, 0, InProgress, "not ready: container app: readiness probe not passing yet"},
		{"pod startup probe", podKind, pod("x", running("app", false), func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
			p.Spec.Containers[0].StartupProbe = &corev1.Probe{}
			p.Status.ContainerStatuses[0].Started = ptr.To(false)
		}), reportRules, 0, InProgress, "not ready: container app: startup probe not passing yet"},
		{"pod running without probes", podKind, pod("x", running("app", false)), reportRules, 0,
			InProgress, "0 of 1 containers ready"},
		{"pod readiness gate", podKind, pod("x", running("app", true), func(p *corev1.Pod) {
			p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}}
		}), reportRules, 0, InProgress, "not ready: readiness gate example.com/lb not passing"},
		{"pod init container running", podKind, pod("x", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}
		}), reportRules, 0, InProgress, "init container migrate running"},
		{"pod failed container", podKind, pod("x", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}
		}), reportRules, 0, Failed, "failed: container app exit code 1 (Error)"},
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
			v, err := judge(context.Background(), tc.gk, u, tc.rules, fakeCluster{endpoints: tc.eps})
			if err != nil {
				t.Fatal(err)
			}
			if v.status != tc.status || v.message != tc.msg {
				t.Errorf("got %s %q, want %s %q", v.status, v.message, tc.status, tc.msg)
			}
		})
	}
}

// pod is a pending pod of namespace shop on node n1 with one container, app.
func pod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID(name)},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

// waiting has the pod's container wait for reason.
func waiting(container, reason, message string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: container,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}})
	}
}

// running has the pod run with its container running, ready or not.
func running(container string, ready bool) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: container, Ready: ready, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
	}
}

func unscheduled(p *corev1.Pod) {
	p.Spec.NodeName = ""
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available"}}
}

func failed(p *corev1.Pod) {
	p.Status.Phase = corev1.PodFailed
	p.Status.Reason = "Evicted"
}

func readyPod(p *corev1.Pod) {
	running("app", true)(p)
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

// ownedBy has the pod controlled by owner and labelled with labels.
func ownedBy(owner types.UID, labels map[string]string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{UID: owner, Controller: ptr.To(true), Name: string(owner), Kind: "ReplicaSet", APIVersion: "apps/v1"}}
		p.Labels = labels
	}
}

// TestJudgeWorkloads checks that a workload not ready names its pod in the
// worst state.
func TestJudgeWorkloads(t *testing.T) {
	web := func(gen, observed int64, available int32) *appsv1.Deployment {
		return deployment(3, gen, appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: available}, func(d *appsv1.Deployment) {
			d.Namespace, d.UID = "shop", "dep"
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		})
	}
	rs := func(name string, revision, hash string) appsv1.ReplicaSet {
		return appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "shop", UID: types.UID(name),
			Labels:          map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: hash},
			Annotations:     map[string]string{deploymentRevisionAnnotation: revision},
			OwnerReferences: []metav1.OwnerReference{{UID: "dep", Controller: ptr.To(true)}},
		}}
	}
	// Revision 10 is newer than 9: revisions compare as numbers.
	replicaSets := []appsv1.ReplicaSet{rs("web-old", "9", "old"), rs("web-new", "10", "new")}
	oldPod := func(name string, mutate ...func(*corev1.Pod)) corev1.Pod {
		return *pod(name, append([]func(*corev1.Pod){ownedBy("web-old", map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "old"})}, mutate...)...)
	}
	newPod := func(name string, mutate ...func(*corev1.Pod)) corev1.Pod {
		return *pod(name, append([]func(*corev1.Pod){ownedBy("web-new", map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "new"})}, mutate...)...)
	}
	pullBackOff := waiting("app", "ImagePullBackOff", `Back-off pulling image "example.com/app:2"`)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop", UID: "sts", Generation: 1},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status:     appsv1.StatefulSetStatus{ObservedGeneration: 1, UpdatedReplicas: 2, ReadyReplicas: 1},
	}
	dbPod := func(name string, mutate ...func(*corev1.Pod)) corev1.Pod {
		return *pod(name, append([]func(*corev1.Pod){ownedBy("sts", map[string]string{"app": "db"})}, mutate...)...)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: "shop", UID: "job"},
		Spec:       batchv1.JobSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"job": "migrate"}}},
		Status: batchv1.JobStatus{Failed: 1, Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}},
	}
	tests := []struct {
		name    string
		gk      schema.GroupKind
		obj     runtime.Object
		cluster fakeCluster
		status  Status
		msg     string
		pod     string // the pod named, for a diagnosis
	}{
		{"deployment names a pod of its newest ReplicaSet", deploymentKind, web(2, 2, 1), fakeCluster{rsList: replicaSets, podList: []corev1.Pod{
			oldPod("web-old-a", waiting("app", "CrashLoopBackOff", "")),
			newPod("web-new-a", readyPod),
			newPod("web-new-b", pullBackOff),
		}}, InProgress, `1 of 3 replicas available; pod web-new-b: waiting for image pull (ImagePullBackOff: Back-off pulling image "example.com/app:2")`, "web-new-b"},
		{"deployment not observed names no pod", deploymentKind, web(3, 2, 1), fakeCluster{rsList: replicaSets, podList: []corev1.Pod{
			newPod("web-new-b", pullBackOff),
		}}, InProgress, "waiting for the controller to observe generation 3", ""},
		{"deployment current names no pod", deploymentKind, web(2, 2, 3), fakeCluster{rsList: replicaSets, podList: []corev1.Pod{
			newPod("web-new-b", pullBackOff),
		}}, Current, "3 of 3 replicas available", ""},
		{"deployment with all pods fine names none", deploymentKind, web(2, 2, 1), fakeCluster{rsList: replicaSets, podList: []corev1.Pod{
			newPod("web-new-a", readyPod),
		}}, InProgress, "1 of 3 replicas available", ""},
		{"invalid image name fails a deployment", deploymentKind, web(2, 2, 1), fakeCluster{rsList: replicaSets, podList: []corev1.Pod{
			newPod("web-new-b", waiting("app", "InvalidImageName", "bad")),
		}}, Failed, "1 of 3 replicas available; pod web-new-b: waiting for image pull (InvalidImageName: bad)", "web-new-b"},
		{"statefulset names its own pods only", statefulSetKind, sts, fakeCluster{podList: []corev1.Pod{
			dbPod("db-0", readyPod),
			dbPod("db-1", running("app", false), func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{} }),
			*pod("stray", ownedBy("other", map[string]string{"app": "db"}), failed),
		}}, InProgress, "1 of 2 replicas ready; pod db-1: not ready: container app: readiness probe not passing yet", "db-1"},
		{"failed job names a failed pod", jobKind, job, fakeCluster{podList: []corev1.Pod{
			*pod("migrate-a", ownedBy("job", map[string]string{"job": "migrate"}), func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error"}}}}
			}),
		}}, Failed, "failed: BackoffLimitExceeded; pod migrate-a: failed: container app exit code 3 (Error)", "migrate-a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := judge(context.Background(), tc.gk, toUnstructured(t, tc.obj), reportRules, tc.cluster)
			if err != nil {
				t.Fatal(err)
			}
			if v.status != tc.status || v.message != tc.msg {
				t.Errorf("got %s %q, want %s %q", v.status, v.message, tc.status, tc.msg)
			}
			named := ""
			if v.pod != nil {
				named = v.pod.pod.Name
				if got := v.pod.lead + v.pod.state.message; got != v.message {
					t.Errorf("lead and pod message %q do not make the message %q", got, v.message)
				}
			}
			if named != tc.pod {
				t.Errorf("pod to diagnose %q, want %q", named, tc.pod)
			}
		})
	}
}

// TestMostTelling checks the order in which a workload's pods are named:
// failed, waiting for a reason, not scheduled, not ready; by name among
// equals; never a pod being deleted.
func TestMostTelling(t *testing.T) {
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()); failed(p) }
	probing := func(p *corev1.Pod) {
		running("app", false)(p)
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
	}
	tests := []struct {
		name string
		pods []*corev1.Pod
		want string
	}{
		{"failed first", []*corev1.Pod{pod("a", probing), pod("b", unscheduled), pod("c", waiting("app", "CrashLoopBackOff", "")), pod("d", failed)}, "d"},
		{"then waiting", []*corev1.Pod{pod("a", probing), pod("b", unscheduled), pod("c", waiting("app", "CrashLoopBackOff", ""))}, "c"},
		{"then not scheduled", []*corev1.Pod{pod("a", probing), pod("b", unscheduled), pod("c", waiting("app", "ContainerCreating", ""))}, "b"},
		{"then not ready", []*corev1.Pod{pod("b", readyPod), pod("a", probing)}, "a"},
		{"first by name", []*corev1.Pod{pod("b", probing), pod("a", probing)}, "a"},
		{"not one being deleted", []*corev1.Pod{pod("a", deleting), pod("b", probing)}, "b"},
		{"none when all ready", []*corev1.Pod{pod("a", readyPod)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pods []corev1.Pod
			for _, p := range tc.pods {
				pods = append(pods, *p)
			}
			got := ""
			if p, _, ok := mostTelling(pods); ok {
				got = p.Name
			}
			if got != tc.want {
				t.Errorf("named %q, want %q", got, tc.want)
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
	// The Deployment's pods: one of an older ReplicaSet in a worse state, one
	// of the newest not ready.
	old := e.replicaSet(t, ns, "web", "old", 1)
	e.createPod(t, rsPod(old, "web-old-a", "n1"), corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"})
	newest := e.replicaSet(t, ns, "web", "new", 2)
	e.createPod(t, rsPod(newest, "web-new-a", "n1"), corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", Image: "example.com/app:1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}})
	// A waiting message on several lines is told on one.
	e.setPodStatus(t, ns, "x", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "nope",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "pulling nope:\n\tmanifest unknown"}}}}})

	sts, err := e.kc.Status(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status Status
		msg    string
	}{
		{Current, "ConfigMap settings: exists"},
		{InProgress, "Deployment web: 1 of 3 replicas available; pod web-new-a: not ready: container app terminated, exit code 137 (OOMKilled)"},
		{InProgress, "Service web: no endpoints"},
		{InProgress, "Pod x: waiting for image pull (ErrImagePull: pulling nope: manifest unknown)"},
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
