package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/controller/rootcacert"
)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestInformersSeeChanges(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)

	factory := informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithNamespace(ns))
	events := make(chan string, 100)
	factory.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.FilteringResourceEventHandler{
		// Every namespace also gets the cluster CA, from a controller.
		FilterFunc: func(obj any) bool { return obj.(*corev1.ConfigMap).Name != rootcacert.Name },
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { events <- "add " + obj.(*corev1.ConfigMap).Name },
			UpdateFunc: func(_, obj any) { events <- "update " + obj.(*corev1.ConfigMap).Data["k"] },
			DeleteFunc: func(obj any) { events <- "delete " + obj.(*corev1.ConfigMap).Name },
		},
	})
	c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "existing"}}, metav1.CreateOptions{})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer cancel() // stops the informers, which Shutdown waits for
	if !cache.WaitForCacheSync(ctx.Done(), factory.Core().V1().ConfigMaps().Informer().HasSynced) {
		t.Fatal("informer did not sync")
	}
	expect := func(want string) {
		t.Helper()
		select {
		case got := <-events:
			if got != want {
				t.Fatalf("informer event %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no informer event, want %q", want)
		}
	}
	expect("add existing")
	cm, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect("add new")
	cm.Data = map[string]string{"k": "v2"}
	if _, err := c.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("update v2")
	if err := c.client.CoreV1().ConfigMaps(ns).Delete(ctx, "new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("delete new")
}

func TestOptimisticConcurrency(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	cms := c.client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := cm.DeepCopy()
	first.Data = map[string]string{"who": "first"}
	if _, err := cms.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale := cm.DeepCopy()
	stale.Data = map[string]string{"who": "stale"}
	_, err = cms.Update(ctx, stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "the object has been modified; please apply your changes to the latest version and try again") {
		t.Fatalf("stale update: %v, want 409 Conflict", err)
	}
	got, _ := cms.Get(ctx, "cm", metav1.GetOptions{})
	if got.Data["who"] != "first" {
		t.Fatalf("stale update changed the object: %v", got.Data)
	}
	// Secrets, as Helm writes its release records, may be updated unconditionally.
	secrets := c.client.CoreV1().Secrets(ns)
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Update(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"a": "b"}}, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update without resourceVersion: %v", err)
	}
}

func TestWatchResumes(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	cms := c.client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	from := cm.ResourceVersion
	cm.Data = map[string]string{"k": "v"}
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A watch from the first version replays what followed it, in order.
	// Not the cluster CA, which a controller publishes into every namespace.
	notCA := "metadata.name!=" + rootcacert.Name
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: from, FieldSelector: notCA})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for len(got) < 2 {
		select {
		case ev := <-w.ResultChan():
			got = append(got, fmt.Sprintf("%s %s", ev.Type, ev.Object.(*corev1.ConfigMap).Data["k"]))
		case <-time.After(10 * time.Second):
			t.Fatalf("watch replayed %v, want two events", got)
		}
	}
	if want := []string{"MODIFIED v", "DELETED v"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("replayed %v, want %v", got, want)
	}

	// A watch that asks for the initial state (as client-go's reflectors do by
	// default) gets it as ADDED events, then a bookmark that marks its end.
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "present"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	iw, err := cms.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr.To(true), AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, FieldSelector: notCA})
	if err != nil {
		t.Fatal(err)
	}
	defer iw.Stop()
	var initial []string
	for done := false; !done; {
		select {
		case ev := <-iw.ResultChan():
			m, _ := meta.Accessor(ev.Object)
			initial = append(initial, fmt.Sprintf("%s %s", ev.Type, m.GetName()))
			done = ev.Type == watch.Bookmark && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true"
		case <-time.After(10 * time.Second):
			t.Fatalf("initial events %v without the closing bookmark", initial)
		}
	}
	if want := "ADDED present,BOOKMARK "; strings.Join(initial, ",") != want {
		t.Fatalf("initial events %v, want %q", initial, want)
	}
}

func TestListPagination(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	for i := 0; i < 7; i++ {
		if _, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "page-"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	opts := metav1.ListOptions{Limit: 3, LabelSelector: ""}
	pages := 0
	for {
		list, err := c.client.CoreV1().ConfigMaps(ns).List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if list.ResourceVersion == "" {
			t.Fatal("list has no resourceVersion")
		}
		for _, cm := range list.Items {
			if !strings.HasPrefix(cm.Name, "page-") || len(cm.Name) != len("page-")+5 {
				continue
			}
			seen[cm.Name] = true
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if len(seen) != 7 || pages < 3 {
		t.Fatalf("saw %d generated names over %d pages, want 7 over at least 3", len(seen), pages)
	}
}

func TestGenerationAndDefaults(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}
	created, err := c.client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Generation != 1 || created.UID == "" || created.CreationTimestamp.IsZero() {
		t.Fatalf("generation %d uid %q created %v", created.Generation, created.UID, created.CreationTimestamp)
	}
	if *created.Spec.Replicas != 1 || created.Spec.Template.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways ||
		*created.Spec.ProgressDeadlineSeconds != 600 {
		t.Fatalf("defaults: replicas %d pull %s deadline %d", *created.Spec.Replicas, created.Spec.Template.Spec.Containers[0].ImagePullPolicy, *created.Spec.ProgressDeadlineSeconds)
	}
	// A status-only or label-only change keeps the generation; a spec change
	// bumps it. The deployment controller writes status meanwhile: each
	// update is made on the latest object.
	update := func(change func(*appsv1.Deployment)) *appsv1.Deployment {
		t.Helper()
		var out *appsv1.Deployment
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			change(cur)
			out, err = c.client.AppsV1().Deployments(ns).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	labelled := update(func(d *appsv1.Deployment) { d.Labels = map[string]string{"x": "y"} })
	if labelled.Generation != 1 {
		t.Fatalf("generation after a label change = %d, want 1", labelled.Generation)
	}
	scaled := update(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) })
	if scaled.Generation != 2 {
		t.Fatalf("generation after a spec change = %d, want 2", scaled.Generation)
	}
	// Status written to the main resource is ignored; the status subresource
	// takes it. The deployment controller writes status too: 7 replicas is a
	// figure only this test writes (the Deployment wants 3), and a conflict
	// with the controller is retried from the latest version.
	writeSeven := func(write func(*appsv1.Deployment) (*appsv1.Deployment, error)) *appsv1.Deployment {
		t.Helper()
		var written *appsv1.Deployment
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			latest, err := c.client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			latest.Status.Replicas = 7
			written, err = write(latest)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return written
	}
	deployments := c.client.AppsV1().Deployments(ns)
	if d := writeSeven(func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
		return deployments.Update(ctx, d, metav1.UpdateOptions{})
	}); d.Status.Replicas == 7 {
		t.Fatal("the main resource wrote status.replicas")
	}
	if d := writeSeven(func(d *appsv1.Deployment) (*appsv1.Deployment, error) {
		return deployments.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	}); d.Status.Replicas != 7 {
		t.Fatalf("the status subresource wrote status.replicas = %d, want 7", d.Status.Replicas)
	}
}

func TestValidationErrors(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	cases := []struct {
		name   string
		create func() error
		want   string
	}{
		{
			name: "bad name",
			create: func() error {
				_, err := c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{})
				return err
			},
			want: `ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of`,
		},
		{
			name: "missing image",
			create: func() error {
				_, err := c.client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}, metav1.CreateOptions{})
				return err
			},
			want: `Pod "p" is invalid: spec.containers[0].image: Required value`,
		},
		{
			name: "selector does not match template",
			create: func() error {
				_, err := c.client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"},
					Spec: appsv1.DeploymentSpec{
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "b"}},
							Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
					}}, metav1.CreateOptions{})
				return err
			},
			want: "spec.template.metadata.labels: Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`",
		},
		{
			name: "missing namespace",
			create: func() error {
				_, err := c.client.CoreV1().ConfigMaps("no-such-namespace").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
				return err
			},
			want: `namespaces "no-such-namespace" not found`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.create()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}

	// Immutable fields: a Deployment's selector cannot change.
	_, err := c.client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "fixed"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a", "v": "1"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}},
		}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// On the latest Deployment: the deployment controller writes its status
	// meanwhile.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.client.AppsV1().Deployments(ns).Get(ctx, "fixed", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Selector.MatchLabels["v"] = "1"
		_, err = c.client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "field is immutable") {
		t.Fatalf("selector change: %v", err)
	}

	// An unknown kind is a 404.
	err = c.client.CoreV1().RESTClient().Get().AbsPath("/apis/nope.example.com/v1/things").Do(ctx).Error()
	if !apierrors.IsNotFound(err) {
		t.Fatalf("unknown resource: %v", err)
	}
}

func TestServiceAllocation(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	svcs := c.client.CoreV1().Services(ns)
	port := func(nodePort int32) []corev1.ServicePort {
		return []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: nodePort}}
	}
	a, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: port(0)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.Spec.ClusterIP, "10.43.") || a.Spec.ClusterIP == "10.43.0.1" || a.Spec.Ports[0].NodePort < 30000 || a.Spec.Ports[0].NodePort > 32767 {
		t.Fatalf("allocated %s and %d", a.Spec.ClusterIP, a.Spec.Ports[0].NodePort)
	}
	taken := []struct {
		name string
		spec corev1.ServiceSpec
		want string
	}{
		{"cluster IP taken", corev1.ServiceSpec{ClusterIP: a.Spec.ClusterIP, Ports: port(0)},
			fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", a.Spec.ClusterIP)},
		{"cluster IP out of range", corev1.ServiceSpec{ClusterIP: "10.99.0.1", Ports: port(0)},
			"failed to allocate IP 10.99.0.1: the provided IP (10.99.0.1) is not in the valid range. The range of valid IPs is 10.43.0.0/16"},
		{"node port taken", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: port(a.Spec.Ports[0].NodePort)},
			"provided port is already allocated"},
		{"node port out of range", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: port(20000)},
			"provided port is not in the valid range. The range of valid ports is 30000-32767"},
	}
	for _, tc := range taken {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: tc.spec}, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// An update that leaves the allocations out keeps them.
	a.Spec.ClusterIP, a.Spec.ClusterIPs, a.Spec.Ports = "", nil, port(0)
	updated, err := svcs.Update(ctx, a, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := svcs.Get(ctx, "a", metav1.GetOptions{})
	if err != nil || updated.Spec.ClusterIP != kept.Spec.ClusterIP || kept.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("update lost allocations: %v %+v", err, kept.Spec)
	}
	// Deleting releases them: the same values can be asked for again.
	ip, nodePort := kept.Spec.ClusterIP, kept.Spec.Ports[0].NodePort
	if err := svcs.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "again"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: ip, Ports: port(nodePort)}}, metav1.CreateOptions{})
	if err != nil || again.Spec.ClusterIP != ip || again.Spec.Ports[0].NodePort != nodePort {
		t.Fatalf("re-using released values: %v", err)
	}
}

func TestEventsMerge(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	pod := &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p", UID: types.UID("uid-1"), APIVersion: "v1"}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "test"})
	for i := 0; i < 3; i++ {
		recorder.Event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container")
	}
	waitFor(t, 15*time.Second, func() bool {
		list, err := c.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=p,reason=BackOff"})
		return err == nil && len(list.Items) == 1 && list.Items[0].Count == 3 &&
			!list.Items[0].FirstTimestamp.IsZero() && !list.Items[0].LastTimestamp.IsZero()
	})
}

func TestPodDeletion(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	pods := c.client.CoreV1().Pods(ns)
	newPod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	}
	// A pod bound to a node waits for the node to confirm it stopped.
	if _, err := pods.Create(ctx, newPod("bound"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bound, _ := pods.Get(ctx, "bound", metav1.GetOptions{})
	if bound.Spec.NodeName != "node-a" || len(bound.Status.Conditions) == 0 || bound.Status.Conditions[0].Type != corev1.PodScheduled {
		t.Fatalf("binding: node %q conditions %v", bound.Spec.NodeName, bound.Status.Conditions)
	}
	// Field selectors on the fields nodes and controllers select pods by.
	if got := c.kubectl(t, "get", "pods", "-n", ns, "--field-selector", "spec.nodeName=node-a,status.phase=Pending", "-o", "name"); got != "pod/bound\n" {
		t.Fatalf("pods on node-a: %q", got)
	}
	if got := c.kubectl(t, "get", "pods", "-n", ns, "--field-selector", "spec.nodeName=node-b", "-o", "name"); got != "" {
		t.Fatalf("pods on node-b: %q", got)
	}
	// Lists of a node's pods (every kubelet's) are answered from the watch
	// cache's index of pods by node, not by testing every pod.
	if _, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a", ResourceVersion: "0"}); err != nil {
		t.Fatal(err)
	}
	metrics, err := c.client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if byIndex := regexp.MustCompile(`(?m)^apiserver_storage_list_total\{group="",index="f:spec.nodeName",resource="pods",storage="watchcache"\} [1-9]`); !byIndex.Match(metrics) {
		t.Error("no list of pods by node was answered from the watch cache's index")
	}
	err = pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-b"}}, metav1.CreateOptions{})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `pod bound is already assigned to node "node-a"`) {
		t.Fatalf("second binding: %v", err)
	}
	if err := pods.Delete(ctx, "bound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	terminating, err := pods.Get(ctx, "bound", metav1.GetOptions{})
	if err != nil || terminating.DeletionTimestamp == nil || *terminating.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("graceful delete: %v %+v", err, terminating.ObjectMeta)
	}
	if out := c.kubectl(t, "get", "pod", "bound", "-n", ns); !strings.Contains(out, "Terminating") {
		t.Fatalf("kubectl get shows:\n%s", out)
	}
	// --grace-period=0 --force removes it at once.
	c.kubectl(t, "delete", "pod", "bound", "-n", ns, "--grace-period=0", "--force")
	if _, err := pods.Get(ctx, "bound", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("forced delete left the pod: %v", err)
	}
	// A pod that never reached a node goes at once.
	if _, err := pods.Create(ctx, newPod("pending"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "pending", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "pending", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unscheduled pod survived delete: %v", err)
	}
}

func TestFinalizers(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	ctx := ctxFor(t)
	cms := c.client.CoreV1().ConfigMaps(ns)
	owner, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: owner.UID}
	held, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held",
		Finalizers: []string{"example.com/hold"}, OwnerReferences: []metav1.OwnerReference{ref}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(held.OwnerReferences) != 1 || held.OwnerReferences[0].UID != owner.UID {
		t.Fatalf("ownerReferences not kept: %v", held.OwnerReferences)
	}
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	marked, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil || marked.DeletionTimestamp == nil {
		t.Fatalf("delete with a finalizer: %v %v", err, marked)
	}
	marked.Finalizers = nil
	if _, err := cms.Update(ctx, marked, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("removing the last finalizer did not delete: %v", err)
	}
}

// TestStore checks which etcd the shared cluster runs on: the embedded one keeps
// its data under the data directory, an external one leaves none there.
func TestStore(t *testing.T) {
	c := sharedCluster.get(t)
	_, err := os.Stat(filepath.Join(c.dir, "etcd", "member"))
	external := os.Getenv(externalEtcdEnv) == "1"
	if external != os.IsNotExist(err) {
		t.Fatalf("external etcd %v, embedded data directory: %v", external, err)
	}
	if external && c.etcd == nil {
		t.Fatal("external etcd mode without an etcd process")
	}
}
