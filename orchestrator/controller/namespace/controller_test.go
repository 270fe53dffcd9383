package namespace

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConditions(t *testing.T) {
	cases := []struct {
		name string
		d    deletion
		want map[corev1.NamespaceConditionType]string // status reason: message
	}{
		{
			name: "all gone",
			d:    deletion{failed: map[string]string{}, remaining: map[string]int{}, finalizers: map[string]int{}},
			want: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceDeletionDiscoveryFailure: "False ResourcesDiscovered: All resources successfully discovered",
				corev1.NamespaceDeletionContentFailure:   "False ContentDeleted: All content successfully deleted, may be waiting on finalization",
				corev1.NamespaceContentRemaining:         "False ContentRemoved: All content successfully removed",
				corev1.NamespaceFinalizersRemaining:      "False ContentHasNoFinalizers: All content-preserving finalizers finished",
			},
		},
		{
			name: "pods terminating behind a finalizer",
			d: deletion{failed: map[string]string{}, remaining: map[string]int{"pods": 2},
				finalizers: map[string]int{"example.com/hold": 1}},
			want: map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining:    "True SomeResourcesRemain: Some resources are remaining: pods has 2 resource instances",
				corev1.NamespaceFinalizersRemaining: "True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := map[corev1.NamespaceConditionType]string{}
			for _, c := range tc.d.conditions() {
				got[c.Type] = fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
			}
			for typ, want := range tc.want {
				if got[typ] != want {
					t.Errorf("%s = %q, want %q", typ, got[typ], want)
				}
			}
			if tc.d.done() != (len(tc.d.remaining) == 0) {
				t.Errorf("done = %v", tc.d.done())
			}
		})
	}
}

func TestSetConditionKeepsTransitionTime(t *testing.T) {
	then := metav1.NewTime(metav1.Now().Add(-3600e9))
	status := &corev1.NamespaceStatus{Conditions: []corev1.NamespaceCondition{
		{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain", Message: "a", LastTransitionTime: then},
	}}
	if !setCondition(status, corev1.NamespaceCondition{Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain", Message: "b", LastTransitionTime: metav1.Now()}) {
		t.Fatal("a changed message is a change")
	}
	if !status.Conditions[0].LastTransitionTime.Equal(&then) {
		t.Fatal("the status did not change, so the transition time must not either")
	}
	if setCondition(status, status.Conditions[0]) {
		t.Fatal("setting the same condition again is no change")
	}
}
