package podcontrol

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestControllerOf(t *testing.T) {
	kind := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	cached := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "u1"}}
	get := func(name string) (*appsv1.ReplicaSet, error) {
		if name != cached.Name {
			return nil, errors.New("not found")
		}
		return cached, nil
	}
	for _, tc := range []struct {
		name string
		ref  *metav1.OwnerReference
		want bool
	}{
		{"the very one", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "u1"}, true},
		{"another version of the group", &metav1.OwnerReference{APIVersion: "apps/v1beta2", Kind: "ReplicaSet", Name: "web", UID: "u1"}, true},
		{"no reference", nil, false},
		{"another kind", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "u1"}, false},
		{"another group", &metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "ReplicaSet", Name: "web", UID: "u1"}, false},
		{"made again under the name", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "u0"}, false},
		{"gone", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "api", UID: "u1"}, false},
	} {
		got, ok := ControllerOf(tc.ref, kind, get)
		if ok != tc.want || (ok && got != cached) || (!ok && got != nil) {
			t.Errorf("%s: got %v, %v; want found=%v", tc.name, got, ok, tc.want)
		}
	}
}

func TestSelecting(t *testing.T) {
	sets := []*appsv1.ReplicaSet{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "all"}, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}},
	}
	selector := func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }
	got := Selecting(sets, map[string]string{"app": "web", "tier": "front"}, selector)
	if len(got) != 1 || got[0].Name != "web" {
		t.Fatalf("selecting app=web: %v", got)
	}
	if got := Selecting(sets, nil, selector); len(got) != 0 {
		t.Fatalf("an unlabelled object is selected by %v", got)
	}
}
