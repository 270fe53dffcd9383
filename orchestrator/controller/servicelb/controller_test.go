package servicelb

import (
	"context"
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

type nodeOption func(*corev1.Node)

func notReady(n *corev1.Node)      { n.Status.Conditions[0].Status = corev1.ConditionFalse }
func unschedulable(n *corev1.Node) { n.Spec.Unschedulable = true }
func excluded(n *corev1.Node)      { n.Labels[corev1.LabelNodeExcludeBalancers] = "" }
func labelled(k, v string) nodeOption {
	return func(n *corev1.Node) { n.Labels[k] = v }
}

// node is a Ready node with the given InternalIPs and an ExternalIP, which
// load balancers never get.
func node(name string, internal []string, opts ...nodeOption) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeExternalIP, Address: "203.0.113.1"}, {Type: corev1.NodeHostName, Address: name}},
		},
	}
	for _, a := range internal {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a})
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func service(name string, typ corev1.ServiceType, families ...corev1.IPFamily) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{
			Type: typ, ClusterIP: "10.96.0.10", IPFamilies: families,
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
}

// withIngress gives svc ingress addresses as the API stores them, with
// ipMode VIP.
func withIngress(svc *corev1.Service, ips ...string) *corev1.Service {
	vip := corev1.LoadBalancerIPModeVIP
	for _, ip := range ips {
		svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip, IPMode: &vip})
	}
	return svc
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
}

// newFixture builds the controller over a fake API holding objs, with the
// informer caches seeded by hand; tests call sync directly.
func newFixture(t *testing.T, cfg Config, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(f.client, f.factory, f.recorder, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	t.Cleanup(c.queue.ShutDown)
	for _, o := range objs {
		f.cache(o)
	}
	return f
}

func (f *fixture) cache(o runtime.Object) {
	f.t.Helper()
	var err error
	switch o := o.(type) {
	case *corev1.Node:
		err = f.factory.Core().V1().Nodes().Informer().GetIndexer().Update(o)
	case *corev1.Service:
		err = f.factory.Core().V1().Services().Informer().GetIndexer().Update(o)
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

// sync syncs default/name after bringing the cache up to the API's copy, as
// the watch would, and returns the API's copy after.
func (f *fixture) sync(name string) (*corev1.Service, error) {
	f.t.Helper()
	ctx := context.Background()
	if svc, err := f.client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{}); err == nil {
		f.cache(svc)
	}
	f.client.ClearActions()
	err := f.c.sync(ctx, "default/"+name)
	svc, _ := f.client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
	return svc, err
}

func (f *fixture) mustSync(name string) *corev1.Service {
	f.t.Helper()
	svc, err := f.sync(name)
	if err != nil {
		f.t.Fatalf("sync %s: %v", name, err)
	}
	return svc
}

// writes counts the API writes of the last sync.
func (f *fixture) writes() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			n++
		}
	}
	return n
}

// events returns the events recorded since the last call.
func (f *fixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func ingressIPs(svc *corev1.Service) []string {
	var out []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP {
			out = append(out, in.IP+" (not VIP)")
			continue
		}
		out = append(out, in.IP)
	}
	return out
}

func TestSync(t *testing.T) {
	nodes := []runtime.Object{
		node("a", []string{"10.0.0.2", "fd00::2"}),
		node("b", []string{"10.0.0.1"}),
		node("not-ready", []string{"10.0.0.3"}, notReady),
		node("cordoned", []string{"10.0.0.4"}, unschedulable),
		node("excluded", []string{"10.0.0.5"}, excluded),
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		svc    *corev1.Service
		want   []string
		events []string
		writes int
	}{{
		name:   "a new load balancer gets the ready, schedulable nodes' internal IPs",
		svc:    service("lb", corev1.ServiceTypeLoadBalancer, corev1.IPv4Protocol),
		want:   []string{"10.0.0.1", "10.0.0.2"},
		events: []string{"Normal EnsuringLoadBalancer Ensuring load balancer", "Normal EnsuredLoadBalancer Ensured load balancer"},
		writes: 1,
	}, {
		name:   "a dual-stack load balancer gets both families",
		svc:    service("lb", corev1.ServiceTypeLoadBalancer, corev1.IPv6Protocol, corev1.IPv4Protocol),
		want:   []string{"10.0.0.1", "10.0.0.2", "fd00::2"},
		events: []string{"Normal EnsuringLoadBalancer Ensuring load balancer", "Normal EnsuredLoadBalancer Ensured load balancer"},
		writes: 1,
	}, {
		name: "a load balancer with its addresses is left alone",
		svc:  withIngress(service("lb", corev1.ServiceTypeLoadBalancer, corev1.IPv4Protocol), "10.0.0.1", "10.0.0.2"),
		want: []string{"10.0.0.1", "10.0.0.2"},
	}, {
		name: "an address without ipMode is as one of VIP",
		svc: func() *corev1.Service {
			svc := withIngress(service("lb", corev1.ServiceTypeLoadBalancer, corev1.IPv4Protocol), "10.0.0.1", "10.0.0.2")
			svc.Status.LoadBalancer.Ingress[0].IPMode = nil
			return svc
		}(),
		want: []string{"10.0.0.1 (not VIP)", "10.0.0.2"},
	}, {
		name:   "a node gone is taken out",
		svc:    withIngress(service("lb", corev1.ServiceTypeLoadBalancer, corev1.IPv4Protocol), "10.0.0.1", "10.0.0.2", "10.0.0.9"),
		want:   []string{"10.0.0.1", "10.0.0.2"},
		events: []string{"Normal UpdatedLoadBalancer Updated load balancer with new hosts"},
		writes: 1,
	}, {
		name:   "only selected nodes",
		cfg:    Config{NodeSelector: labels.SelectorFromSet(labels.Set{"svccontroller.k3s.cattle.io/enablelb": "true"})},
		svc:    withIngress(service("lb", corev1.ServiceTypeLoadBalancer, corev1.IPv4Protocol), "10.0.0.1", "10.0.0.2"),
		events: []string{"Warning UnAvailableLoadBalancer There are no available nodes for LoadBalancer"},
		writes: 1,
	}, {
		name: "a load balancer of another class is not touched",
		svc: func() *corev1.Service {
			svc := service("lb", corev1.ServiceTypeLoadBalancer, corev1.IPv4Protocol)
			svc.Spec.LoadBalancerClass = new("example.com/lb")
			return svc
		}(),
	}, {
		name:   "a Service no longer a load balancer loses its addresses",
		svc:    withIngress(service("lb", corev1.ServiceTypeClusterIP, corev1.IPv4Protocol), "10.0.0.1"),
		events: []string{"Normal DeletedLoadBalancer Deleted load balancer"},
		writes: 1,
	}, {
		name: "a ClusterIP Service is not touched",
		svc:  service("lb", corev1.ServiceTypeClusterIP, corev1.IPv4Protocol),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg, append(slices.Clone(nodes), tc.svc)...)
			svc := f.mustSync("lb")
			if got := ingressIPs(svc); !slices.Equal(got, tc.want) {
				t.Errorf("ingress %v, want %v", got, tc.want)
			}
			if got := f.events(); !slices.Equal(got, tc.events) {
				t.Errorf("events %q, want %q", got, tc.events)
			}
			if got := f.writes(); got != tc.writes {
				t.Errorf("%d writes, want %d: %v", got, tc.writes, f.client.Actions())
			}
		})
	}
}

func TestNodesChange(t *testing.T) {
	a, b := node("a", []string{"10.0.0.1"}), node("b", []string{"10.0.0.2"})
	f := newFixture(t, Config{}, a, b, service("lb", corev1.ServiceTypeLoadBalancer), service("web", corev1.ServiceTypeClusterIP))
	if got := ingressIPs(f.mustSync("lb")); !slices.Equal(got, []string{"10.0.0.1", "10.0.0.2"}) {
		t.Fatalf("ingress %v", got)
	}
	f.events()

	t.Run("a heartbeat queues nothing", func(t *testing.T) {
		beat := b.DeepCopy()
		beat.Status.Conditions[0].LastHeartbeatTime = metav1.Now()
		f.c.nodeChanged(b, beat)
		if n := f.c.queue.Len(); n != 0 {
			t.Errorf("%d keys queued", n)
		}
	})
	t.Run("a node going NotReady queues the load balancers and leaves them", func(t *testing.T) {
		down := b.DeepCopy()
		notReady(down)
		f.c.nodeChanged(b, down)
		if n := f.c.queue.Len(); n != 1 {
			t.Fatalf("%d keys queued, want the one load balancer", n)
		}
		key, _ := f.c.queue.Get()
		f.c.queue.Done(key)
		if key != "default/lb" {
			t.Errorf("queued %q", key)
		}
		if _, err := f.client.CoreV1().Nodes().Update(context.Background(), down, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		f.cache(down)
		if got := ingressIPs(f.mustSync("lb")); !slices.Equal(got, []string{"10.0.0.1"}) {
			t.Errorf("ingress %v, want only the ready node's", got)
		}
		want := []string{"Normal UpdatedLoadBalancer Updated load balancer with new hosts"}
		if got := f.events(); !slices.Equal(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
	})
	t.Run("the last node gone warns once", func(t *testing.T) {
		if err := f.factory.Core().V1().Nodes().Informer().GetIndexer().Delete(a); err != nil {
			t.Fatal(err)
		}
		if got := ingressIPs(f.mustSync("lb")); len(got) != 0 {
			t.Errorf("ingress %v, want none", got)
		}
		f.mustSync("lb")
		want := []string{"Warning UnAvailableLoadBalancer There are no available nodes for LoadBalancer"}
		if got := f.events(); !slices.Equal(got, want) {
			t.Errorf("events %q, want %q", got, want)
		}
	})
}

func TestWriteFailure(t *testing.T) {
	f := newFixture(t, Config{}, node("a", []string{"10.0.0.1"}), service("lb", corev1.ServiceTypeLoadBalancer))
	boom := errors.New("etcd is away")
	f.client.PrependReactor("update", "services", func(core.Action) (bool, runtime.Object, error) { return true, nil, boom })
	if _, err := f.sync("lb"); !errors.Is(err, boom) {
		t.Errorf("sync: %v, want the write's error, to be retried", err)
	}
	want := []string{"Normal EnsuringLoadBalancer Ensuring load balancer",
		"Warning SyncLoadBalancerFailed Error syncing load balancer: writing the load balancer status of service default/lb: etcd is away"}
	if got := f.events(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
