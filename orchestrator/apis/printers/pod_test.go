package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Container states, for building pod statuses.
func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, exitCode int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode}}
}

// lastTerminated is a last state: terminated d ago.
func lastTerminated(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: ago(d)}}
}

func status(name string, state corev1.ContainerState, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: state, Ready: ready}
}

func containers(names ...string) []corev1.Container {
	var cs []corev1.Container
	for _, n := range names {
		cs = append(cs, corev1.Container{Name: n, Image: n + ":1"})
	}
	return cs
}

func condition(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

func TestPodCells(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	started := true
	deleted := ago(time.Second)

	tests := []struct {
		name string
		pod  corev1.Pod
		want []any // READY, STATUS, RESTARTS
	}{
		{
			name: "pending, no statuses yet",
			pod:  corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			want: []any{"0/1", "Pending", "0"},
		},
		{
			name: "container creating",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase:             corev1.PodPending,
				ContainerStatuses: []corev1.ContainerStatus{status("app", waiting("ContainerCreating"), false)},
			}},
			want: []any{"0/1", "ContainerCreating", "0"},
		},
		{
			name: "running and ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app", "sidecar")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{
					status("app", running(), true), status("sidecar", running(), false),
				},
			}},
			want: []any{"1/2", "Running", "0"},
		},
		{
			name: "crash loop back-off with 3 restarts",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{{
					Name: "app", State: waiting("CrashLoopBackOff"), RestartCount: 3, LastTerminationState: lastTerminated(5 * time.Minute),
				}},
			}},
			want: []any{"0/1", "CrashLoopBackOff", "3 (5m ago)"},
		},
		{
			name: "restarts without a last termination have no age",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase:             corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running(), Ready: true, RestartCount: 2}},
			}},
			want: []any{"1/1", "Running", "2"},
		},
		{
			name: "completed",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase:             corev1.PodSucceeded,
				ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("Completed", 0), false)},
			}},
			want: []any{"0/1", "Completed", "0"},
		},
		{
			name: "error",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase:             corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("Error", 1), false)},
			}},
			want: []any{"0/1", "Error", "0"},
		},
		{
			name: "a failed container outweighs a completed one listed before it",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "z")}, Status: corev1.PodStatus{
				Phase: corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{
					status("a", terminated("Completed", 0), false), status("z", terminated("Error", 1), false),
				},
			}},
			want: []any{"0/2", "Error", "0"},
		},
		{
			name: "terminated without a reason shows the signal or exit code",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
				Phase: corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9, ExitCode: 137}}},
					status("b", terminated("", 2), false),
				},
			}},
			want: []any{"0/2", "Signal:9", "0"},
		},
		{
			name: "completed container next to a running one",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("job", "app")}, Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				Conditions: []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue)},
				ContainerStatuses: []corev1.ContainerStatus{
					status("job", terminated("Completed", 0), false), status("app", running(), true),
				},
			}},
			want: []any{"1/2", "Running", "0"},
		},
		{
			name: "completed container next to a running one, pod not ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("job", "app")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{
					status("job", terminated("Completed", 0), false), status("app", running(), true),
				},
			}},
			want: []any{"1/2", "NotReady", "0"},
		},
		{
			name: "second of three init containers running",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1", "i2", "i3"), Containers: containers("app")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					status("i1", terminated("Completed", 0), false), status("i2", running(), false), status("i3", waiting("PodInitializing"), false),
				},
				ContainerStatuses: []corev1.ContainerStatus{status("app", waiting("PodInitializing"), false)},
			}},
			want: []any{"0/1", "Init:1/3", "0"},
		},
		{
			name: "init container crash-looping counts its restarts",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("app")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{{
					Name: "init", State: waiting("CrashLoopBackOff"), RestartCount: 4, LastTerminationState: lastTerminated(30 * time.Second),
				}},
			}},
			want: []any{"0/1", "Init:CrashLoopBackOff", "4 (30s ago)"},
		},
		{
			name: "init container failed",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("app")}, Status: corev1.PodStatus{
				Phase:                 corev1.PodFailed,
				InitContainerStatuses: []corev1.ContainerStatus{status("init", terminated("", 3), false)},
			}},
			want: []any{"0/1", "Init:ExitCode:3", "0"},
		},
		{
			name: "started sidecar counts as ready and total",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always}},
					Containers:     containers("app"),
				},
				Status: corev1.PodStatus{
					Phase:      corev1.PodRunning,
					Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
					InitContainerStatuses: []corev1.ContainerStatus{{
						Name: "proxy", State: running(), Ready: true, Started: &started, RestartCount: 1, LastTerminationState: lastTerminated(time.Hour),
					}},
					ContainerStatuses: []corev1.ContainerStatus{status("app", running(), true)},
				},
			},
			want: []any{"2/2", "Running", "1 (60m ago)"},
		},
		{
			name: "scheduling gated",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase:      corev1.PodPending,
				Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}},
			}},
			want: []any{"0/1", "SchedulingGated", "0"},
		},
		{
			name: "status reason replaces the phase",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase: corev1.PodFailed, Reason: "Evicted",
			}},
			want: []any{"0/1", "Evicted", "0"},
		},
		{
			name: "node lost, not yet deleted",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("app")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, Reason: nodeLostReason,
			}},
			want: []any{"0/1", "NodeLost", "0"},
		},
		{
			name: "node lost and deleted",
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted},
				Spec:       corev1.PodSpec{Containers: containers("app")},
				Status:     corev1.PodStatus{Phase: corev1.PodRunning, Reason: nodeLostReason},
			},
			want: []any{"0/1", "Unknown", "0"},
		},
		{
			name: "terminating",
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted},
				Spec:       corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{
					Phase:             corev1.PodRunning,
					ContainerStatuses: []corev1.ContainerStatus{status("app", running(), true)},
				},
			},
			want: []any{"1/1", "Terminating", "0"},
		},
		{
			name: "a deleted pod that finished keeps its status",
			pod: corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleted},
				Spec:       corev1.PodSpec{Containers: containers("app")},
				Status: corev1.PodStatus{
					Phase:             corev1.PodSucceeded,
					ContainerStatuses: []corev1.ContainerStatus{status("app", terminated("Completed", 0), false)},
				},
			},
			want: []any{"0/1", "Completed", "0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.pod.Name = "p"
			tt.pod.CreationTimestamp = ago(10 * time.Minute)
			table := convert(t, gr("", "pods"), &tt.pod, nil)
			cells := table.Rows[0].Cells
			assertCells(t, cells[:5], append(append([]any{"p"}, tt.want...), "10m"))
		})
	}
}

func TestPodWideCells(t *testing.T) {
	tests := []struct {
		name string
		pod  corev1.Pod
		want []any // IP, NODE, NOMINATED NODE, READINESS GATES
	}{
		{
			name: "unscheduled",
			pod:  corev1.Pod{},
			want: []any{"<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "scheduled with readiness gates",
			pod: corev1.Pod{
				Spec: corev1.PodSpec{NodeName: "n1", ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "a"}, {ConditionType: "b"}}},
				Status: corev1.PodStatus{
					PodIP:             "10.0.0.5",
					PodIPs:            []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}},
					NominatedNodeName: "n2",
					Conditions:        []corev1.PodCondition{condition("a", corev1.ConditionTrue), condition("b", corev1.ConditionFalse)},
				},
			},
			want: []any{"10.0.0.5", "n1", "n2", "1/2"},
		},
		{
			name: "pod IPs without pod IP",
			pod:  corev1.Pod{Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "fd00::7"}}}},
			want: []any{"fd00::7", "<none>", "<none>", "<none>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, gr("", "pods"), &tt.pod, nil)
			assertCells(t, table.Rows[0].Cells[5:], tt.want)
		})
	}
}

func TestPodRowConditions(t *testing.T) {
	for phase, want := range map[corev1.PodPhase]string{corev1.PodSucceeded: "Succeeded", corev1.PodFailed: "Failed", corev1.PodRunning: ""} {
		table := convert(t, gr("", "pods"), &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}, nil)
		conds := table.Rows[0].Conditions
		switch {
		case want == "" && len(conds) != 0:
			t.Errorf("%s: got conditions %+v, want none", phase, conds)
		case want != "" && (len(conds) != 1 || conds[0].Type != metav1.RowCompleted || conds[0].Reason != want):
			t.Errorf("%s: got conditions %+v, want Completed/%s", phase, conds, want)
		}
	}
}
