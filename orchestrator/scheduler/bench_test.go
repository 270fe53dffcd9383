package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/scheduler/plugins"
)

// nopAPI answers every call at once, so that benchmarks time the scheduler.
type nopAPI struct{}

func (nopAPI) bind(context.Context, *corev1.Pod, string) error             { return nil }
func (nopAPI) setUnschedulable(context.Context, *corev1.Pod, string) error { return nil }
func (nopAPI) nominate(context.Context, *corev1.Pod, string) error         { return nil }
func (nopAPI) deletePod(context.Context, *corev1.Pod) error                { return nil }

func benchNode(i int) *corev1.Node {
	name := fmt.Sprintf("node-%d", i)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelHostname: name, corev1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%3),
		}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("4"),
				corev1.ResourceMemory: resource.MustParse("32Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// benchPod is upstream scheduler_perf's default pod: 100m cpu, 500Mi memory.
func benchPod(i int, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("pod-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i))},
		Spec: corev1.PodSpec{
			NodeName:      node,
			SchedulerName: DefaultSchedulerName,
			Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("100m"),
				corev1.ResourceMemory: resource.MustParse("500Mi"),
			}}}},
		},
	}
}

// BenchmarkScheduleOne schedules 10,000 pods onto 5,000 nodes already
// running 1,000 pods, in memory, as upstream's SchedulingBasic 5000Nodes
// case does against an API server.
func BenchmarkScheduleOne(b *testing.B) {
	benchmarkSchedule(b, func(int, *corev1.Pod) {})
}

// BenchmarkScheduleOneReplicaSet is the same with every pod owned by one
// ReplicaSet, so that the default topology spread (by host and zone) scores
// every node, as for pods of a Deployment.
func BenchmarkScheduleOneReplicaSet(b *testing.B) {
	benchmarkSchedule(b, func(i int, p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs-uid", Controller: ptr.To(true)}}
	})
}

// BenchmarkScheduleOneAntiAffinity is the same with pods in 100 groups that
// must not share a node (required anti-affinity by hostname).
func BenchmarkScheduleOneAntiAffinity(b *testing.B) {
	benchmarkSchedule(b, func(i int, p *corev1.Pod) {
		group := fmt.Sprintf("g%d", i%100)
		p.Labels = map[string]string{"group": group}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}},
				TopologyKey:   corev1.LabelHostname,
			}},
		}}
	})
}

func benchmarkSchedule(b *testing.B, customize func(i int, p *corev1.Pod)) {
	const nodes, initPods, pods = 5000, 1000, 10000
	ctx := context.Background()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		s := newScheduler(nopAPI{}, &record.FakeRecorder{}, Config{}, &plugins.Plugins{})
		for i := range nodes {
			s.cache.AddNode(benchNode(i))
		}
		for i := range initPods {
			s.cache.SetPod(benchPod(pods+i, fmt.Sprintf("node-%d", i%nodes)))
		}
		for i := range pods {
			p := benchPod(i, "")
			customize(i, p)
			s.queue.Add(p)
		}
		s.cache.UpdateSnapshot(s.snapshot)
		b.StartTimer()
		start := time.Now()
		for range pods {
			s.scheduleOne(ctx)
		}
		s.inflight.Wait()
		total += time.Since(start)
		b.StopTimer()
		if a, bo, u := s.queue.Len(); a+bo+u != 0 {
			b.Fatalf("%d pods left unscheduled", a+bo+u)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(pods*b.N)/total.Seconds(), "pods/s")
}
