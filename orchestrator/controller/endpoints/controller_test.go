package endpoints

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

const ns = "shop"

var created = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

type podOpt func(*corev1.Pod)

func newPod(name, ip string, opts ...podOpt) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}, ResourceVersion: "1"},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: created}}},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	now := metav1.Now()
	p.DeletionTimestamp = &now
}
func port(n int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
}

type svcOpt func(*corev1.Service)

func newService(name string, opts ...svcOpt) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), CreationTimestamp: created, Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.43.0.10",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	c        *Controller
	recorder *record.FakeRecorder
	factory  informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	names := 0
	// The fake API does not generate names.
	client.PrependReactor("create", "endpointslices", func(a core.Action) (bool, runtime.Object, error) {
		s := a.(core.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		if s.Name == "" {
			names++
			s.Name = fmt.Sprintf("%s%d", s.GenerateName, names)
			s.UID = types.UID(s.Name)
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(100)
	c := New(client, f, recorder, WithBatchPeriod(0))
	t.Cleanup(c.queue.ShutDown)
	fx := &fixture{t: t, client: client, c: c, recorder: recorder, factory: f}
	for _, obj := range objs {
		fx.cache(obj)
	}
	client.ClearActions()
	return fx
}

// cache puts an object in the informer caches only.
func (fx *fixture) cache(obj runtime.Object) {
	f := fx.factory
	var err error
	switch o := obj.(type) {
	case *corev1.Service:
		err = f.Core().V1().Services().Informer().GetIndexer().Add(o)
	case *corev1.Pod:
		err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
	case *corev1.Node:
		err = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
	case *corev1.Endpoints:
		err = f.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
	case *discoveryv1.EndpointSlice:
		err = f.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(o)
	default:
		fx.t.Fatalf("unexpected %T", obj)
	}
	if err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) sync(key string) error {
	fx.t.Helper()
	return fx.c.sync(context.Background(), key)
}

// catchUp copies what the fake API holds into the caches, as informers would.
func (fx *fixture) catchUp() {
	eps, _ := fx.client.CoreV1().Endpoints(ns).List(context.Background(), metav1.ListOptions{})
	for i := range eps.Items {
		fx.cache(&eps.Items[i])
	}
	indexer := fx.factory.Discovery().V1().EndpointSlices().Informer().GetIndexer()
	for _, obj := range indexer.List() {
		indexer.Delete(obj)
	}
	for _, s := range fx.apiSlices() {
		fx.cache(s)
	}
}

func (fx *fixture) endpoints(name string) *corev1.Endpoints {
	fx.t.Helper()
	ep, err := fx.client.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		fx.t.Fatalf("endpoints %s: %v", name, err)
	}
	return ep
}

func (fx *fixture) apiSlices() []*discoveryv1.EndpointSlice {
	list, err := fx.client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		fx.t.Fatal(err)
	}
	var out []*discoveryv1.EndpointSlice
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// writes are the verbs and resources of the recorded writes.
func (fx *fixture) writes() []string {
	var out []string
	for _, a := range fx.client.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" && a.GetVerb() != "get" {
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func addresses(addrs []corev1.EndpointAddress) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, a.IP)
	}
	return out
}

type sliceEndpoint struct {
	pod                         string
	ready, serving, terminating bool
}

func sliceEndpoints(s *discoveryv1.EndpointSlice) []sliceEndpoint {
	var out []sliceEndpoint
	for _, ep := range s.Endpoints {
		out = append(out, sliceEndpoint{ep.TargetRef.Name, *ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pod < out[j].pod })
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEndpoints(t *testing.T) {
	t.Run("ready pods are addresses and the others notReadyAddresses", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"), newPod("b", "10.1.0.3", notReady),
			newPod("other", "10.1.0.9", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} }))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		ep := fx.endpoints("web")
		if len(ep.Subsets) != 1 {
			t.Fatalf("subsets %+v", ep.Subsets)
		}
		s := ep.Subsets[0]
		if !equal(addresses(s.Addresses), []string{"10.1.0.2"}) || !equal(addresses(s.NotReadyAddresses), []string{"10.1.0.3"}) {
			t.Fatalf("addresses %v, not ready %v", addresses(s.Addresses), addresses(s.NotReadyAddresses))
		}
		if len(s.Ports) != 1 || s.Ports[0].Port != 8080 || s.Ports[0].Name != "web" {
			t.Fatalf("ports %+v", s.Ports)
		}
		a := s.Addresses[0]
		if a.TargetRef == nil || a.TargetRef.Name != "a" || a.TargetRef.Kind != "Pod" || a.NodeName == nil || *a.NodeName != "node-1" {
			t.Fatalf("address %+v", a)
		}
		if ep.Labels["tier"] != "front" {
			t.Fatalf("labels %v", ep.Labels)
		}
		if got := ep.Annotations[corev1.EndpointsLastChangeTriggerTime]; got != created.UTC().Format(time.RFC3339Nano) {
			t.Fatalf("trigger time %q", got)
		}
	})

	t.Run("a named targetPort resolves on each pod", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"), newPod("b", "10.1.0.3", port(9090)),
			newPod("c", "10.1.0.4", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "metrics" }))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		ep := fx.endpoints("web")
		got := map[int32][]string{}
		for _, s := range ep.Subsets {
			got[s.Ports[0].Port] = addresses(s.Addresses)
		}
		if len(got) != 2 || !equal(got[8080], []string{"10.1.0.2"}) || !equal(got[9090], []string{"10.1.0.3"}) {
			t.Fatalf("subsets by port %v", got)
		}
	})

	t.Run("publishNotReadyAddresses publishes pods that are not ready", func(t *testing.T) {
		fx := newFixture(t, newService("web", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			newPod("a", "10.1.0.2", notReady))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		if s := fx.endpoints("web").Subsets; len(s) != 1 || !equal(addresses(s[0].Addresses), []string{"10.1.0.2"}) {
			t.Fatalf("subsets %+v", s)
		}
		if got := sliceEndpoints(fx.apiSlices()[0]); !equal(got, []sliceEndpoint{{"a", true, false, false}}) {
			t.Fatalf("slice endpoints %+v", got)
		}
	})

	t.Run("a terminating pod leaves Endpoints and stays in slices as terminating", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"), newPod("b", "10.1.0.3", terminating))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		if s := fx.endpoints("web").Subsets; len(s) != 1 || !equal(addresses(s[0].Addresses), []string{"10.1.0.2"}) || len(s[0].NotReadyAddresses) != 0 {
			t.Fatalf("subsets %+v", s)
		}
		want := []sliceEndpoint{{"a", true, true, false}, {"b", false, true, true}}
		if got := sliceEndpoints(fx.apiSlices()[0]); !equal(got, want) {
			t.Fatalf("slice endpoints %+v, want %+v", got, want)
		}
	})

	t.Run("pods without an address or finished are left out", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", ""), newPod("b", "10.1.0.3", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		if s := fx.endpoints("web").Subsets; len(s) != 0 {
			t.Fatalf("subsets %+v", s)
		}
		if ss := fx.apiSlices(); len(ss) != 1 || len(ss[0].Endpoints) != 0 || len(ss[0].Ports) != 0 {
			t.Fatalf("want one empty placeholder slice, got %+v", ss)
		}
	})

	t.Run("a headless service without ports lists addresses and hostnames", func(t *testing.T) {
		fx := newFixture(t, newService("db", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil
		}), newPod("db-0", "10.1.0.2", func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" }))
		if err := fx.sync(ns + "/db"); err != nil {
			t.Fatal(err)
		}
		ep := fx.endpoints("db")
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Ports) != 0 || ep.Subsets[0].Addresses[0].Hostname != "db-0" {
			t.Fatalf("subsets %+v", ep.Subsets)
		}
		if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
			t.Fatalf("labels %v", ep.Labels)
		}
		s := fx.apiSlices()[0]
		if s.Endpoints[0].Hostname == nil || *s.Endpoints[0].Hostname != "db-0" {
			t.Fatalf("slice endpoint %+v", s.Endpoints[0])
		}
		if _, ok := s.Labels[corev1.IsHeadlessService]; !ok {
			t.Fatalf("slice labels %v", s.Labels)
		}
	})

	for _, tc := range []struct {
		name string
		svc  *corev1.Service
	}{
		{"a service without a selector is left alone", newService("manual", func(s *corev1.Service) { s.Spec.Selector = nil })},
		{"an ExternalName service is left alone", newService("ext", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName })},
		{"the kubernetes service is left alone", newService("kubernetes", func(s *corev1.Service) { s.Namespace = "default" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, tc.svc, newPod("a", "10.1.0.2"))
			if err := fx.sync(tc.svc.Namespace + "/" + tc.svc.Name); err != nil {
				t.Fatal(err)
			}
			if w := fx.writes(); len(w) != 0 {
				t.Fatalf("wrote %v", w)
			}
		})
	}

	t.Run("a sync that changes nothing writes nothing", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"), newPod("b", "10.1.0.3", notReady))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		fx.catchUp()
		fx.client.ClearActions()
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		if w := fx.writes(); len(w) != 0 {
			t.Fatalf("wrote %v", w)
		}
	})

	t.Run("a sync on a cache behind its own write waits", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		fx.client.ClearActions()
		if err := fx.sync(ns + "/web"); !errors.Is(err, errStale) {
			t.Fatalf("got %v, want a stale cache error", err)
		}
		if w := fx.writes(); len(w) != 0 {
			t.Fatalf("wrote %v", w)
		}
	})

	t.Run("a deleted service loses its endpoints and slices", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		fx.catchUp()
		fx.factory.Core().V1().Services().Informer().GetIndexer().Delete(newService("web"))
		fx.client.ClearActions()
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		want := []string{"delete endpoints", "delete endpointslices"}
		if w := fx.writes(); !equal(w, want) {
			t.Fatalf("wrote %v, want %v", w, want)
		}
	})
}

func TestSlices(t *testing.T) {
	t.Run("a slice is labelled, owned and holds ports and conditions", func(t *testing.T) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}}
		fx := newFixture(t, newService("web"), node, newPod("a", "10.1.0.2"), newPod("b", "10.1.0.3", notReady))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		ss := fx.apiSlices()
		if len(ss) != 1 {
			t.Fatalf("%d slices", len(ss))
		}
		s := ss[0]
		if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels["tier"] != "front" {
			t.Fatalf("labels %v", s.Labels)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "uid-web" || !*s.OwnerReferences[0].Controller {
			t.Fatalf("owners %+v", s.OwnerReferences)
		}
		if s.AddressType != discoveryv1.AddressTypeIPv4 || len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "web" {
			t.Fatalf("type %s ports %+v", s.AddressType, s.Ports)
		}
		want := []sliceEndpoint{{"a", true, true, false}, {"b", false, false, false}}
		if got := sliceEndpoints(s); !equal(got, want) {
			t.Fatalf("endpoints %+v, want %+v", got, want)
		}
		if ep := s.Endpoints[0]; ep.Zone == nil || *ep.Zone != "zone-a" || *ep.NodeName != "node-1" {
			t.Fatalf("endpoint %+v", ep)
		}
		if s.Annotations[corev1.EndpointsLastChangeTriggerTime] == "" {
			t.Fatal("no trigger time")
		}
	})

	t.Run("endpoints are split into slices of at most 100", func(t *testing.T) {
		objs := []runtime.Object{newService("web")}
		for i := 0; i < 250; i++ {
			objs = append(objs, newPod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.1.%d.%d", i/200, i%200+1)))
		}
		fx := newFixture(t, objs...)
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, s := range fx.apiSlices() {
			sizes = append(sizes, len(s.Endpoints))
		}
		sort.Ints(sizes)
		if !equal(sizes, []int{50, 100, 100}) {
			t.Fatalf("slice sizes %v", sizes)
		}
	})

	t.Run("a pod that goes away is removed from its slice in place", func(t *testing.T) {
		a, b := newPod("a", "10.1.0.2"), newPod("b", "10.1.0.3")
		fx := newFixture(t, newService("web"), a, b)
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		fx.catchUp()
		fx.factory.Core().V1().Pods().Informer().GetIndexer().Delete(b)
		fx.client.ClearActions()
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		if w := fx.writes(); !equal(w, []string{"update endpoints", "update endpointslices"}) {
			t.Fatalf("wrote %v", w)
		}
		if got := sliceEndpoints(fx.apiSlices()[0]); !equal(got, []sliceEndpoint{{"a", true, true, false}}) {
			t.Fatalf("endpoints %+v", got)
		}
	})

	t.Run("when ports change the old slice is reused", func(t *testing.T) {
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"))
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		fx.catchUp()
		fx.cache(newPod("a", "10.1.0.2", port(9090), func(p *corev1.Pod) { p.ResourceVersion = "2" }))
		fx.client.ClearActions()
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		if w := fx.writes(); !equal(w, []string{"update endpoints", "update endpointslices"}) {
			t.Fatalf("wrote %v", w)
		}
		if ss := fx.apiSlices(); len(ss) != 1 || *ss[0].Ports[0].Port != 9090 {
			t.Fatalf("slices %+v", ss)
		}
	})

	t.Run("a slice of another owner or address type is deleted", func(t *testing.T) {
		stray := newSlice(newService("web", func(s *corev1.Service) { s.UID = "old" }), discoveryv1.AddressTypeIPv4, nil, nil)
		stray.Name, stray.UID = "web-old", "web-old"
		v6 := newSlice(newService("web"), discoveryv1.AddressTypeIPv6, nil, nil)
		v6.Name, v6.UID = "web-v6", "web-v6"
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"), stray, v6)
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		ss := fx.apiSlices()
		if len(ss) != 1 || ss[0].AddressType != discoveryv1.AddressTypeIPv4 || ss[0].OwnerReferences[0].UID != "uid-web" {
			t.Fatalf("slices %+v", ss)
		}
	})

	t.Run("slices of other managers are left alone", func(t *testing.T) {
		mirror := newSlice(newService("web"), discoveryv1.AddressTypeIPv4, nil, nil)
		mirror.Name, mirror.UID = "web-mirror", "web-mirror"
		mirror.Labels[discoveryv1.LabelManagedBy] = "someone-else"
		fx := newFixture(t, newService("web"), newPod("a", "10.1.0.2"), mirror)
		if err := fx.sync(ns + "/web"); err != nil {
			t.Fatal(err)
		}
		for _, w := range fx.writes() {
			if w == "delete endpointslices" {
				t.Fatal("deleted a slice it does not manage")
			}
		}
	})
}

func TestTriggerTime(t *testing.T) {
	tt := newTriggerTimes()
	svc := newService("web")
	pod := newPod("a", "10.1.0.2")
	if got := tt.observe("k", svc, []*corev1.Pod{pod}); !got.Equal(created.Time) {
		t.Fatalf("first sync: %v, want the service's creation", got)
	}
	if got := tt.observe("k", svc, []*corev1.Pod{pod}); !got.IsZero() {
		t.Fatalf("nothing changed: %v", got)
	}
	later := created.Add(time.Minute)
	changed := newPod("a", "10.1.0.2", func(p *corev1.Pod) { p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(later) })
	if got := tt.observe("k", svc, []*corev1.Pod{changed}); !got.Equal(later) {
		t.Fatalf("pod became ready: %v, want %v", got, later)
	}
}

func TestPodChanged(t *testing.T) {
	fx := newFixture(t, newService("web"), newService("db", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "db"} }))
	old := newPod("a", "10.1.0.2")
	for _, tc := range []struct {
		name string
		cur  *corev1.Pod
		want []string
	}{
		{"a resync queues nothing", newPod("a", "10.1.0.2"), nil},
		{"an annotation change queues nothing", newPod("a", "10.1.0.2", func(p *corev1.Pod) { p.ResourceVersion, p.Annotations = "2", map[string]string{"x": "y"} }), nil},
		{"a readiness change queues the pod's services", newPod("a", "10.1.0.2", notReady, func(p *corev1.Pod) { p.ResourceVersion = "2" }), []string{ns + "/web"}},
		{"a label change queues the old and new services", newPod("a", "10.1.0.2", func(p *corev1.Pod) { p.ResourceVersion, p.Labels = "2", map[string]string{"app": "db"} }), []string{ns + "/db", ns + "/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx.c.podChanged(old, tc.cur)
			var got []string
			for fx.c.queue.Len() > 0 {
				k, _ := fx.c.queue.Get()
				fx.c.queue.Done(k)
				got = append(got, k)
			}
			sort.Strings(got)
			if !equal(got, tc.want) {
				t.Fatalf("queued %v, want %v", got, tc.want)
			}
		})
	}
}
