package statefulset

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newSet(replicas int32, opts ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "uid-web", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "www"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
	for _, o := range opts {
		o(set)
	}
	return set
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
	set      *appsv1.StatefulSet
}

func newFixture(t *testing.T, set *appsv1.StatefulSet, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(append([]runtime.Object{set}, objs...)...)
	client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
		p := a.(core.CreateAction).GetObject().(*corev1.Pod)
		p.UID = types.UID("uid-" + p.Name)
		p.Status.Phase = corev1.PodPending // as the API server defaults it
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(1000)
	c := New(client, factory, recorder)
	c.now = func() time.Time { return now }
	t.Cleanup(c.queue.ShutDown)
	f := &fixture{t: t, client: client, factory: factory, recorder: recorder, c: c, set: set}
	f.cache(set)
	for _, o := range objs {
		f.cache(o)
	}
	client.ClearActions()
	return f
}

func (f *fixture) cache(obj runtime.Object) {
	f.t.Helper()
	var err error
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		err = f.factory.Apps().V1().StatefulSets().Informer().GetIndexer().Update(o)
	case *corev1.Pod:
		err = f.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
	case *corev1.PersistentVolumeClaim:
		err = f.factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(o)
	case *appsv1.ControllerRevision:
		err = f.factory.Apps().V1().ControllerRevisions().Informer().GetIndexer().Update(o)
	default:
		f.t.Fatalf("no informer for %T", obj)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// catchUp makes the caches hold what the fake API holds, as watches would,
// and forgets the actions so far.
func (f *fixture) catchUp() {
	f.t.Helper()
	ctx := context.Background()
	set, err := f.client.AppsV1().StatefulSets("shop").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cache(set)
	revs, _ := f.client.AppsV1().ControllerRevisions("shop").List(ctx, metav1.ListOptions{})
	for i := range revs.Items {
		f.cache(&revs.Items[i])
	}
	claims, _ := f.client.CoreV1().PersistentVolumeClaims("shop").List(ctx, metav1.ListOptions{})
	for i := range claims.Items {
		f.cache(&claims.Items[i])
	}
	pods, _ := f.client.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
	indexer := f.factory.Core().V1().Pods().Informer().GetIndexer()
	for _, old := range indexer.List() {
		if err := indexer.Delete(old); err != nil {
			f.t.Fatal(err)
		}
	}
	for i := range pods.Items {
		f.cache(&pods.Items[i])
	}
	f.client.ClearActions()
}

func (f *fixture) sync() {
	f.t.Helper()
	if err := f.c.sync(context.Background(), "shop/web"); err != nil {
		f.t.Fatal(err)
	}
}

// setSpec replaces the set's spec in the API and the cache, as kubectl would.
func (f *fixture) setSpec(change func(*appsv1.StatefulSet)) {
	f.t.Helper()
	set, err := f.client.AppsV1().StatefulSets("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	change(set)
	set.Generation++
	if _, err := f.client.AppsV1().StatefulSets("shop").Update(context.Background(), set, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.catchUp()
}

// makeReady marks the named pods running and ready in the API and the cache.
func (f *fixture) makeReady(names ...string) {
	f.t.Helper()
	for _, n := range names {
		p, err := f.client.CoreV1().Pods("shop").Get(context.Background(), n, metav1.GetOptions{})
		if err != nil {
			f.t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}}
		if _, err := f.client.CoreV1().Pods("shop").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
	f.catchUp()
}

// writes returns the names of the objects of resource written with verb.
func (f *fixture) writes(verb, resource string) []string {
	var out []string
	for _, a := range f.client.Actions() {
		if !a.Matches(verb, resource) {
			continue
		}
		switch a := a.(type) {
		case core.CreateAction:
			m, _ := metaName(a.GetObject())
			out = append(out, m)
		case core.DeleteAction:
			out = append(out, a.GetName())
		case core.UpdateAction:
			m, _ := metaName(a.GetObject())
			out = append(out, m)
		}
	}
	return out
}

func metaName(obj runtime.Object) (string, bool) {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName(), true
	}
	return "", false
}

func (f *fixture) pod(name string) *corev1.Pod {
	f.t.Helper()
	p, err := f.client.CoreV1().Pods("shop").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) status() appsv1.StatefulSetStatus {
	f.t.Helper()
	set, err := f.client.AppsV1().StatefulSets("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return set.Status
}

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

func TestOrderedCreation(t *testing.T) {
	f := newFixture(t, newSet(3))
	f.sync()
	if got := f.writes("create", "pods"); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("created %v, want web-0 alone", got)
	}
	if got := f.writes("create", "persistentvolumeclaims"); !slices.Equal(got, []string{"www-web-0"}) {
		t.Fatalf("created claims %v, want www-web-0", got)
	}
	p := f.pod("web-0")
	if p.Labels[podNameLabel] != "web-0" || p.Labels[podIndexLabel] != "0" || p.Spec.Hostname != "web-0" || p.Spec.Subdomain != "nginx" ||
		!metav1.IsControlledBy(p, f.set) || !strings.HasPrefix(p.Labels[appsv1.ControllerRevisionHashLabelKey], "web-") {
		t.Errorf("pod %+v\nspec hostname %q subdomain %q", p.ObjectMeta, p.Spec.Hostname, p.Spec.Subdomain)
	}
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].PersistentVolumeClaim == nil || p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "www-web-0" {
		t.Errorf("volumes %+v, want www from claim www-web-0", p.Spec.Volumes)
	}
	claim, err := f.client.CoreV1().PersistentVolumeClaims("shop").Get(context.Background(), "www-web-0", metav1.GetOptions{})
	if err != nil || claim.Labels["app"] != "nginx" || len(claim.OwnerReferences) != 0 {
		t.Errorf("claim %+v (err %v), want the selector's labels and no owner (Retain)", claim, err)
	}
	want := []string{
		"Normal SuccessfulCreate create Claim www-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful",
	}
	if got := f.events(); !slices.Equal(got, want) {
		t.Errorf("events %q\nwant %q", got, want)
	}

	// web-0 is pending: nothing more until it is running and ready.
	f.catchUp()
	f.sync()
	if got := f.writes("create", "pods"); len(got) != 0 {
		t.Fatalf("created %v while web-0 was not ready", got)
	}
	f.makeReady("web-0")
	f.sync()
	if got := f.writes("create", "pods"); !slices.Equal(got, []string{"web-1"}) {
		t.Fatalf("created %v, want web-1 once web-0 was ready", got)
	}
	f.catchUp()
	f.makeReady("web-1")
	f.sync()
	f.catchUp()
	f.makeReady("web-2")
	f.sync()
	s := f.status()
	if s.Replicas != 3 || s.ReadyReplicas != 3 || s.AvailableReplicas != 3 || s.CurrentReplicas != 3 || s.UpdatedReplicas != 3 ||
		s.CurrentRevision == "" || s.CurrentRevision != s.UpdateRevision || s.ObservedGeneration != 1 {
		t.Errorf("status %+v", s)
	}
}

func TestParallelCreation(t *testing.T) {
	f := newFixture(t, newSet(3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }))
	f.sync()
	if got := f.writes("create", "pods"); !slices.Equal(got, []string{"web-0", "web-1", "web-2"}) {
		t.Errorf("created %v, want all three at once", got)
	}
}

// running returns a fixture with n ready members of set.
func running(t *testing.T, set *appsv1.StatefulSet, n int) *fixture {
	t.Helper()
	f := newFixture(t, set)
	for i := 0; i < n; i++ {
		f.sync()
		f.catchUp()
		f.makeReady(podName(set, i))
	}
	f.sync()
	f.catchUp()
	f.events()
	return f
}

func TestScaleDownInReverseOrder(t *testing.T) {
	f := running(t, newSet(3), 3)
	f.setSpec(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) })
	f.sync()
	if got := f.writes("delete", "pods"); !slices.Equal(got, []string{"web-2"}) {
		t.Fatalf("deleted %v, want web-2 alone", got)
	}
	if got := f.events(); !slices.Contains(got, "Normal SuccessfulDelete delete Pod web-2 in StatefulSet web successful") {
		t.Errorf("events %q", got)
	}
	// web-2 is terminating: web-1 waits for it to be gone.
	terminatingPod := f.pod("web-1").DeepCopy()
	terminatingPod.Name = "web-2"
	terminatingPod.Labels[podNameLabel], terminatingPod.Labels[podIndexLabel] = "web-2", "2"
	terminatingPod.DeletionTimestamp = ptr.To(metav1.NewTime(now))
	f.client.ClearActions()
	f.cache(terminatingPod)
	f.sync()
	if got := f.writes("delete", "pods"); len(got) != 0 {
		t.Fatalf("deleted %v while web-2 was terminating", got)
	}
	f.catchUp() // web-2 gone
	f.sync()
	if got := f.writes("delete", "pods"); !slices.Equal(got, []string{"web-1"}) {
		t.Fatalf("deleted %v, want web-1 next", got)
	}
	// Claims stay (the default policy is Retain).
	if got := f.writes("delete", "persistentvolumeclaims"); len(got) != 0 {
		t.Errorf("deleted claims %v", got)
	}
}

func TestRetentionPolicy(t *testing.T) {
	set := newSet(2, func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		}
	})
	f := running(t, set, 2)
	claim, err := f.client.CoreV1().PersistentVolumeClaims("shop").Get(context.Background(), "www-web-1", metav1.GetOptions{})
	if err != nil || len(claim.OwnerReferences) != 1 || claim.OwnerReferences[0].UID != set.UID {
		t.Fatalf("claim %+v (err %v), want owned by the set for WhenDeleted: Delete", claim.OwnerReferences, err)
	}
	f.setSpec(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) })
	f.sync()
	claim, _ = f.client.CoreV1().PersistentVolumeClaims("shop").Get(context.Background(), "www-web-1", metav1.GetOptions{})
	if !hasOwner(claim, "uid-web-1") {
		t.Errorf("claim owners %+v, want web-1 among them for WhenScaled: Delete", claim.OwnerReferences)
	}
	if got := f.writes("delete", "pods"); !slices.Equal(got, []string{"web-1"}) {
		t.Errorf("deleted %v", got)
	}
}

func TestPartitionedRollingUpdate(t *testing.T) {
	f := running(t, newSet(3), 3)
	oldRev := f.status().CurrentRevision
	f.setSpec(func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "nginx:2"
		s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}
	})
	f.sync()
	if got := f.writes("delete", "pods"); !slices.Equal(got, []string{"web-2"}) {
		t.Fatalf("deleted %v, want web-2 first", got)
	}
	s := f.status()
	if s.CurrentRevision != oldRev || s.UpdateRevision == oldRev {
		t.Fatalf("status %+v, want a new update revision beside the current one", s)
	}
	newRev := s.UpdateRevision
	f.catchUp()
	f.sync()
	if got := f.writes("create", "pods"); !slices.Equal(got, []string{"web-2"}) {
		t.Fatalf("created %v, want web-2 again", got)
	}
	if p := f.pod("web-2"); p.Spec.Containers[0].Image != "nginx:2" || p.Labels[appsv1.ControllerRevisionHashLabelKey] != newRev {
		t.Errorf("web-2 runs %s of %s, want nginx:2 of %s", p.Spec.Containers[0].Image, p.Labels[appsv1.ControllerRevisionHashLabelKey], newRev)
	}
	// web-1 waits for web-2 to be ready.
	f.catchUp()
	f.sync()
	if got := f.writes("delete", "pods"); len(got) != 0 {
		t.Fatalf("deleted %v before web-2 was ready", got)
	}
	f.makeReady("web-2")
	f.sync()
	if got := f.writes("delete", "pods"); !slices.Equal(got, []string{"web-1"}) {
		t.Fatalf("deleted %v, want web-1", got)
	}
	f.catchUp()
	f.sync()
	f.catchUp()
	f.makeReady("web-1")
	f.sync()
	// web-0 is below the partition: it stays on the old template.
	if got := f.writes("delete", "pods"); len(got) != 0 {
		t.Errorf("deleted %v below the partition", got)
	}
	if p := f.pod("web-0"); p.Spec.Containers[0].Image != "nginx:1" {
		t.Errorf("web-0 runs %s", p.Spec.Containers[0].Image)
	}
	if s := f.status(); s.UpdatedReplicas != 2 || s.CurrentReplicas != 1 || s.CurrentRevision != oldRev {
		t.Errorf("status %+v, want 2 updated, 1 current", s)
	}

	t.Run("a member below the partition is recreated from the current revision", func(t *testing.T) {
		if err := f.client.CoreV1().Pods("shop").Delete(context.Background(), "web-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.catchUp()
		f.sync()
		if p := f.pod("web-0"); p.Spec.Containers[0].Image != "nginx:1" || p.Labels[appsv1.ControllerRevisionHashLabelKey] != oldRev {
			t.Errorf("web-0 recreated with %s of %s", p.Spec.Containers[0].Image, p.Labels[appsv1.ControllerRevisionHashLabelKey])
		}
	})

	t.Run("partition 0 finishes the rollout and makes the update revision current", func(t *testing.T) {
		f.makeReady("web-0")
		f.setSpec(func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0) })
		f.sync()
		if got := f.writes("delete", "pods"); !slices.Equal(got, []string{"web-0"}) {
			t.Fatalf("deleted %v", got)
		}
		f.catchUp()
		f.sync()
		f.catchUp()
		f.makeReady("web-0")
		f.sync()
		if s := f.status(); s.CurrentRevision != newRev || s.UpdatedReplicas != 3 || s.CurrentReplicas != 3 {
			t.Errorf("status %+v, want the rollout complete", s)
		}
	})
}

func TestOnDelete(t *testing.T) {
	f := running(t, newSet(2, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}), 2)
	f.setSpec(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "nginx:2" })
	f.sync()
	if got := f.writes("delete", "pods"); len(got) != 0 {
		t.Fatalf("deleted %v with OnDelete", got)
	}
	if err := f.client.CoreV1().Pods("shop").Delete(context.Background(), "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.catchUp()
	f.sync()
	if p := f.pod("web-1"); p.Spec.Containers[0].Image != "nginx:2" {
		t.Errorf("web-1 recreated with %s, want the new template", p.Spec.Containers[0].Image)
	}
}

func TestAdoptsOnlyMembers(t *testing.T) {
	set := newSet(1)
	orphan := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": "nginx"}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	f := newFixture(t, set, orphan("web-0"), orphan("stray"))
	f.sync()
	var patched []string
	for _, a := range f.client.Actions() {
		if a.Matches("patch", "pods") {
			patched = append(patched, a.(core.PatchAction).GetName())
		}
	}
	if !slices.Equal(patched, []string{"web-0"}) {
		t.Errorf("adopted %v, want web-0 only", patched)
	}
	if got := f.writes("create", "pods"); len(got) != 0 {
		t.Errorf("created %v though web-0 was adopted", got)
	}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name    string
		ordinal int
		ok      bool
		parent  string
	}{
		{"web-0", 0, true, "web"},
		{"my-db-12", 12, true, "my-db"},
		{"web", 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, ordinal, ok := ordinalOf(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tt.name}})
			if parent != tt.parent || ordinal != tt.ordinal || ok != tt.ok {
				t.Errorf("got %q %d %v", parent, ordinal, ok)
			}
		})
	}
}

func TestRecreatesFailedMember(t *testing.T) {
	f := running(t, newSet(2), 2)
	p := f.pod("web-0")
	p.Status.Phase = corev1.PodFailed
	if _, err := f.client.CoreV1().Pods("shop").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.catchUp()
	f.sync()
	if got := f.writes("delete", "pods"); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("deleted %v, want the failed web-0", got)
	}
	if got := f.events(); !slices.Contains(got, "Warning RecreatingFailedPod StatefulSet shop/web is recreating failed Pod web-0") {
		t.Errorf("events %q", got)
	}
	f.catchUp()
	f.sync()
	if got := f.writes("create", "pods"); !slices.Equal(got, []string{"web-0"}) {
		t.Errorf("created %v, want web-0 again", got)
	}
	claims := f.writes("create", "persistentvolumeclaims")
	if len(claims) != 0 {
		t.Errorf("created claims %v: web-0 keeps its claim", claims)
	}
}

func TestParallelScaleDown(t *testing.T) {
	f := running(t, newSet(3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }), 3)
	f.setSpec(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) })
	f.sync()
	got := f.writes("delete", "pods")
	slices.Sort(got)
	if !slices.Equal(got, []string{"web-1", "web-2"}) {
		t.Errorf("deleted %v, want web-1 and web-2 at once", got)
	}
}

func TestRecreatesMissingClaimOfPendingMember(t *testing.T) {
	f := running(t, newSet(1), 1)
	if err := f.client.CoreV1().PersistentVolumeClaims("shop").Delete(context.Background(), "www-web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	claim, _ := f.c.claims.PersistentVolumeClaims("shop").Get("www-web-0")
	if err := f.factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Delete(claim); err != nil {
		t.Fatal(err)
	}
	p := f.pod("web-0")
	p.Status.Phase = corev1.PodPending
	if _, err := f.client.CoreV1().Pods("shop").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.catchUp()
	f.sync()
	if got := f.writes("create", "persistentvolumeclaims"); !slices.Equal(got, []string{"www-web-0"}) {
		t.Errorf("created claims %v, want www-web-0 again", got)
	}
}
