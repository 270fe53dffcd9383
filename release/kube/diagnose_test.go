package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/pki"
)

// testDiagnoseTimeout: a Deployment whose pod crash-loops, a pod whose probe
// fails and one restarted that has logged nothing since; the error tells their
// last events and log lines.
func testDiagnoseTimeout(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	node := e.fakeKubelet(t, ns, map[string]string{
		"web-abc-x/app?previous": numberedLines(12),
		"probed/app":             "GET /healthz 500\n",
		"restarted/app":          "",
		"restarted/app?previous": "panic: boom\n\ngoroutine 1 [running]:\n",
	})
	probedPod := func(name string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  nodeName: " + node +
			"\n  containers:\n  - name: app\n    image: example.com/app:1\n    readinessProbe:\n      httpGet: {path: /healthz, port: 80}\n"
	}
	objs := e.apply(t, docs(deploymentYAML("web", 2), probedPod("probed"), probedPod("restarted")), ns, Owner{ReleaseName: "shop", ReleaseNamespace: ns})
	setDeploymentStatus(t, e, ns, "web", 2, 0)
	rs := e.replicaSet(t, ns, "web", "abc", 1)

	started := time.Now().Add(-time.Minute).Truncate(time.Second)
	crashing := e.createPod(t, rsPod(rs, "web-abc-x", node), corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", Image: "example.com/app:1", RestartCount: 2,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 20s restarting failed container=app pod=web-abc-x"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
	}}})
	probing := func(restarts int32) corev1.PodStatus {
		return corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "example.com/app:1", RestartCount: restarts, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
		}}}
	}
	probed := e.setPodStatus(t, ns, "probed", probing(0))
	restarted := e.setPodStatus(t, ns, "restarted", probing(1))

	// Seven events, written out of order: the diagnosis tells the last five,
	// the newest last, and a failed probe that happened since the container
	// started.
	at := func(s int) time.Time { return started.Add(time.Duration(s) * time.Second) }
	e.event(t, crashing, at(5), corev1.EventTypeWarning, "BackOff", "", "Back-off restarting failed container app in pod web-abc-x", 4)
	e.event(t, crashing, at(1), corev1.EventTypeNormal, "Scheduled", "", "Successfully assigned to "+node, 1)
	e.event(t, crashing, at(2), corev1.EventTypeNormal, "Pulling", "app", `Pulling image "example.com/app:1"`, 1)
	e.event(t, crashing, at(3), corev1.EventTypeNormal, "Pulled", "app", `Successfully pulled image "example.com/app:1"`, 1)
	e.event(t, crashing, at(4), corev1.EventTypeNormal, "Created", "app", "Created container app", 1)
	e.event(t, crashing, at(6), corev1.EventTypeNormal, "Started", "app", "Started container app", 3)
	e.event(t, crashing, at(7), corev1.EventTypeNormal, "Pulled", "app", `Container image "example.com/app:1" already present on machine`, 1)
	e.event(t, probed, at(30), corev1.EventTypeWarning, "Unhealthy", "app", "Readiness probe failed: HTTP probe failed with statuscode: 500", 6)
	// Before the container started: about an instance gone.
	e.event(t, restarted, at(-30), corev1.EventTypeWarning, "Unhealthy", "app", "Liveness probe failed: connection refused", 3)

	err := e.kc.Wait(ctx, objs, WaitOptions{Timeout: time.Second}, nil)
	var nr *NotReadyError
	if !errors.As(err, &nr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want a NotReadyError at the deadline", err)
	}
	messages := map[string]string{}
	for _, s := range nr.NotReady {
		messages[s.Object.GetName()] = s.Message
	}
	wantMessages := map[string]string{
		"web":       "Deployment web: 0 of 2 replicas available; pod web-abc-x: container app waiting (CrashLoopBackOff), last exit code 1 (Error)",
		"probed":    "Pod probed: not ready: container app: Readiness probe failed: HTTP probe failed with statuscode: 500",
		"restarted": "Pod restarted: not ready: container app: readiness probe not passing yet",
	}
	for name, want := range wantMessages {
		if messages[name] != want {
			t.Errorf("message of %s:\n%s\nwant:\n%s", name, messages[name], want)
		}
	}

	diagnoses := map[string]string{}
	for _, d := range nr.Pods {
		if d.Err != nil {
			t.Errorf("diagnosis of %s: %v", d.Name, d.Err)
		}
		diagnoses[d.Name] = d.String()
	}
	wantDiagnoses := map[string]string{
		"web-abc-x": "pod " + ns + "/web-abc-x events:\n" +
			"  Normal   Pulled   Successfully pulled image \"example.com/app:1\"\n" +
			"  Normal   Created  Created container app\n" +
			"  Warning  BackOff  Back-off restarting failed container app in pod web-abc-x (x4)\n" +
			"  Normal   Started  Started container app (x3)\n" +
			"  Normal   Pulled   Container image \"example.com/app:1\" already present on machine\n" +
			"pod " + ns + "/web-abc-x logs (container app, previous):\n" +
			"  line 3\n  line 4\n  line 5\n  line 6\n  line 7\n  line 8\n  line 9\n  line 10\n  line 11\n  line 12",
		"probed": "pod " + ns + "/probed events:\n" +
			"  Warning  Unhealthy  Readiness probe failed: HTTP probe failed with statuscode: 500 (x6)\n" +
			"pod " + ns + "/probed logs (container app):\n" +
			"  GET /healthz 500",
		"restarted": "pod " + ns + "/restarted events:\n" +
			"  Warning  Unhealthy  Liveness probe failed: connection refused (x3)\n" +
			"pod " + ns + "/restarted logs (container app, previous):\n" +
			"  panic: boom\n\n  goroutine 1 [running]:",
	}
	if len(nr.Pods) != len(wantDiagnoses) {
		t.Errorf("%d pods diagnosed, want %d", len(nr.Pods), len(wantDiagnoses))
	}
	for name, want := range wantDiagnoses {
		if diagnoses[name] != want {
			t.Errorf("diagnosis of %s:\n%s\nwant:\n%s", name, diagnoses[name], want)
		}
		if !strings.Contains(err.Error(), "\n"+want) {
			t.Errorf("the error does not tell the diagnosis of %s:\n%s", name, err)
		}
	}
	if first, _, _ := strings.Cut(err.Error(), "\n"); !strings.HasPrefix(first, "timed out after 1s waiting for 3 objects to be ready: ") {
		t.Errorf("first line of the error: %s", first)
	}
}

// testDiagnoseInvalidImage: a pod whose image name cannot be parsed fails its
// Deployment at once; the pod never ran, so there is no log to read.
func testDiagnoseInvalidImage(t *testing.T, e *env) {
	ctx := context.Background()
	ns := e.namespace(t)
	objs := e.apply(t, deploymentYAML("web", 1), ns, Owner{ReleaseName: "shop", ReleaseNamespace: ns})
	setDeploymentStatus(t, e, ns, "web", 1, 0)
	rs := e.replicaSet(t, ns, "web", "abc", 1)
	msg := `Failed to apply default image tag "Example.com/App": couldn't parse image name`
	p := e.createPod(t, rsPod(rs, "web-abc-x", "n1"), corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", Image: "Example.com/App", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "InvalidImageName", Message: msg}},
	}}})
	e.event(t, p, time.Now(), corev1.EventTypeWarning, "InspectFailed", "app", msg, 1)

	start := time.Now()
	err := e.kc.Wait(ctx, objs, WaitOptions{Timeout: time.Minute}, nil)
	var nr *NotReadyError
	if !errors.As(err, &nr) || errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 30*time.Second {
		t.Fatalf("Wait: %v, want a failure before the deadline", err)
	}
	want := "1 object failed: Deployment web: 0 of 1 replicas available; pod web-abc-x: waiting for image pull (InvalidImageName: " + msg + ")\n" +
		"pod " + ns + "/web-abc-x events:\n" +
		"  Warning  InspectFailed  " + msg
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
}

// testDiagnoseLiveStatus: while waiting, progress tells what the newest
// pod of a Deployment waits for, and follows the pod as it changes.
func testDiagnoseLiveStatus(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := e.namespace(t)
	objs := e.apply(t, deploymentYAML("web", 1), ns, Owner{ReleaseName: "shop", ReleaseNamespace: ns})
	setDeploymentStatus(t, e, ns, "web", 1, 0)
	rs := e.replicaSet(t, ns, "web", "abc", 1)
	e.createPod(t, rsPod(rs, "web-abc-x", ""), corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available:\n1 node(s) had untolerated taint."},
	}})

	var log progressLog
	done := make(chan error, 1)
	go func() { done <- e.kc.Wait(ctx, objs, WaitOptions{Timeout: time.Minute}, log.record) }()
	eventually(t, func() error {
		want := "Deployment web: 0 of 1 replicas available; pod web-abc-x: not scheduled: Unschedulable (0/1 nodes are available: 1 node(s) had untolerated taint.)"
		if !log.seen(InProgress, want) {
			return fmt.Errorf("no progress report %q", want)
		}
		return nil
	})
	e.setPodStatus(t, ns, "web-abc-x", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", Image: "example.com/app:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "manifest unknown"}},
	}}})
	eventually(t, func() error {
		want := "Deployment web: 0 of 1 replicas available; pod web-abc-x: waiting for image pull (ErrImagePull: manifest unknown)"
		if !log.seen(InProgress, want) {
			return fmt.Errorf("no progress report %q", want)
		}
		return nil
	})
	cancel()
	var nr *NotReadyError
	if err := <-done; !errors.As(err, &nr) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v, want a NotReadyError when cancelled", err)
	}
	if nr.Pods != nil {
		t.Errorf("a cancelled wait diagnosed pods: %v", nr.Pods)
	}
}

func numberedLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

// fakeKubelet serves container logs for the pods of namespace ns on a node of
// its own, whose name it returns: logs maps "pod/container" (with "?previous"
// for the previous instance) to what was logged.
func (e *env) fakeKubelet(t *testing.T, ns string, logs map[string]string) string {
	t.Helper()
	name := "kubelet-" + ns
	serving, err := e.s.CA.ServingTLS(pki.Leaf{Name: name, CommonName: name, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
		if len(parts) != 3 || parts[0] != ns {
			http.NotFound(w, r)
			return
		}
		key := parts[1] + "/" + parts[2]
		if r.URL.Query().Get("previous") == "true" {
			key += "?previous"
		}
		text, ok := logs[key]
		if !ok {
			http.Error(w, "container not found: "+key, http.StatusNotFound)
			return
		}
		lines := strings.SplitAfter(text, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if n, err := strconv.Atoi(r.URL.Query().Get("tailLines")); err == nil && n < len(lines) {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprint(w, strings.Join(lines, ""))
	}))
	srv.TLS = serving
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	ctx := context.Background()
	n, err := e.s.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	if _, err := e.s.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

// replicaSet creates what the deployment controller would for revision of a
// Deployment: its ReplicaSet, its pods labelled with hash.
func (e *env) replicaSet(t *testing.T, ns, deployment, hash string, revision int) *appsv1.ReplicaSet {
	t.Helper()
	ctx := context.Background()
	d, err := e.s.Client.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": deployment, appsv1.DefaultDeploymentUniqueLabelKey: hash}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: deployment + "-" + hash, Labels: labels,
			Annotations:     map[string]string{deploymentRevisionAnnotation: strconv.Itoa(revision)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: d.Spec.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: *d.Spec.Template.DeepCopy(),
		},
	}
	rs.Spec.Template.Labels = labels
	rs, err = e.s.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// rsPod is a pod of a ReplicaSet, on node when it is set.
func rsPod(rs *appsv1.ReplicaSet, name, node string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: rs.Namespace, Labels: rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Spec: *rs.Spec.Template.Spec.DeepCopy(),
	}
	p.Spec.NodeName = node
	return p
}

// createPod creates a pod and gives it status, as a kubelet would report it.
func (e *env) createPod(t *testing.T, p *corev1.Pod, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	if _, err := e.s.Client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e.setPodStatus(t, p.Namespace, p.Name, status)
}

func (e *env) setPodStatus(t *testing.T, ns, name string, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	p, err := e.s.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status.QOSClass = p.Status.QOSClass // set on creation, for good
	p.Status = status
	p, err = e.s.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// event records an event about a pod, or one of its containers, as the
// kubelet would.
func (e *env) event(t *testing.T, p *corev1.Pod, at time.Time, typ, reason, container, message string, count int32) {
	t.Helper()
	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
	if container != "" {
		ref.FieldPath = "spec.containers{" + container + "}"
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: p.Name + ".", Namespace: p.Namespace},
		InvolvedObject: ref,
		Type:           typ, Reason: reason, Message: message, Count: count,
		FirstTimestamp: metav1.NewTime(at), LastTimestamp: metav1.NewTime(at),
		Source: corev1.EventSource{Component: "kubelet"},
	}
	if _, err := e.s.Client.CoreV1().Events(p.Namespace).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
