package podcontrol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

var (
	now    = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	dsKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")
)

func newDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ops", UID: "uid-agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
		},
	}
}

func newPod(name string, owner metav1.Object, lbls map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ops", UID: types.UID("uid-" + name), Labels: lbls}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, dsKind)}
	}
	return p
}

func patches(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" {
			out = append(out, a.(core.PatchAction).GetName()+" "+string(a.(core.PatchAction).GetPatch()))
		}
	}
	return out
}

func TestClaimPods(t *testing.T) {
	ds := newDS()
	other := newDS()
	other.Name, other.UID = "other", "uid-other"
	app := map[string]string{"app": "agent"}
	tests := []struct {
		name    string
		owner   *appsv1.DaemonSet
		fresh   *appsv1.DaemonSet // as the API has the owner
		pod     *corev1.Pod
		patch   string
		claimed bool
		err     string
	}{{
		name:    "adopts an orphan its selector matches",
		pod:     newPod("orphan", nil, app),
		patch:   `orphan {"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","blockOwnerDeletion":true,"controller":true,"kind":"DaemonSet","name":"agent","uid":"uid-agent"}],"uid":"uid-orphan"}}`,
		claimed: true,
	}, {
		name:    "keeps a pod it controls that matches",
		pod:     newPod("mine", ds, app),
		claimed: true,
	}, {
		name:  "releases a pod it controls that no longer matches",
		pod:   newPod("relabeled", ds, map[string]string{"app": "debug"}),
		patch: `relabeled {"metadata":{"ownerReferences":[{"$patch":"delete","uid":"uid-agent"}],"uid":"uid-relabeled"}}`,
	}, {
		name: "leaves another controller's pod alone",
		pod:  newPod("theirs", other, app),
	}, {
		name: "leaves an orphan that does not match",
		pod:  newPod("stranger", nil, map[string]string{"app": "db"}),
	}, {
		name: "an owner being deleted neither adopts nor releases",
		owner: func() *appsv1.DaemonSet {
			d := ds.DeepCopy()
			d.DeletionTimestamp = ptr.To(metav1.NewTime(now))
			return d
		}(),
		pod: newPod("orphan", nil, app),
	}, {
		name: "an owner the cache thinks alive but the API says is going adopts nothing",
		fresh: func() *appsv1.DaemonSet {
			d := ds.DeepCopy()
			d.DeletionTimestamp = ptr.To(metav1.NewTime(now))
			return d
		}(),
		pod: newPod("orphan", nil, app),
		err: "has just been deleted",
	}, {
		name: "an owner recreated under the same name adopts nothing",
		fresh: func() *appsv1.DaemonSet {
			d := ds.DeepCopy()
			d.UID = "uid-new"
			return d
		}(),
		pod: newPod("orphan", nil, app),
		err: "is gone",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owner, fresh := cmpOr(tt.owner, ds), cmpOr(tt.fresh, ds)
			client := fake.NewClientset(tt.pod, fresh)
			selector, _ := metav1.LabelSelectorAsSelector(owner.Spec.Selector)
			c := NewClaimer(client, owner, dsKind, selector, func(ctx context.Context) (metav1.Object, error) {
				return client.AppsV1().DaemonSets("ops").Get(ctx, "agent", metav1.GetOptions{})
			})
			claimed, err := c.ClaimPods(context.Background(), []*corev1.Pod{tt.pod})
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if got := len(claimed) == 1; got != tt.claimed {
				t.Errorf("claimed %v, want %v", got, tt.claimed)
			}
			got := patches(client)
			switch {
			case tt.patch == "" && len(got) != 0:
				t.Errorf("patched %q, want none", got)
			case tt.patch != "" && (len(got) != 1 || !jsonEqual(got[0], tt.patch)):
				t.Errorf("patches %q\nwant %s", got, tt.patch)
			}
			if tt.patch != "" {
				p, err := client.CoreV1().Pods("ops").Get(context.Background(), tt.pod.Name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if owned := metav1.IsControlledBy(p, ds); owned != tt.claimed {
					t.Errorf("pod controlled by the DaemonSet %v after the patch, want %v: %+v", owned, tt.claimed, p.OwnerReferences)
				}
			}
		})
	}
}

func cmpOr(a, b *appsv1.DaemonSet) *appsv1.DaemonSet {
	if a != nil {
		return a
	}
	return b
}

func TestClaimReadsTheOwnerOnceAndOnlyForOrphans(t *testing.T) {
	ds := newDS()
	app := map[string]string{"app": "agent"}
	client := fake.NewClientset(ds, newPod("a", nil, app), newPod("b", nil, app))
	gets := 0
	fresh := func(ctx context.Context) (metav1.Object, error) {
		gets++
		return client.AppsV1().DaemonSets("ops").Get(ctx, "agent", metav1.GetOptions{})
	}
	c := NewClaimer(client, ds, dsKind, labels.SelectorFromSet(app), fresh)
	if _, err := c.ClaimPods(context.Background(), []*corev1.Pod{newPod("mine", ds, app)}); err != nil || gets != 0 {
		t.Fatalf("read the owner %d times (err %v) with no orphan", gets, err)
	}
	claimed, err := c.ClaimPods(context.Background(), []*corev1.Pod{newPod("a", nil, app), newPod("b", nil, app)})
	if err != nil || len(claimed) != 2 || gets != 1 {
		t.Errorf("claimed %d with %d reads of the owner (err %v), want 2 with 1", len(claimed), gets, err)
	}
}

func TestClaimPodsFilters(t *testing.T) {
	ds := newDS()
	app := map[string]string{"app": "agent"}
	done := newPod("done", nil, app)
	done.Status.Phase = corev1.PodSucceeded
	client := fake.NewClientset(ds, done)
	c := NewClaimer(client, ds, dsKind, labels.SelectorFromSet(app), func(ctx context.Context) (metav1.Object, error) { return ds, nil })
	claimed, err := c.ClaimPods(context.Background(), []*corev1.Pod{done}, IsPodActive)
	if err != nil || len(claimed) != 0 || len(patches(client)) != 0 {
		t.Errorf("claimed %d, patches %q (err %v): a filtered orphan must not be adopted", len(claimed), patches(client), err)
	}
}

func TestClaimRevisions(t *testing.T) {
	ds := newDS()
	rev, err := NewRevision(ds, dsKind, &ds.Spec.Template, 1, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	rev.OwnerReferences = nil
	client := fake.NewClientset(ds, rev)
	c := NewClaimer(client, ds, dsKind, labels.SelectorFromSet(map[string]string{"app": "agent"}),
		func(ctx context.Context) (metav1.Object, error) { return ds, nil })
	claimed, err := c.ClaimRevisions(context.Background(), []*appsv1.ControllerRevision{rev})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %d (err %v), want the orphan revision", len(claimed), err)
	}
	got, err := client.AppsV1().ControllerRevisions("ops").Get(context.Background(), rev.Name, metav1.GetOptions{})
	if err != nil || !metav1.IsControlledBy(got, ds) {
		t.Errorf("revision %+v (err %v) not adopted", got, err)
	}
}

func jsonEqual(a, b string) bool {
	an, aj, _ := strings.Cut(a, " ")
	bn, bj, _ := strings.Cut(b, " ")
	var x, y any
	if an != bn || json.Unmarshal([]byte(aj), &x) != nil || json.Unmarshal([]byte(bj), &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func TestExpectations(t *testing.T) {
	clock := now
	e := NewExpectations(func() time.Time { return clock })
	const key = "ops/agent"
	if !e.Satisfied(key) {
		t.Fatal("unknown key not satisfied")
	}
	e.Expect(key, 2, "ops/old")
	e.CreationObserved(key)
	if e.Satisfied(key) {
		t.Fatal("satisfied with a creation and a deletion outstanding")
	}
	e.CreationObserved(key)
	e.DeletionObserved(key, "ops/old")
	// A pod's deletion seen twice (timestamp, then the delete) counts once.
	e.DeletionObserved(key, "ops/old")
	if !e.Satisfied(key) {
		t.Fatal("not satisfied after everything was observed")
	}
	e.ExpectCreations(key, 1)
	e.ExpectDeletions(key, "ops/x")
	e.CreationObserved(key)
	if e.Satisfied(key) {
		t.Fatal("ExpectDeletions dropped the outstanding creation's companion deletion")
	}
	clock = clock.Add(ExpectationsTimeout + time.Second)
	if !e.Satisfied(key) {
		t.Error("expectations outstanding past the timeout still block")
	}
	e.Forget(key)
	e.CreationObserved(key) // on a forgotten key: no effect, no panic
	if !e.Satisfied(key) {
		t.Error("forgotten key not satisfied")
	}
}

func TestControl(t *testing.T) {
	ds := newDS()
	ref := metav1.NewControllerRef(ds, dsKind)

	t.Run("creates from the template with the controller ref and records it", func(t *testing.T) {
		client := fake.NewClientset()
		client.PrependReactor("create", "pods", func(a core.Action) (bool, runtime.Object, error) {
			p := a.(core.CreateAction).GetObject().(*corev1.Pod)
			p.Name = p.GenerateName + "x2k9q"
			return false, nil, nil
		})
		rec := record.NewFakeRecorder(10)
		pod := PodFromTemplate(&ds.Spec.Template, "ops", ref)
		created, err := NewControl(client, rec).Create(context.Background(), ds, pod)
		if err != nil {
			t.Fatal(err)
		}
		if created.Name != "agent-x2k9q" || !metav1.IsControlledBy(created, ds) || created.Spec.Containers[0].Image != "agent:1" {
			t.Errorf("created %+v", created)
		}
		if got := <-rec.Events; got != "Normal SuccessfulCreate Created pod: agent-x2k9q" {
			t.Errorf("event %q", got)
		}
	})

	t.Run("a failed create is a FailedCreate event", func(t *testing.T) {
		client := fake.NewClientset()
		client.PrependReactor("create", "pods", func(core.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("quota exceeded")
		})
		rec := record.NewFakeRecorder(10)
		if _, err := NewControl(client, rec).Create(context.Background(), ds, PodFromTemplate(&ds.Spec.Template, "ops", ref)); err == nil {
			t.Fatal("no error")
		}
		if got := <-rec.Events; got != "Warning FailedCreate Error creating: quota exceeded" {
			t.Errorf("event %q", got)
		}
	})

	t.Run("a pod without labels is refused before the API", func(t *testing.T) {
		client := fake.NewClientset()
		pod := PodFromTemplate(&corev1.PodTemplateSpec{}, "ops", ref)
		if _, err := NewControl(client, record.NewFakeRecorder(10)).Create(context.Background(), ds, pod); err == nil || len(client.Actions()) != 0 {
			t.Errorf("err %v, actions %v", err, client.Actions())
		}
	})

	t.Run("deletes and records it; a pod already gone is NotFound without event", func(t *testing.T) {
		pod := newPod("agent-a", ds, map[string]string{"app": "agent"})
		client := fake.NewClientset(pod)
		rec := record.NewFakeRecorder(10)
		c := NewControl(client, rec)
		if err := c.Delete(context.Background(), ds, pod); err != nil {
			t.Fatal(err)
		}
		if got := <-rec.Events; got != "Normal SuccessfulDelete Deleted pod: agent-a" {
			t.Errorf("event %q", got)
		}
		if err := c.Delete(context.Background(), ds, pod); !apierrors.IsNotFound(err) {
			t.Errorf("second delete: %v, want NotFound", err)
		}
		if len(rec.Events) != 0 {
			t.Errorf("event %q for a pod already gone", <-rec.Events)
		}
	})
}

func TestCreateRevision(t *testing.T) {
	ds := newDS()
	ctx := context.Background()

	t.Run("stores the template as a patch kubectl can apply", func(t *testing.T) {
		rev, err := NewRevision(ds, dsKind, &ds.Spec.Template, 3, ptr.To[int32](0))
		if err != nil {
			t.Fatal(err)
		}
		var patch struct {
			Spec struct {
				Template map[string]any `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(rev.Data.Raw, &patch); err != nil || patch.Spec.Template["$patch"] != "replace" {
			t.Errorf("data %s (err %v), want spec.template with $patch: replace", rev.Data.Raw, err)
		}
		hash := rev.Labels[appsv1.ControllerRevisionHashLabelKey]
		if rev.Name != "agent-"+hash || rev.Labels["app"] != "agent" || rev.Revision != 3 || !metav1.IsControlledBy(rev, ds) {
			t.Errorf("revision %+v", rev.ObjectMeta)
		}
		changed := ds.DeepCopy()
		changed.Spec.Template.Spec.Containers[0].Image = "agent:2"
		rev2, _ := NewRevision(changed, dsKind, &changed.Spec.Template, 4, ptr.To[int32](0))
		if rev2.Name == rev.Name || bytes.Equal(rev.Data.Raw, rev2.Data.Raw) {
			t.Error("a different template has the same revision")
		}
	})

	t.Run("the same revision again returns the existing one", func(t *testing.T) {
		client := fake.NewClientset()
		count := ptr.To[int32](0)
		rev, _ := NewRevision(ds, dsKind, &ds.Spec.Template, 1, count)
		first, err := CreateRevision(ctx, client, ds.Name, rev, count)
		if err != nil {
			t.Fatal(err)
		}
		again, err := CreateRevision(ctx, client, ds.Name, rev, count)
		if err != nil || again.Name != first.Name || *count != 0 {
			t.Errorf("got %s (err %v, collisions %d), want %s", again.Name, err, *count, first.Name)
		}
	})

	t.Run("a hash collision bumps the count and renames", func(t *testing.T) {
		count := ptr.To[int32](0)
		rev, _ := NewRevision(ds, dsKind, &ds.Spec.Template, 1, count)
		squatter := rev.DeepCopy()
		squatter.Data.Raw = []byte(`{"spec":{"template":{"$patch":"replace"}}}`)
		client := fake.NewClientset(squatter)
		created, err := CreateRevision(ctx, client, ds.Name, rev, count)
		if err != nil {
			t.Fatal(err)
		}
		if *count != 1 || created.Name == squatter.Name || created.Name != "agent-"+HashRevision(rev, ptr.To[int32](1)) {
			t.Errorf("created %s with collision count %d", created.Name, *count)
		}
	})
}

func TestSortAndNextRevision(t *testing.T) {
	revs := []*appsv1.ControllerRevision{
		{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Revision: 3},
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Revision: 1},
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Revision: 2},
	}
	SortRevisions(revs)
	if revs[0].Name != "a" || revs[2].Name != "c" {
		t.Errorf("order %s %s %s", revs[0].Name, revs[1].Name, revs[2].Name)
	}
	if n := NextRevision(revs); n != 4 {
		t.Errorf("next %d, want 4", n)
	}
	if n := NextRevision(nil); n != 1 {
		t.Errorf("next of none %d, want 1", n)
	}
}

func TestIsPodAvailable(t *testing.T) {
	readyAt := func(at time.Time) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}}}
	}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		minReady int32
		want     bool
	}{
		{"not ready", &corev1.Pod{}, 0, false},
		{"ready, no wait", readyAt(now), 0, true},
		{"ready for less than minReadySeconds", readyAt(now.Add(-5 * time.Second)), 10, false},
		{"ready for longer than minReadySeconds", readyAt(now.Add(-11 * time.Second)), 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPodAvailable(tt.pod, tt.minReady, now); got != tt.want {
				t.Errorf("available %v, want %v", got, tt.want)
			}
		})
	}
}
