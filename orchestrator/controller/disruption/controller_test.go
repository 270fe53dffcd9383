package disruption

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

const ns = "shop"

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	clock  *clocktesting.FakeClock
	c      *Controller
	f      informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(start)
	c := New(client, f, record.NewFakeRecorder(100), WithClock(clk))
	c.scale = func(context.Context, string, controllerRef) (scaleOf, error) {
		return scaleOf{}, errors.New("no scale subresource in this test")
	}
	t.Cleanup(c.queue.ShutDown)
	t.Cleanup(c.stalePods.ShutDown)
	fx := &fixture{t: t, client: client, clock: clk, c: c, f: f}
	for _, obj := range objs {
		fx.cache(obj)
	}
	client.ClearActions()
	return fx
}

func (fx *fixture) cache(obj runtime.Object) {
	var err error
	switch o := obj.(type) {
	case *policyv1.PodDisruptionBudget:
		err = fx.f.Policy().V1().PodDisruptionBudgets().Informer().GetIndexer().Update(o)
	case *corev1.Pod:
		err = fx.f.Core().V1().Pods().Informer().GetIndexer().Update(o)
	case *corev1.ReplicationController:
		err = fx.f.Core().V1().ReplicationControllers().Informer().GetIndexer().Update(o)
	case *appsv1.ReplicaSet:
		err = fx.f.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(o)
	case *appsv1.Deployment:
		err = fx.f.Apps().V1().Deployments().Informer().GetIndexer().Update(o)
	case *appsv1.StatefulSet:
		err = fx.f.Apps().V1().StatefulSets().Informer().GetIndexer().Update(o)
	default:
		fx.t.Fatalf("unexpected %T", obj)
	}
	if err != nil {
		fx.t.Fatal(err)
	}
}

// status syncs the budget and returns the status it wrote (nil: none).
func (fx *fixture) status(name string) (*policyv1.PodDisruptionBudgetStatus, error) {
	fx.t.Helper()
	fx.client.ClearActions()
	err := fx.c.sync(context.Background(), ns+"/"+name)
	var out *policyv1.PodDisruptionBudgetStatus
	for _, a := range fx.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			pdb := a.(interface{ GetObject() runtime.Object }).GetObject().(*policyv1.PodDisruptionBudget)
			out = &pdb.Status
		}
	}
	return out, err
}

func newPDB(name string, set func(*policyv1.PodDisruptionBudgetSpec)) *policyv1.PodDisruptionBudget {
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 2},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	set(&pdb.Spec)
	return pdb
}

func minAvailable(v intstr.IntOrString) func(*policyv1.PodDisruptionBudgetSpec) {
	return func(s *policyv1.PodDisruptionBudgetSpec) { s.MinAvailable = &v }
}

func maxUnavailable(v intstr.IntOrString) func(*policyv1.PodDisruptionBudgetSpec) {
	return func(s *policyv1.PodDisruptionBudgetSpec) { s.MaxUnavailable = &v }
}

type podOpt func(*corev1.Pod)

func newPod(name string, opts ...podOpt) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

func ownedBy(obj metav1.Object, gvk string) podOpt {
	return func(p *corev1.Pod) {
		apiVersion, kind := "apps/v1", gvk
		if gvk == "ReplicationController" {
			apiVersion = "v1"
		}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), Controller: ptr.To(true)}}
	}
}

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name)}
}

func TestSync(t *testing.T) {
	deploy := &appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4)}}
	rs := &appsv1.ReplicaSet{ObjectMeta: meta("web-abc"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3)}}
	rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: deploy.UID, Controller: ptr.To(true)}}
	lone := &appsv1.ReplicaSet{ObjectMeta: meta("lone"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](6)}}
	sts := &appsv1.StatefulSet{ObjectMeta: meta("db"), Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](5)}}
	rc := &corev1.ReplicationController{ObjectMeta: meta("old"), Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](10)}}

	cases := []struct {
		name string
		objs []runtime.Object
		want policyv1.PodDisruptionBudgetStatus
		// reason of the DisruptionAllowed condition
		reason string
		err    bool
	}{
		{
			name: "an integer minAvailable counts the selected pods",
			objs: []runtime.Object{newPDB("b", minAvailable(intstr.FromInt32(2))), newPod("a"), newPod("b"), newPod("c"),
				newPod("other", func(p *corev1.Pod) { p.Labels = nil })},
			want:   policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 3, DisruptionsAllowed: 1, ObservedGeneration: 2},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name: "a percentage is of the Deployment that owns the pods' ReplicaSet",
			objs: []runtime.Object{newPDB("b", minAvailable(intstr.FromString("50%"))), deploy, rs,
				newPod("a", ownedBy(rs, "ReplicaSet")), newPod("b", ownedBy(rs, "ReplicaSet")), newPod("c", ownedBy(rs, "ReplicaSet"))},
			want:   policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 4, DisruptionsAllowed: 1, ObservedGeneration: 2},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name: "maxUnavailable rounds up against a ReplicaSet's scale",
			objs: []runtime.Object{newPDB("b", maxUnavailable(intstr.FromString("30%"))), lone,
				newPod("a", ownedBy(lone, "ReplicaSet")), newPod("b", ownedBy(lone, "ReplicaSet")), newPod("c", ownedBy(lone, "ReplicaSet")),
				newPod("d", ownedBy(lone, "ReplicaSet")), newPod("e", ownedBy(lone, "ReplicaSet"), notReady)},
			// 30% of 6 rounds up to 2: 4 must be healthy and 4 are.
			want:   policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 4, DesiredHealthy: 4, ExpectedPods: 6, DisruptionsAllowed: 0, ObservedGeneration: 2},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name: "maxUnavailable against a StatefulSet",
			objs: []runtime.Object{newPDB("b", maxUnavailable(intstr.FromInt32(1))), sts,
				newPod("db-0", ownedBy(sts, "StatefulSet")), newPod("db-1", ownedBy(sts, "StatefulSet")), newPod("db-2", ownedBy(sts, "StatefulSet")),
				newPod("db-3", ownedBy(sts, "StatefulSet")), newPod("db-4", ownedBy(sts, "StatefulSet"))},
			want:   policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 5, DesiredHealthy: 4, ExpectedPods: 5, DisruptionsAllowed: 1, ObservedGeneration: 2},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name:   "a percentage against a ReplicationController",
			objs:   []runtime.Object{newPDB("b", minAvailable(intstr.FromString("10%"))), rc, newPod("a", ownedBy(rc, "ReplicationController"))},
			want:   policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 10, DisruptionsAllowed: 0, ObservedGeneration: 2},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name:   "a budget matching no pods allows nothing",
			objs:   []runtime.Object{newPDB("b", maxUnavailable(intstr.FromInt32(1)))},
			want:   policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name: "pods being deleted are not healthy",
			objs: []runtime.Object{newPDB("b", minAvailable(intstr.FromInt32(1))), newPod("a"),
				newPod("b", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: start} })},
			want:   policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 2, ObservedGeneration: 2},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name: "a controller that cannot be found fails safe",
			objs: []runtime.Object{newPDB("b", maxUnavailable(intstr.FromInt32(1))), newPod("a", ownedBy(&appsv1.ReplicaSet{ObjectMeta: meta("gone")}, "ReplicaSet"))},
			want: policyv1.PodDisruptionBudgetStatus{},
			// SyncFailed, and the sync is retried.
			reason: policyv1.SyncFailedReason,
			err:    true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, tc.objs...)
			got, err := fx.status("b")
			if (err != nil) != tc.err {
				t.Fatalf("sync: %v", err)
			}
			if got == nil {
				t.Fatal("no status written")
			}
			cond := apimeta.FindStatusCondition(got.Conditions, policyv1.DisruptionAllowedCondition)
			if cond == nil || cond.Reason != tc.reason || (cond.Status == metav1.ConditionTrue) != (tc.reason == policyv1.SufficientPodsReason) {
				t.Fatalf("condition %+v, want reason %s", cond, tc.reason)
			}
			got.Conditions = nil
			if got.CurrentHealthy != tc.want.CurrentHealthy || got.DesiredHealthy != tc.want.DesiredHealthy || got.ExpectedPods != tc.want.ExpectedPods ||
				got.DisruptionsAllowed != tc.want.DisruptionsAllowed || got.ObservedGeneration != tc.want.ObservedGeneration {
				t.Fatalf("status %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestUnchangedStatusIsNotWritten(t *testing.T) {
	fx := newFixture(t, newPDB("b", minAvailable(intstr.FromInt32(1))), newPod("a"))
	got, err := fx.status("b")
	if err != nil || got == nil {
		t.Fatalf("first sync: %v %v", got, err)
	}
	pdb := newPDB("b", minAvailable(intstr.FromInt32(1)))
	pdb.Status = *got
	fx.cache(pdb)
	if got, err := fx.status("b"); err != nil || got != nil {
		t.Fatalf("second sync wrote %+v (%v)", got, err)
	}
}

func TestDisruptedPods(t *testing.T) {
	evicted := metav1.NewTime(start.Add(-time.Minute))
	pdb := newPDB("b", minAvailable(intstr.FromInt32(1)))
	pdb.Status.DisruptedPods = map[string]metav1.Time{"a": evicted, "gone": evicted, "going": evicted}
	fx := newFixture(t, pdb, newPod("a"), newPod("c"),
		newPod("going", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: start} }))

	t.Run("an eviction not yet carried out is held and not counted healthy", func(t *testing.T) {
		got, err := fx.status("b")
		if err != nil || got == nil {
			t.Fatalf("%v %v", got, err)
		}
		if len(got.DisruptedPods) != 1 || !got.DisruptedPods["a"].Time.Equal(evicted.Time) || got.CurrentHealthy != 1 || got.DisruptionsAllowed != 0 {
			t.Fatalf("status %+v", got)
		}
		pdb := pdb.DeepCopy()
		pdb.Status = *got
		fx.cache(pdb)
	})

	t.Run("after the timeout the eviction is forgotten", func(t *testing.T) {
		fx.clock.Step(time.Minute)
		got, err := fx.status("b")
		if err != nil || got == nil {
			t.Fatalf("%v %v", got, err)
		}
		if len(got.DisruptedPods) != 0 || got.CurrentHealthy != 2 || got.DisruptionsAllowed != 1 {
			t.Fatalf("status %+v", got)
		}
	})
}

func TestStaleDisruptionCondition(t *testing.T) {
	cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager",
		LastTransitionTime: metav1.NewTime(start)}
	pod := newPod("a", func(p *corev1.Pod) { p.Status.Conditions = append(p.Status.Conditions, cond) })
	fx := newFixture(t, pod)
	resets := func() int {
		fx.client.ClearActions()
		if err := fx.c.syncStalePod(context.Background(), ns+"/a"); err != nil {
			t.Fatal(err)
		}
		return len(fx.client.Actions())
	}
	t.Run("a fresh condition is left", func(t *testing.T) {
		if n := resets(); n != 0 {
			t.Fatalf("%d writes", n)
		}
	})
	t.Run("a condition older than the timeout on a pod not being deleted is reset", func(t *testing.T) {
		fx.clock.Step(DefaultStaleDisruptionTimeout)
		if n := resets(); n != 1 {
			t.Fatalf("%d writes", n)
		}
		got, _ := fx.client.CoreV1().Pods(ns).Get(context.Background(), "a", metav1.GetOptions{})
		for _, c := range got.Status.Conditions {
			if c.Type == corev1.DisruptionTarget && c.Status != corev1.ConditionFalse {
				t.Fatalf("condition %+v", c)
			}
		}
	})
}
