package rollout

import (
	"math"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func deployment(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
			},
			ProgressDeadlineSeconds: ptr.To[int32](600),
		},
	}
}

// rs is a ReplicaSet created age ago that wants spec pods, of which available
// are available (and all exist).
func rs(name string, age time.Duration, spec, available int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(spec)},
		Status:     appsv1.ReplicaSetStatus{Replicas: spec, AvailableReplicas: available},
	}
}

func TestFenceposts(t *testing.T) {
	for _, tc := range []struct {
		name                string
		replicas            int32
		surge, unavailable  intstr.IntOrString
		wantSurge, wantUnav int32
	}{
		{"percentages round surge up and unavailability down", 10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{"small deployment", 4, intstr.FromString("25%"), intstr.FromString("25%"), 1, 1},
		{"both zero allow one unavailable", 3, intstr.FromInt32(0), intstr.FromInt32(0), 0, 1},
		{"one replica at 25% surges one, none unavailable", 1, intstr.FromString("25%"), intstr.FromString("25%"), 1, 0},
		{"unavailability capped at replicas", 2, intstr.FromInt32(0), intstr.FromInt32(5), 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment(tc.replicas, tc.surge, tc.unavailable)
			if got := MaxSurge(d); got != tc.wantSurge {
				t.Errorf("MaxSurge = %d, want %d", got, tc.wantSurge)
			}
			if got := MaxUnavailable(d); got != tc.wantUnav {
				t.Errorf("MaxUnavailable = %d, want %d", got, tc.wantUnav)
			}
		})
	}
	t.Run("recreate neither surges nor lets pods be unavailable", func(t *testing.T) {
		d := deployment(10, intstr.FromInt32(3), intstr.FromInt32(2))
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		if MaxSurge(d) != 0 || MaxUnavailable(d) != 0 {
			t.Errorf("MaxSurge, MaxUnavailable = %d, %d, want 0, 0", MaxSurge(d), MaxUnavailable(d))
		}
	})
}

func TestNewReplicaSetTarget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new int32
		want     int32
	}{
		{"surges by maxSurge next to a full old ReplicaSet", 10, 0, 3},
		{"fills the room the old ones left", 6, 5, 7},
		{"no room, no growth", 10, 3, 3},
		{"never beyond replicas", 0, 9, 10},
		{"a new ReplicaSet above replicas comes down", 0, 12, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment(10, intstr.FromInt32(3), intstr.FromInt32(2))
			oldRS, newRS := rs("old", time.Hour, tc.old, tc.old), rs("new", time.Minute, tc.new, 0)
			if got := NewReplicaSetTarget(d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS); got != tc.want {
				t.Errorf("NewReplicaSetTarget = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestScaleDownOld(t *testing.T) {
	type size struct {
		name string
		to   int32
	}
	for _, tc := range []struct {
		name  string
		d     *appsv1.Deployment
		newRS *appsv1.ReplicaSet
		old   []*appsv1.ReplicaSet
		want  []size
	}{
		{
			name:  "available old pods go down to replicas minus maxUnavailable",
			d:     deployment(10, intstr.FromInt32(3), intstr.FromInt32(2)),
			newRS: rs("new", time.Minute, 3, 0),
			old:   []*appsv1.ReplicaSet{rs("old", time.Hour, 10, 10)},
			want:  []size{{"old", 8}},
		},
		{
			name:  "unavailable new pods hold the old ones",
			d:     deployment(10, intstr.FromInt32(3), intstr.FromInt32(2)),
			newRS: rs("new", time.Minute, 5, 0),
			old:   []*appsv1.ReplicaSet{rs("old", time.Hour, 8, 8)},
			want:  nil,
		},
		{
			name:  "unavailable old pods go first, then available ones within the minimum",
			d:     deployment(10, intstr.FromInt32(3), intstr.FromInt32(2)),
			newRS: rs("new", time.Minute, 3, 0),
			old:   []*appsv1.ReplicaSet{rs("old", time.Hour, 10, 9)},
			want:  []size{{"old", 8}},
		},
		{
			name:  "oldest first across several old ReplicaSets",
			d:     deployment(10, intstr.FromInt32(0), intstr.FromInt32(3)),
			newRS: rs("new", time.Minute, 2, 2),
			old:   []*appsv1.ReplicaSet{rs("middle", time.Hour, 4, 4), rs("oldest", 2*time.Hour, 4, 4)},
			// 10 available, 7 must stay: 3 go, all from the oldest first.
			want: []size{{"oldest", 1}},
		},
		{
			name:  "stuck old pods are removed even when availability is at its minimum",
			d:     deployment(4, intstr.FromInt32(1), intstr.FromInt32(0)),
			newRS: rs("new", time.Minute, 1, 1),
			old:   []*appsv1.ReplicaSet{rs("old", time.Hour, 4, 3)},
			// 5 wanted, 4 must stay available, all new ones are: 1 may go,
			// the unavailable one.
			want: []size{{"old", 3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ScaleDownOld(tc.d, tc.newRS, tc.old)
			if len(got) != len(tc.want) {
				t.Fatalf("ScaleDownOld = %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].RS.Name != w.name || got[i].To != w.to {
					t.Errorf("step %d = %s to %d, want %s to %d", i, got[i].RS.Name, got[i].To, w.name, w.to)
				}
			}
		})
	}
}

func TestProportion(t *testing.T) {
	// Scaled from 10 to 15 mid-rollout with maxSurge 3: 13 pods allowed
	// before, 18 now, 5 to add.
	d := deployment(15, intstr.FromInt32(3), intstr.FromInt32(2))
	oldRS, newRS := rs("old", time.Hour, 8, 8), rs("new", time.Minute, 5, 5)
	for _, r := range []*appsv1.ReplicaSet{oldRS, newRS} {
		SetReplicasAnnotations(r, 10, 13)
	}
	if got := Proportion(oldRS, d, 5, 0); got != 3 {
		t.Errorf("old ReplicaSet's share = %d, want 3", got)
	}
	if got := Proportion(newRS, d, 5, 3); got != 2 {
		t.Errorf("new ReplicaSet's share = %d, want 2", got)
	}
	if got := Proportion(newRS, d, 5, 4); got != 1 {
		t.Errorf("share when only 1 is left = %d, want 1", got)
	}
	d.Spec.Replicas = ptr.To[int32](0)
	if got := Proportion(oldRS, d, -13, 0); got != -8 {
		t.Errorf("share when scaled to zero = %d, want -8", got)
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := deployment(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "v2", RevisionAnnotation: "7", corev1.LastAppliedConfigAnnotation: "{}"}
	t.Run("a ReplicaSet made new again keeps its old revisions", func(t *testing.T) {
		r := rs("web-abc", time.Hour, 0, 0)
		r.Annotations = map[string]string{RevisionAnnotation: "2", RevisionHistoryAnnotation: "1"}
		if !SetNewReplicaSetAnnotations(d, r, "4", true) {
			t.Fatal("reported no change")
		}
		if r.Annotations[RevisionAnnotation] != "4" || r.Annotations[RevisionHistoryAnnotation] != "1,2" {
			t.Errorf("revision, history = %q, %q; want 4, 1,2", r.Annotations[RevisionAnnotation], r.Annotations[RevisionHistoryAnnotation])
		}
		if r.Annotations["kubernetes.io/change-cause"] != "v2" {
			t.Error("the change cause was not copied")
		}
		if _, ok := r.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
			t.Error("the last applied configuration was copied")
		}
		if _, ok := r.Annotations[DesiredReplicasAnnotation]; ok {
			t.Error("an existing ReplicaSet got replica annotations: they are set when it is scaled")
		}
	})
	t.Run("a lower revision is not taken", func(t *testing.T) {
		r := rs("web-abc", time.Hour, 0, 0)
		r.Annotations = map[string]string{RevisionAnnotation: "5", "kubernetes.io/change-cause": "v2"}
		if SetNewReplicaSetAnnotations(d, r, "4", true) {
			t.Errorf("reported a change: %v", r.Annotations)
		}
	})
	t.Run("a ReplicaSet to create gets the replica counts", func(t *testing.T) {
		r := rs("web-abc", 0, 0, 0)
		SetNewReplicaSetAnnotations(d, r, "1", false)
		if r.Annotations[DesiredReplicasAnnotation] != "3" || r.Annotations[MaxReplicasAnnotation] != "4" {
			t.Errorf("desired, max = %q, %q; want 3, 4", r.Annotations[DesiredReplicasAnnotation], r.Annotations[MaxReplicasAnnotation])
		}
	})
}

func TestHash(t *testing.T) {
	a := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1"}}}}
	b := *a.DeepCopy()
	b.Spec.Containers[0].Image = "web:2"
	if Hash(&a, nil) != Hash(a.DeepCopy(), nil) {
		t.Error("the same template hashes differently")
	}
	if Hash(&a, nil) == Hash(&b, nil) {
		t.Error("different templates hash alike")
	}
	if Hash(&a, nil) == Hash(&a, ptr.To[int32](1)) {
		t.Error("the collision count does not change the hash")
	}
}

func progressing(reason string, status corev1.ConditionStatus, updated time.Time) appsv1.DeploymentCondition {
	return NewCondition(appsv1.DeploymentProgressing, status, reason, "", updated)
}

func TestUpdateProgressing(t *testing.T) {
	newRS := rs("web-abc", time.Minute, 3, 1)
	// counts are the status a rollout half way has.
	counts := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}
	for _, tc := range []struct {
		name        string
		prev        appsv1.DeploymentStatus
		now         time.Time
		deadline    *int32
		wantReason  string
		wantStatus  corev1.ConditionStatus
		wantMessage string
		wantUpdate  time.Time
	}{
		{
			name:       "progress moves the update time on",
			prev:       appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 3, Conditions: []appsv1.DeploymentCondition{progressing(ReasonReplicaSetUpdated, corev1.ConditionTrue, now.Add(-time.Hour))}},
			now:        now,
			wantReason: ReasonReplicaSetUpdated, wantStatus: corev1.ConditionTrue, wantMessage: `ReplicaSet "web-abc" is progressing.`, wantUpdate: now,
		},
		{
			name:       "no progress within the deadline leaves it alone",
			prev:       *counts.DeepCopy(),
			now:        now.Add(-5 * time.Minute),
			wantReason: ReasonNewReplicaSetCreated, wantStatus: corev1.ConditionTrue, wantUpdate: now.Add(-10 * time.Minute),
		},
		{
			name:       "no progress beyond the deadline times out",
			prev:       *counts.DeepCopy(),
			now:        now.Add(time.Second),
			wantReason: ReasonTimedOut, wantStatus: corev1.ConditionFalse, wantMessage: `ReplicaSet "web-abc" has timed out progressing.`, wantUpdate: now.Add(time.Second),
		},
		{
			name:       "no deadline, no condition",
			prev:       *counts.DeepCopy(),
			now:        now,
			deadline:   ptr.To[int32](math.MaxInt32),
			wantReason: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment(3, intstr.FromInt32(1), intstr.FromInt32(0))
			if tc.deadline != nil {
				d.Spec.ProgressDeadlineSeconds = tc.deadline
			}
			d.Status = tc.prev
			if d.Status.Conditions == nil {
				d.Status.Conditions = []appsv1.DeploymentCondition{progressing(ReasonNewReplicaSetCreated, corev1.ConditionTrue, now.Add(-10*time.Minute))}
			}
			status := *counts.DeepCopy()
			status.Conditions = append(status.Conditions, d.Status.Conditions...)
			UpdateProgressing(d, &status, newRS, tc.now)
			c := Condition(status, appsv1.DeploymentProgressing)
			if tc.wantReason == "" {
				if c != nil {
					t.Fatalf("Progressing = %+v, want none", *c)
				}
				return
			}
			if c == nil {
				t.Fatal("no Progressing condition")
			}
			if c.Reason != tc.wantReason || c.Status != tc.wantStatus || (tc.wantMessage != "" && c.Message != tc.wantMessage) {
				t.Errorf("Progressing = %s %s %q, want %s %s %q", c.Status, c.Reason, c.Message, tc.wantStatus, tc.wantReason, tc.wantMessage)
			}
			if !c.LastUpdateTime.Time.Equal(tc.wantUpdate) {
				t.Errorf("lastUpdateTime = %v, want %v", c.LastUpdateTime, tc.wantUpdate)
			}
		})
	}
	t.Run("complete", func(t *testing.T) {
		d := deployment(3, intstr.FromInt32(1), intstr.FromInt32(0))
		d.Status.Conditions = []appsv1.DeploymentCondition{progressing(ReasonReplicaSetUpdated, corev1.ConditionTrue, now.Add(-time.Hour))}
		status := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3, Conditions: d.Status.Conditions}
		UpdateProgressing(d, &status, newRS, now)
		if c := Condition(status, appsv1.DeploymentProgressing); c.Reason != ReasonNewReplicaSetAvailable || c.Message != `ReplicaSet "web-abc" has successfully progressed.` {
			t.Errorf("Progressing = %s %q", c.Reason, c.Message)
		}
	})
}

func TestProgressCheckIn(t *testing.T) {
	d := deployment(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Status.Conditions = []appsv1.DeploymentCondition{progressing(ReasonReplicaSetUpdated, corev1.ConditionTrue, now.Add(-3*time.Minute))}
	stuck := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 4, UpdatedReplicas: 1}
	if after, ok := ProgressCheckIn(d, &stuck, now); !ok || after != 7*time.Minute {
		t.Errorf("ProgressCheckIn = %v, %t; want 7m, true", after, ok)
	}
	done := appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}
	if _, ok := ProgressCheckIn(d, &done, now); ok {
		t.Error("a complete rollout is checked again")
	}
	d.Status.Conditions = []appsv1.DeploymentCondition{progressing(ReasonTimedOut, corev1.ConditionFalse, now)}
	if _, ok := ProgressCheckIn(d, &stuck, now); ok {
		t.Error("a timed out rollout is checked again")
	}
}
