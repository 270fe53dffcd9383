package endpoints

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

var server *apiservertest.Server

func TestMain(m *testing.M) {
	os.Exit(apiservertest.Main(m, func(s *apiservertest.Server) error { server = s; return nil }))
}

// TestAgainstAPIServer runs the controller against the real API: a Service's
// Endpoints and slices follow its pods as a node would report them.
func TestAgainstAPIServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := server.Client
	const ns = "endpoints-it"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	events := record.NewBroadcaster(record.WithContext(ctx))
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer events.Shutdown()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "endpoint-controller"}), WithMaxEndpointsPerSlice(2))
	factory.Start(ctx.Done())
	go c.Run(ctx, 2)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ep-node"}}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A Service without pods has an empty Endpoints object and a placeholder slice.
	waitFor(t, "empty endpoints", func() (bool, error) {
		ep, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && len(ep.Subsets) == 0, nil
	})

	// Pods come up as a node reports them: an address, then Ready.
	for i := 0; i < 3; i++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: ns, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: "ep-node", Containers: []corev1.Container{{Name: "app", Image: "busybox",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}
		created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		setStatus(t, ctx, created, fmt.Sprintf("10.42.0.%d", i+2), i != 2)
	}
	waitFor(t, "two ready addresses and one not ready", func() (bool, error) {
		ep, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || len(ep.Subsets) != 1 {
			return false, nil
		}
		s := ep.Subsets[0]
		return len(s.Addresses) == 2 && len(s.NotReadyAddresses) == 1 && s.Ports[0].Port == 8080, nil
	})
	waitFor(t, "three endpoints in two slices of at most two", func() (bool, error) {
		counts, err := sliceCounts(ctx, ns)
		return err == nil && counts.slices == 2 && counts.endpoints == 3 && counts.ready == 2, nil
	})

	// Deleting a pod from a node is graceful: it is terminating, out of
	// Endpoints at once and still in its slice, marked terminating.
	if err := client.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the terminating pod out of Endpoints", func() (bool, error) {
		ep, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1, nil
	})
	waitFor(t, "the terminating pod terminating in its slice", func() (bool, error) {
		counts, err := sliceCounts(ctx, ns)
		return err == nil && counts.endpoints == 3 && counts.terminating == 1, nil
	})

	// Deleting the Service deletes what was written for it.
	if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "endpoints and slices gone", func() (bool, error) {
		_, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
		counts, err2 := sliceCounts(ctx, ns)
		return err != nil && err2 == nil && counts.slices == 0, nil
	})

	// The API server's own Service is never touched.
	ep, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err == nil && ep.Annotations[corev1.EndpointsLastChangeTriggerTime] != "" {
		t.Fatal("the kubernetes Service's endpoints were rewritten")
	}
}

type counts struct{ slices, endpoints, ready, terminating int }

func sliceCounts(ctx context.Context, ns string) (counts, error) {
	list, err := server.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		return counts{}, err
	}
	var c counts
	for _, s := range list.Items {
		c.slices++
		for _, ep := range s.Endpoints {
			c.endpoints++
			if *ep.Conditions.Ready {
				c.ready++
			}
			if *ep.Conditions.Terminating {
				c.terminating++
			}
		}
	}
	return c, nil
}

// setStatus reports a pod Running with an address, Ready or not, as its node would.
func setStatus(t *testing.T, ctx context.Context, pod *corev1.Pod, ip string, ready bool) {
	t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod = pod.DeepCopy()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, QOSClass: pod.Status.QOSClass,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}}
	if _, err := server.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
