package podautoscaler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
	"berth.dev/berth/orchestrator/controller/podautoscaler"
)

// TestAutoscalesADeployment runs the controller against a real API server the
// way the berth server wires it: usage reported into the server's metrics
// store, read back through metrics.k8s.io, the Deployment scaled through its
// scale subresource by the generic scale client, events written to the API.
func TestAutoscalesADeployment(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := apiservertest.Start(t)
	client := s.Client
	const ns = "default"
	labels := map[string]string{"app": "web"}
	container := corev1.Container{Name: "main", Image: "busybox", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: new(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{container}}}},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, deployment, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No deployment controller runs here: the pods are made by hand, running
	// and ready, each using 90m of the 100m it requests.
	now := time.Now()
	var usage []metricsv1beta1.PodMetrics
	for i := 0; i < 2; i++ {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("web-%d", i), Labels: labels},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{container}}}
		pod, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		started := metav1.NewTime(now.Add(-time.Minute))
		pod.Status.Phase, pod.Status.StartTime = corev1.PodRunning, &started
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}}
		if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		usage = append(usage, metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod.Name},
			Timestamp: metav1.NewTime(now), Window: metav1.Duration{Duration: 10 * time.Second},
			Containers: []metricsv1beta1.ContainerMetrics{{Name: "main", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("90m")}}}})
	}
	s.Metrics.Report(metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Timestamp: metav1.NewTime(now)}, usage)

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(50))}}}},
		},
	}
	if _, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	scales, mapper, err := podautoscaler.NewScaleClient(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	m, err := metricsclient.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer events.Shutdown()
	recorder := events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "horizontal-pod-autoscaler"})
	factory := informers.NewSharedInformerFactory(client, 0)
	ctl := podautoscaler.New(client, factory, recorder, podautoscaler.APIMetrics{Client: m}, scales, mapper,
		podautoscaler.WithSyncPeriod(200*time.Millisecond), podautoscaler.WithCPUInitializationPeriod(0))
	factory.Start(ctx.Done())
	go ctl.Run(ctx, 1)

	// 2 pods at 90% against 50%: ceil(2 * 1.8) = 4.
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err == nil && *d.Spec.Replicas == 4 {
			break
		}
		if time.Now().After(deadline) {
			got, _ := client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
			t.Fatalf("the deployment was not scaled to 4: %v; autoscaler status %+v", err, got.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		got, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := got.Status
		if st.DesiredReplicas == 4 && len(st.CurrentMetrics) == 1 && *st.CurrentMetrics[0].Resource.Current.AverageUtilization == 90 && st.LastScaleTime != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("autoscaler status: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=HorizontalPodAutoscaler"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Reason == "SuccessfulRescale" && e.Source.Component == "horizontal-pod-autoscaler" &&
				e.Message == "New size: 4; reason: cpu resource utilization (percentage of request) above target" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SuccessfulRescale event among %+v", list.Items)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
