package framework

import "testing"

func TestFitErrorMessage(t *testing.T) {
	insufficient := func(r ...string) *Status { return NewStatus(NodeResourcesFit, Unschedulable, r...) }
	taint := NewStatus(TaintToleration, UnschedulableAndUnresolvable, "node(s) had untolerated taint(s)")
	tests := []struct {
		name string
		err  *FitError
		want string
	}{
		{
			name: "one reason",
			err:  &FitError{NumAllNodes: 3, Statuses: map[string]*Status{"a": insufficient("Insufficient cpu"), "b": insufficient("Insufficient cpu"), "c": insufficient("Insufficient cpu")}},
			want: "0/3 nodes are available: 3 Insufficient cpu.",
		},
		{
			name: "reasons sorted as strings",
			err: &FitError{NumAllNodes: 5, Statuses: map[string]*Status{
				"a": taint, "b": insufficient("Insufficient memory"), "c": insufficient("Insufficient memory"),
				"d": insufficient("Insufficient memory"), "e": insufficient("Insufficient memory"),
			}},
			want: "0/5 nodes are available: 1 node(s) had untolerated taint(s), 4 Insufficient memory.",
		},
		{
			name: "a node with two reasons counts in both",
			err:  &FitError{NumAllNodes: 2, Statuses: map[string]*Status{"a": insufficient("Insufficient cpu", "Insufficient memory"), "b": insufficient("Insufficient cpu")}},
			want: "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
		},
		{
			name: "with preemption",
			err: &FitError{NumAllNodes: 3, Absent: insufficient("Insufficient cpu"),
				PostFilterMsg: "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."},
			want: "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
		},
		{
			name: "prefilter",
			err:  &FitError{NumAllNodes: 4, PreFilterMsg: `persistentvolumeclaim "data" not found`, Absent: NewStatus(VolumeBinding, UnschedulableAndUnresolvable, "x")},
			want: `0/4 nodes are available: persistentvolumeclaim "data" not found.`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
