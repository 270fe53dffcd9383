package deployment

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/controller/deployment/rollout"
)

var start = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// deploymentOption changes a Deployment made by newDeployment.
type deploymentOption func(*appsv1.Deployment)

// newDeployment is the Deployment "web" in "shop" as the API would default
// it: RollingUpdate 25%/25%, 10 revisions kept, a 600 s progress deadline.
func newDeployment(replicas int32, image string, opts ...deploymentOption) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "uid-web", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: template(image),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge: ptr.To(intstr.FromString("25%")), MaxUnavailable: ptr.To(intstr.FromString("25%")),
				},
			},
			RevisionHistoryLimit:    ptr.To[int32](10),
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
	for _, o := range opts {
		o(d)
	}
	return d
}

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func surge(maxSurge, maxUnavailable int32) deploymentOption {
	return func(d *appsv1.Deployment) {
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
			MaxSurge: ptr.To(intstr.FromInt32(maxSurge)), MaxUnavailable: ptr.To(intstr.FromInt32(maxUnavailable)),
		}
	}
}

func recreate(d *appsv1.Deployment) {
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
}

func paused(d *appsv1.Deployment) { d.Spec.Paused = true }

func historyLimit(n int32) deploymentOption {
	return func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To(n) }
}

// replicaSetOf is the ReplicaSet d would have made for the template with
// image, at revision, created age before start, with replicas pods all
// available.
func replicaSetOf(d *appsv1.Deployment, image string, revision int, replicas int32, age time.Duration) *appsv1.ReplicaSet {
	tmpl := template(image)
	hash := rollout.Hash(&tmpl, nil)
	tmpl.Labels = withLabel(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: types.UID("uid-" + hash),
			Labels:            tmpl.Labels,
			CreationTimestamp: metav1.NewTime(start.Add(-age)),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(d, deploymentKind)},
			Annotations:       map[string]string{rollout.RevisionAnnotation: fmt.Sprint(revision)},
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels},
			Template: tmpl,
		},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas},
	}
	rollout.SetReplicasAnnotations(rs, rollout.Replicas(d.Spec.Replicas), rollout.Replicas(d.Spec.Replicas)+rollout.MaxSurge(d))
	return rs
}

// fixture is a controller whose informer caches are filled by hand from a
// fake API, so that each sync sees exactly what the test set up.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
	clock    time.Time
	// progressing is the reason of the Progressing condition of every
	// status written, in order.
	progressing []string
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...), clock: start}
	// The API stamps what it creates; the controller orders ReplicaSets by it.
	f.client.PrependReactor("create", "replicasets", func(a core.Action) (bool, runtime.Object, error) {
		rs := a.(core.CreateAction).GetObject().(*appsv1.ReplicaSet)
		rs.CreationTimestamp = metav1.NewTime(f.clock)
		rs.UID = types.UID("uid-" + rs.Name)
		return false, nil, nil
	})
	f.client.PrependReactor("update", "deployments", func(a core.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" {
			d := a.(core.UpdateAction).GetObject().(*appsv1.Deployment)
			f.progressing = append(f.progressing, condition(d, appsv1.DeploymentProgressing).Reason)
		}
		return false, nil, nil
	})
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	f.recorder = record.NewFakeRecorder(1000)
	f.c = New(f.client, f.factory, f.recorder)
	f.c.now = func() time.Time { return f.clock }
	t.Cleanup(f.c.queue.ShutDown)
	f.refresh()
	return f
}

// refresh fills the informer caches with what the fake API holds now, as
// watch events would.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	ds, err := f.client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	rss, err := f.client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	pods, err := f.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var dItems, rsItems, podItems []any
	for i := range ds.Items {
		dItems = append(dItems, &ds.Items[i])
	}
	for i := range rss.Items {
		rsItems = append(rsItems, &rss.Items[i])
	}
	for i := range pods.Items {
		podItems = append(podItems, &pods.Items[i])
	}
	for _, r := range []struct {
		store interface {
			Replace([]any, string) error
		}
		items []any
	}{
		{f.factory.Apps().V1().Deployments().Informer().GetStore(), dItems},
		{f.factory.Apps().V1().ReplicaSets().Informer().GetStore(), rsItems},
		{f.factory.Core().V1().Pods().Informer().GetStore(), podItems},
	} {
		if err := r.store.Replace(r.items, ""); err != nil {
			f.t.Fatal(err)
		}
	}
	f.client.ClearActions()
}

// sync runs one sync of shop/web and refreshes the caches.
func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "shop/web"); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	f.refresh()
}

func (f *fixture) deployment() *appsv1.Deployment {
	f.t.Helper()
	d, err := f.client.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// update changes the Deployment as a user would.
func (f *fixture) update(change func(*appsv1.Deployment)) {
	f.t.Helper()
	d := f.deployment()
	change(d)
	d.Generation++
	if _, err := f.client.AppsV1().Deployments("shop").Update(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.refresh()
}

// replicaSets returns the ReplicaSets of the fake API, oldest first.
func (f *fixture) replicaSets() []*appsv1.ReplicaSet {
	f.t.Helper()
	list, err := f.client.AppsV1().ReplicaSets("shop").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*appsv1.ReplicaSet
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return rollout.SortedByCreation(out)
}

// replicaSetFor returns the ReplicaSet whose pods run image, or nil.
func (f *fixture) replicaSetFor(image string) *appsv1.ReplicaSet {
	for _, rs := range f.replicaSets() {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			return rs
		}
	}
	return nil
}

// runReplicaSets plays the ReplicaSet controller: every ReplicaSet gets the
// pods it wants; those that already existed become available, new ones are
// not yet, as pods take time to start.
func (f *fixture) runReplicaSets() {
	f.t.Helper()
	for _, rs := range f.replicaSets() {
		want := rollout.Replicas(rs.Spec.Replicas)
		rs.Status.AvailableReplicas = min(want, rs.Status.Replicas)
		rs.Status.ReadyReplicas = rs.Status.AvailableReplicas
		rs.Status.Replicas = want
		rs.Status.ObservedGeneration = rs.Generation
		if _, err := f.client.AppsV1().ReplicaSets("shop").UpdateStatus(context.Background(), rs, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
	f.refresh()
}

// events returns the events recorded so far.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func condition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) appsv1.DeploymentCondition {
	if c := rollout.Condition(d.Status, t); c != nil {
		return *c
	}
	return appsv1.DeploymentCondition{}
}

func TestNewDeploymentCreatesReplicaSet(t *testing.T) {
	f := newFixture(t, newDeployment(3, "web:1", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 7 }))
	f.sync()

	rss := f.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("got %d ReplicaSets, want 1", len(rss))
	}
	rs := rss[0]
	tmpl := template("web:1")
	hash := rollout.Hash(&tmpl, nil)
	if rs.Name != "web-"+hash {
		t.Errorf("name = %s, want web-%s", rs.Name, hash)
	}
	for what, labels := range map[string]map[string]string{
		"labels": rs.Labels, "selector": rs.Spec.Selector.MatchLabels, "template labels": rs.Spec.Template.Labels,
	} {
		if labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || labels["app"] != "web" {
			t.Errorf("%s = %v, want app=web and the pod-template-hash %s", what, labels, hash)
		}
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != "uid-web" {
		t.Errorf("controller = %v, want the Deployment", ref)
	}
	if got := rollout.Replicas(rs.Spec.Replicas); got != 3 {
		t.Errorf("replicas = %d, want 3", got)
	}
	if rs.Spec.MinReadySeconds != 7 {
		t.Errorf("minReadySeconds = %d, want the Deployment's 7", rs.Spec.MinReadySeconds)
	}
	want := map[string]string{rollout.RevisionAnnotation: "1", rollout.DesiredReplicasAnnotation: "3", rollout.MaxReplicasAnnotation: "4"}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	d := f.deployment()
	if d.Annotations[rollout.RevisionAnnotation] != "1" {
		t.Errorf("deployment revision = %q, want 1", d.Annotations[rollout.RevisionAnnotation])
	}
	if c := condition(d, appsv1.DeploymentProgressing); c.Reason != rollout.ReasonNewReplicaSetCreated || c.Message != fmt.Sprintf("Created new replica set %q", rs.Name) {
		t.Errorf("Progressing = %s %q, want NewReplicaSetCreated", c.Reason, c.Message)
	}
	wantEvent := fmt.Sprintf("Normal ScalingReplicaSet Scaled up replica set %s from 0 to 3", rs.Name)
	if ev := f.events(); !slices.Contains(ev, wantEvent) {
		t.Errorf("events = %q, want %q", ev, wantEvent)
	}
}

// TestRollingUpdate rolls a Deployment from one image to the next, step by
// step with the ReplicaSet controller played in between, and checks at every
// step that it never runs more than replicas + maxSurge pods nor has fewer
// than replicas − maxUnavailable available.
func TestRollingUpdate(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		replicas, surge, unavailable int32
	}{
		{"surge and unavailability", 10, 3, 2},
		{"surge only", 4, 1, 0},
		{"unavailability only", 5, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment(tc.replicas, "web:1", surge(tc.surge, tc.unavailable))
			d.Annotations = map[string]string{rollout.RevisionAnnotation: "1"}
			f := newFixture(t, d, replicaSetOf(d, "web:1", 1, tc.replicas, time.Hour))
			f.update(func(d *appsv1.Deployment) { d.Spec.Template = template("web:2") })

			for step := 0; ; step++ {
				if step > 50 {
					t.Fatal("the rollout did not finish in 50 steps")
				}
				f.clock = f.clock.Add(time.Second)
				f.sync()
				var pods, available int32
				for _, rs := range f.replicaSets() {
					pods += max(rollout.Replicas(rs.Spec.Replicas), rs.Status.Replicas)
					// Pods the ReplicaSet controller is told to remove are
					// gone, available ones last.
					available += min(rs.Status.AvailableReplicas, rollout.Replicas(rs.Spec.Replicas))
				}
				if pods > tc.replicas+tc.surge {
					t.Fatalf("step %d: %d pods, more than %d + %d", step, pods, tc.replicas, tc.surge)
				}
				if available < tc.replicas-tc.unavailable {
					t.Fatalf("step %d: %d pods available, fewer than %d − %d", step, available, tc.replicas, tc.unavailable)
				}
				f.runReplicaSets()
				if d := f.deployment(); d.Status.UpdatedReplicas == tc.replicas && d.Status.Replicas == tc.replicas && d.Status.AvailableReplicas == tc.replicas {
					break
				}
			}
			f.sync()

			oldRS, newRS := f.replicaSetFor("web:1"), f.replicaSetFor("web:2")
			if rollout.Replicas(oldRS.Spec.Replicas) != 0 || rollout.Replicas(newRS.Spec.Replicas) != tc.replicas {
				t.Errorf("old, new = %d, %d replicas; want 0, %d", *oldRS.Spec.Replicas, *newRS.Spec.Replicas, tc.replicas)
			}
			if newRS.Annotations[rollout.RevisionAnnotation] != "2" {
				t.Errorf("new revision = %q, want 2", newRS.Annotations[rollout.RevisionAnnotation])
			}
			d = f.deployment()
			if d.Annotations[rollout.RevisionAnnotation] != "2" {
				t.Errorf("deployment revision = %q, want 2", d.Annotations[rollout.RevisionAnnotation])
			}
			if c := condition(d, appsv1.DeploymentProgressing); c.Reason != rollout.ReasonNewReplicaSetAvailable ||
				c.Message != fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name) {
				t.Errorf("Progressing = %s %q, want NewReplicaSetAvailable", c.Reason, c.Message)
			}
			if c := condition(d, appsv1.DeploymentAvailable); c.Status != corev1.ConditionTrue || c.Reason != rollout.ReasonMinimumAvailable {
				t.Errorf("Available = %s %s, want True MinimumReplicasAvailable", c.Status, c.Reason)
			}
		})
	}
}

func TestRollingUpdateFirstStep(t *testing.T) {
	d := newDeployment(10, "web:1", surge(3, 2))
	f := newFixture(t, d, replicaSetOf(d, "web:1", 1, 10, time.Hour))
	f.update(func(d *appsv1.Deployment) { d.Spec.Template = template("web:2") })
	f.sync()

	oldRS, newRS := f.replicaSetFor("web:1"), f.replicaSetFor("web:2")
	// The new ReplicaSet takes the surge at once; the old one gives up what
	// maxUnavailable allows, as its pods are all available.
	if got := rollout.Replicas(newRS.Spec.Replicas); got != 3 {
		t.Errorf("new replicas = %d, want 3", got)
	}
	if got := rollout.Replicas(oldRS.Spec.Replicas); got != 8 {
		t.Errorf("old replicas = %d, want 8", got)
	}
	ev := f.events()
	for _, want := range []string{
		fmt.Sprintf("Normal ScalingReplicaSet Scaled up replica set %s from 0 to 3", newRS.Name),
		fmt.Sprintf("Normal ScalingReplicaSet Scaled down replica set %s from 10 to 8", oldRS.Name),
	} {
		if !slices.Contains(ev, want) {
			t.Errorf("events = %q, want %q", ev, want)
		}
	}

	// Without the new pods available, nothing more may happen.
	f.sync()
	if got := rollout.Replicas(f.replicaSetFor("web:1").Spec.Replicas); got != 8 {
		t.Errorf("old replicas after a second sync = %d, want 8", got)
	}
}

func TestRecreate(t *testing.T) {
	d := newDeployment(3, "web:1", recreate)
	oldRS := replicaSetOf(d, "web:1", 1, 3, time.Hour)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-old-1", Namespace: "shop", Labels: oldRS.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(oldRS, replicaSetKind)},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	f := newFixture(t, d, oldRS, pod)
	f.update(func(d *appsv1.Deployment) { d.Spec.Template = template("web:2") })

	f.sync()
	if got := rollout.Replicas(f.replicaSetFor("web:1").Spec.Replicas); got != 0 {
		t.Fatalf("old replicas = %d, want 0", got)
	}
	if want := fmt.Sprintf("Normal ScalingReplicaSet Scaled down replica set %s from 3 to 0", oldRS.Name); !slices.Contains(f.events(), want) {
		t.Errorf("no event %q", want)
	}
	if f.replicaSetFor("web:2") != nil {
		t.Fatal("the new ReplicaSet was created before the old one was down")
	}

	// The ReplicaSet controller counts no pod any more, but one still
	// terminates.
	f.runReplicaSets()
	f.sync()
	if f.replicaSetFor("web:2") != nil {
		t.Fatal("the new ReplicaSet was created while an old pod still runs")
	}

	if err := f.client.CoreV1().Pods("shop").Delete(context.Background(), pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.sync()
	newRS := f.replicaSetFor("web:2")
	if newRS == nil {
		t.Fatal("no new ReplicaSet once the old pods are gone")
	}
	if got := rollout.Replicas(newRS.Spec.Replicas); got != 3 {
		t.Errorf("new replicas = %d, want all 3 at once", got)
	}
	if newRS.Annotations[rollout.RevisionAnnotation] != "2" {
		t.Errorf("new revision = %q, want 2", newRS.Annotations[rollout.RevisionAnnotation])
	}
}

func TestProgressDeadline(t *testing.T) {
	d := newDeployment(4, "web:1", surge(1, 0))
	f := newFixture(t, d, replicaSetOf(d, "web:1", 1, 4, time.Hour))
	f.update(func(d *appsv1.Deployment) { d.Spec.Template = template("web:2") })
	f.sync() // creates the new ReplicaSet
	f.runReplicaSets()
	f.sync() // sees its pod, which never becomes available
	f.runReplicaSets()
	f.sync()

	d = f.deployment()
	c := condition(d, appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionTrue || c.Reason == rollout.ReasonTimedOut {
		t.Fatalf("Progressing before the deadline = %s %s", c.Status, c.Reason)
	}
	// The pod of the new ReplicaSet never becomes available.
	newRS := f.replicaSetFor("web:2")
	newRS.Status.AvailableReplicas, newRS.Status.ReadyReplicas = 0, 0
	if _, err := f.client.AppsV1().ReplicaSets("shop").UpdateStatus(context.Background(), newRS, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.sync()

	f.clock = c.LastUpdateTime.Add(601 * time.Second)
	f.sync()
	c = condition(f.deployment(), appsv1.DeploymentProgressing)
	if c.Status != corev1.ConditionFalse || c.Reason != rollout.ReasonTimedOut ||
		c.Message != fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name) {
		t.Errorf("Progressing after the deadline = %s %s %q, want False ProgressDeadlineExceeded", c.Status, c.Reason, c.Message)
	}
}

// recordingQueue records the keys added with a delay.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[string]
	after map[string]time.Duration
}

func (q *recordingQueue) AddAfter(key string, d time.Duration) { q.after[key] = d }
func (q *recordingQueue) AddRateLimited(key string)            { q.after[key] = 0 }

func TestProgressDeadlineRequeues(t *testing.T) {
	d := newDeployment(4, "web:1", surge(1, 0))
	f := newFixture(t, d, replicaSetOf(d, "web:1", 1, 4, time.Hour))
	q := &recordingQueue{TypedRateLimitingInterface: f.c.queue, after: map[string]time.Duration{}}
	f.c.queue = q
	f.update(func(d *appsv1.Deployment) { d.Spec.Template = template("web:2") })
	f.sync()
	// Nothing changes now: the Deployment waits for its deadline, 600 s from
	// the condition's update, and a second more.
	f.clock = f.clock.Add(200 * time.Second)
	f.sync()
	if got, ok := q.after["shop/web"]; !ok || got != 401*time.Second {
		t.Errorf("requeued after %v (%t), want 401s", got, ok)
	}
	f.clock = f.clock.Add(399*time.Second + 500*time.Millisecond)
	f.sync()
	if got := q.after["shop/web"]; got != 0 {
		t.Errorf("requeued after %v when due, want at once", got)
	}
}

func TestPaused(t *testing.T) {
	d := newDeployment(3, "web:1", paused)
	f := newFixture(t, d, replicaSetOf(d, "web:1", 1, 3, time.Hour))
	f.update(func(d *appsv1.Deployment) { d.Spec.Template = template("web:2") })
	f.sync()
	if f.replicaSetFor("web:2") != nil {
		t.Fatal("a paused Deployment rolled out")
	}
	if c := condition(f.deployment(), appsv1.DeploymentProgressing); c.Reason != rollout.ReasonPaused || c.Status != corev1.ConditionUnknown {
		t.Errorf("Progressing = %s %s, want Unknown DeploymentPaused", c.Status, c.Reason)
	}

	f.update(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })
	f.sync()
	if got := rollout.Replicas(f.replicaSetFor("web:1").Spec.Replicas); got != 5 {
		t.Errorf("replicas after scaling while paused = %d, want 5", got)
	}

	f.progressing = nil
	f.update(func(d *appsv1.Deployment) { d.Spec.Paused = false })
	f.sync()
	// The resume is recorded first, so that the time paused does not count
	// against the deadline; the rollout goes on in the same sync.
	if len(f.progressing) < 2 || f.progressing[0] != rollout.ReasonResumed || f.progressing[1] != rollout.ReasonNewReplicaSetCreated {
		t.Errorf("Progressing written = %v, want DeploymentResumed, then NewReplicaSetCreated", f.progressing)
	}
	if f.replicaSetFor("web:2") == nil {
		t.Error("the resumed Deployment did not roll out")
	}
}

func TestProportionalScaling(t *testing.T) {
	// Mid-rollout of 10 replicas with maxSurge 3 (13 pods at most), scaled
	// to 15 (18 at most): 5 more pods, shared 3 to the old and 2 to the new.
	d := newDeployment(10, "web:2", surge(3, 2))
	oldRS := replicaSetOf(d, "web:1", 1, 8, time.Hour)
	newRS := replicaSetOf(d, "web:2", 2, 5, time.Minute)
	newRS.Status.AvailableReplicas = 0
	f := newFixture(t, d, oldRS, newRS)
	f.update(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](15) })
	f.sync()

	if got := rollout.Replicas(f.replicaSetFor("web:1").Spec.Replicas); got != 11 {
		t.Errorf("old replicas = %d, want 11", got)
	}
	got := f.replicaSetFor("web:2")
	if rollout.Replicas(got.Spec.Replicas) != 7 {
		t.Errorf("new replicas = %d, want 7", *got.Spec.Replicas)
	}
	if got.Annotations[rollout.DesiredReplicasAnnotation] != "15" || got.Annotations[rollout.MaxReplicasAnnotation] != "18" {
		t.Errorf("desired, max = %s, %s; want 15, 18", got.Annotations[rollout.DesiredReplicasAnnotation], got.Annotations[rollout.MaxReplicasAnnotation])
	}
}

func TestHistoryCleanup(t *testing.T) {
	d := newDeployment(2, "web:5", historyLimit(2))
	d.Annotations = map[string]string{rollout.RevisionAnnotation: "5"}
	objs := []runtime.Object{d}
	for i := 1; i <= 5; i++ {
		replicas := int32(0)
		if i == 5 {
			replicas = 2
		}
		objs = append(objs, replicaSetOf(d, fmt.Sprintf("web:%d", i), i, replicas, time.Duration(10-i)*time.Hour))
	}
	f := newFixture(t, objs...)
	// The first sync writes the status that shows the rollout complete; only
	// a complete rollout trims its history.
	f.sync()
	f.sync()

	var images []string
	for _, rs := range f.replicaSets() {
		images = append(images, rs.Spec.Template.Spec.Containers[0].Image)
	}
	if want := []string{"web:3", "web:4", "web:5"}; !slices.Equal(images, want) {
		t.Errorf("ReplicaSets left run %v, want %v", images, want)
	}
}

func TestRollbackMakesOldReplicaSetNew(t *testing.T) {
	d := newDeployment(2, "web:2")
	d.Annotations = map[string]string{rollout.RevisionAnnotation: "2"}
	f := newFixture(t, d, replicaSetOf(d, "web:1", 1, 0, 2*time.Hour), replicaSetOf(d, "web:2", 2, 2, time.Hour))
	// kubectl rollout undo puts revision 1's template back.
	f.update(func(d *appsv1.Deployment) { d.Spec.Template = template("web:1") })
	f.sync()

	if n := len(f.replicaSets()); n != 2 {
		t.Fatalf("%d ReplicaSets, want 2: no new one for an old template", n)
	}
	rs := f.replicaSetFor("web:1")
	if rs.Annotations[rollout.RevisionAnnotation] != "3" || rs.Annotations[rollout.RevisionHistoryAnnotation] != "1" {
		t.Errorf("revision, history = %q, %q; want 3, 1", rs.Annotations[rollout.RevisionAnnotation], rs.Annotations[rollout.RevisionHistoryAnnotation])
	}
	f.sync()
	if got := f.deployment().Annotations[rollout.RevisionAnnotation]; got != "3" {
		t.Errorf("deployment revision = %q, want 3", got)
	}
	if got := rollout.Replicas(f.replicaSetFor("web:1").Spec.Replicas); got == 0 {
		t.Error("the ReplicaSet rolled back to was not scaled up")
	}
}

func TestStatus(t *testing.T) {
	d := newDeployment(4, "web:2", surge(1, 1))
	oldRS := replicaSetOf(d, "web:1", 1, 2, time.Hour)
	newRS := replicaSetOf(d, "web:2", 2, 3, time.Minute)
	newRS.Status.AvailableReplicas, newRS.Status.ReadyReplicas = 1, 2
	f := newFixture(t, d, oldRS, newRS)
	f.sync()

	got := f.deployment().Status
	want := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 5, UpdatedReplicas: 3, ReadyReplicas: 4, AvailableReplicas: 3, UnavailableReplicas: 2}
	got.Conditions = nil
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("status = %+v, want %+v", got, want)
	}
	if c := condition(f.deployment(), appsv1.DeploymentAvailable); c.Status != corev1.ConditionTrue || c.Reason != rollout.ReasonMinimumAvailable || c.Message != "Deployment has minimum availability." {
		t.Errorf("Available = %s %s %q", c.Status, c.Reason, c.Message)
	}

	// Two available pods are fewer than 4 − 1.
	newRS = f.replicaSetFor("web:2")
	newRS.Status.AvailableReplicas = 0
	if _, err := f.client.AppsV1().ReplicaSets("shop").UpdateStatus(context.Background(), newRS, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.sync()
	if c := condition(f.deployment(), appsv1.DeploymentAvailable); c.Status != corev1.ConditionFalse || c.Reason != rollout.ReasonMinimumUnavailable || c.Message != "Deployment does not have minimum availability." {
		t.Errorf("Available = %s %s %q", c.Status, c.Reason, c.Message)
	}
}

func TestAdoptsOrphans(t *testing.T) {
	d := newDeployment(2, "web:1")
	orphan := replicaSetOf(d, "web:1", 1, 2, time.Hour)
	orphan.OwnerReferences = nil
	f := newFixture(t, d, orphan)
	f.sync()

	rss := f.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("%d ReplicaSets, want the orphan adopted rather than a new one", len(rss))
	}
	if ref := metav1.GetControllerOf(rss[0]); ref == nil || ref.UID != d.UID {
		t.Errorf("controller of the orphan = %v, want the Deployment", ref)
	}
}

// TestEventsName is a guard on the wording kubectl describe shows.
func TestEventsName(t *testing.T) {
	d := newDeployment(1, "web:1")
	f := newFixture(t, d, replicaSetOf(d, "web:1", 1, 1, time.Hour))
	f.update(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) })
	f.sync()
	ev := strings.Join(f.events(), "\n")
	if !strings.Contains(ev, "Normal ScalingReplicaSet Scaled up replica set web-") || !strings.Contains(ev, "from 1 to 3") {
		t.Errorf("events = %q, want a scale up from 1 to 3", ev)
	}
}

func TestMinReadySecondsReachesReplicaSet(t *testing.T) {
	d := newDeployment(2, "web:1")
	d.Annotations = map[string]string{rollout.RevisionAnnotation: "1"}
	f := newFixture(t, d, replicaSetOf(d, "web:1", 1, 2, time.Hour))
	f.update(func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 10 })
	f.sync()
	rss := f.replicaSets()
	if len(rss) != 1 {
		t.Fatalf("%d ReplicaSets, want 1: minReadySeconds is no new template", len(rss))
	}
	if rss[0].Spec.MinReadySeconds != 10 {
		t.Errorf("minReadySeconds = %d, want 10", rss[0].Spec.MinReadySeconds)
	}
}
