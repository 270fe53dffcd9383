package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"berth.dev/berth/orchestrator/controller/nodeipam/cidrset"
)

func newNode(name string, podCIDRs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1"}}
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDRs[0], podCIDRs
	}
	return n
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
}

// newFixture builds the controller over a fake API holding nodes, with the
// informer cache seeded by hand, and starts it as Run does (every held CIDR
// marked taken) without workers: tests call sync directly.
func newFixture(t *testing.T, cfg Config, nodes ...*corev1.Node) *fixture {
	t.Helper()
	objs := make([]runtime.Object, len(nodes))
	for i, n := range nodes {
		objs[i] = n
	}
	f := &fixture{t: t, client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100)}
	f.factory = informers.NewSharedInformerFactory(f.client, 0)
	c, err := New(f.client, f.factory, f.recorder, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	t.Cleanup(c.queue.ShutDown)
	for _, n := range nodes {
		f.cache(n)
	}
	if err := c.occupyExisting(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) cache(n *corev1.Node) {
	f.t.Helper()
	if err := f.factory.Core().V1().Nodes().Informer().GetIndexer().Update(n); err != nil {
		f.t.Fatal(err)
	}
}

// sync syncs the node after bringing the cache up to the API's copy, as the
// watch would, and returns the API's copy after.
func (f *fixture) sync(name string) (*corev1.Node, error) {
	f.t.Helper()
	if n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{}); err == nil {
		f.cache(n)
	}
	err := f.c.sync(context.Background(), name)
	n, _ := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	return n, err
}

func (f *fixture) mustSync(name string) *corev1.Node {
	f.t.Helper()
	n, err := f.sync(name)
	if err != nil {
		f.t.Fatalf("sync %s: %v", name, err)
	}
	return n
}

func (f *fixture) create(n *corev1.Node) {
	f.t.Helper()
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.cache(n)
}

func (f *fixture) delete(name string) {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.factory.Core().V1().Nodes().Informer().GetIndexer().Delete(n); err != nil {
		f.t.Fatal(err)
	}
}

// events returns the events recorded so far.
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

// patches returns the patches written, by node.
func (f *fixture) patches() map[string][]string {
	out := map[string][]string{}
	for _, a := range f.client.Actions() {
		if p, ok := a.(core.PatchAction); ok && a.GetResource().Resource == "nodes" {
			out[p.GetName()] = append(out[p.GetName()], string(p.GetPatch()))
		}
	}
	return out
}

func podCIDRs(n *corev1.Node) []string { return n.Spec.PodCIDRs }

func TestAllocatesUniqueCIDRsInRange(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	var nodes []*corev1.Node
	for _, n := range names {
		nodes = append(nodes, newNode(n))
	}
	f := newFixture(t, Config{}, nodes...)
	cluster := netip.MustParsePrefix(DefaultClusterCIDR)
	seen := map[string]string{}
	for _, name := range names {
		n := f.mustSync(name)
		if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
			t.Fatalf("node %s: podCIDR %q, podCIDRs %v", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
		}
		p := netip.MustParsePrefix(n.Spec.PodCIDR)
		if p.Bits() != DefaultNodeMaskSizeIPv4 || !cluster.Contains(p.Addr()) || p != p.Masked() {
			t.Fatalf("node %s got %v, not a /24 network of %v", name, p, cluster)
		}
		if other, dup := seen[n.Spec.PodCIDR]; dup {
			t.Fatalf("nodes %s and %s both got %s", other, name, n.Spec.PodCIDR)
		}
		seen[n.Spec.PodCIDR] = name
	}
	// Only spec.podCIDR and spec.podCIDRs are written, once per node.
	for name, ps := range f.patches() {
		if len(ps) != 1 {
			t.Fatalf("node %s patched %d times", name, len(ps))
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(ps[0]), &got); err != nil {
			t.Fatal(err)
		}
		n, _ := f.sync(name)
		want := map[string]any{"spec": map[string]any{"podCIDR": n.Spec.PodCIDR, "podCIDRs": []any{n.Spec.PodCIDR}}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("node %s patch %s, want only the pod CIDR fields", name, ps[0])
		}
	}
	// A node that has its CIDR is left alone: a second sync writes nothing.
	before := len(f.client.Actions())
	f.mustSync("a")
	for _, a := range f.client.Actions()[before:] {
		if a.GetVerb() != "get" {
			t.Fatalf("second sync of a did %s", a.GetVerb())
		}
	}
	if ev := f.events(); len(ev) != 0 {
		t.Fatalf("events %v", ev)
	}
}

func TestRestartKeepsHeldCIDRs(t *testing.T) {
	first := newFixture(t, Config{}, newNode("a"), newNode("b"), newNode("c"))
	var held []*corev1.Node
	for _, name := range []string{"a", "b", "c"} {
		held = append(held, first.mustSync(name))
	}
	// b is deleted while the controller is down; its CIDR is free after.
	// Another node got a CIDR inside the range from someone else.
	restarted := append([]*corev1.Node{held[0], held[2], newNode("manual", "10.42.3.0/24")},
		newNode("d"), newNode("e"), newNode("f"))
	f := newFixture(t, Config{}, restarted...)
	// The new nodes sync first: the held CIDRs are taken before any sync.
	got := map[string]string{}
	for _, name := range []string{"d", "e", "f"} {
		got[name] = f.mustSync(name).Spec.PodCIDR
	}
	for _, n := range []string{"a", "c", "manual"} {
		f.mustSync(n)
	}
	taken := map[string]bool{held[0].Spec.PodCIDR: true, held[2].Spec.PodCIDR: true, "10.42.3.0/24": true}
	for name, cidr := range got {
		if taken[cidr] {
			t.Fatalf("new node %s got %s, which a node holds", name, cidr)
		}
		taken[cidr] = true
	}
	// The old nodes are untouched: no patch, same CIDRs.
	ps := f.patches()
	for _, n := range []string{"a", "c", "manual"} {
		if len(ps[n]) != 0 {
			t.Fatalf("held node %s patched: %v", n, ps[n])
		}
	}
	// b's CIDR (10.42.1.0/24) was free and the lowest: d reuses it; e and f
	// step over manual's 10.42.3.0/24.
	want := map[string]string{"d": "10.42.1.0/24", "e": "10.42.4.0/24", "f": "10.42.5.0/24"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("new nodes got %v, want %v", got, want)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Fatalf("events %v", ev)
	}
}

func TestForeignCIDRs(t *testing.T) {
	t.Run("outside the cluster CIDR is reported once and left alone", func(t *testing.T) {
		f := newFixture(t, Config{}, newNode("odd", "10.99.0.0/24"), newNode("new"))
		for range 2 {
			if _, err := f.sync("odd"); err != nil {
				t.Fatalf("sync of a node with a foreign CIDR failed (it would retry forever): %v", err)
			}
		}
		want := []string{"Warning CIDRNotAvailable Node odd has CIDR 10.99.0.0/24, which is not in the cluster CIDR"}
		if ev := f.events(); !reflect.DeepEqual(ev, want) {
			t.Fatalf("events %q, want %q", ev, want)
		}
		if ps := f.patches(); len(ps["odd"]) != 0 {
			t.Fatalf("odd was patched: %v", ps["odd"])
		}
		if got := f.mustSync("new").Spec.PodCIDR; got != "10.42.0.0/24" {
			t.Fatalf("new got %s", got)
		}
	})
	t.Run("a family not configured is reported, the other held", func(t *testing.T) {
		f := newFixture(t, Config{ClusterCIDRs: cidrs(t, "10.42.0.0/23")},
			newNode("dual", "10.42.0.0/24", "fd00:9::/64"), newNode("new"))
		f.mustSync("dual")
		want := []string{"Warning CIDRNotAvailable Node dual has CIDR fd00:9::/64, which is not in the cluster CIDR"}
		if ev := f.events(); !reflect.DeepEqual(ev, want) {
			t.Fatalf("events %q, want %q", ev, want)
		}
		if got := f.mustSync("new").Spec.PodCIDR; got != "10.42.1.0/24" {
			t.Fatalf("new got %s, want the CIDR dual does not hold", got)
		}
	})
	t.Run("a CIDR inside the range set by someone else is respected", func(t *testing.T) {
		// The node's CIDR spans two node CIDRs: both are taken.
		f := newFixture(t, Config{ClusterCIDRs: cidrs(t, "10.42.0.0/22")}, newNode("wide", "10.42.0.0/23"))
		f.mustSync("wide")
		for _, name := range []string{"x", "y"} {
			f.create(newNode(name))
		}
		if got := []string{f.mustSync("x").Spec.PodCIDR, f.mustSync("y").Spec.PodCIDR}; !reflect.DeepEqual(got, []string{"10.42.2.0/24", "10.42.3.0/24"}) {
			t.Fatalf("x and y got %v", got)
		}
		f.create(newNode("z"))
		if _, err := f.sync("z"); !errors.Is(err, cidrset.ErrFull) {
			t.Fatalf("z: %v, want the range full", err)
		}
		if ps := f.patches(); len(ps["wide"]) != 0 {
			t.Fatalf("wide was patched: %v", ps["wide"])
		}
	})
}

func TestReleaseOnDeleteAndReuse(t *testing.T) {
	// Two node CIDRs in all.
	f := newFixture(t, Config{ClusterCIDRs: cidrs(t, "10.42.0.0/23")}, newNode("n1"), newNode("n2"), newNode("n3"))
	freed := f.mustSync("n1").Spec.PodCIDR
	f.mustSync("n2")

	for range 3 {
		n, err := f.sync("n3")
		if !errors.Is(err, cidrset.ErrFull) {
			t.Fatalf("n3 on a full range: %v, want ErrFull (so that it is retried with back-off)", err)
		}
		if len(n.Spec.PodCIDRs) != 0 {
			t.Fatalf("n3 got %v from a full range", n.Spec.PodCIDRs)
		}
	}
	want := []string{"Warning CIDRNotAvailable Node n3 status is now: CIDRNotAvailable"}
	if ev := f.events(); !reflect.DeepEqual(ev, want) {
		t.Fatalf("events %q, want %q once", ev, want)
	}

	f.delete("n1")
	f.mustSync("n1")
	// The waiting node is queued again at once, not after its back-off.
	if f.c.queue.Len() != 1 {
		t.Fatalf("queue holds %d keys after the release, want n3", f.c.queue.Len())
	}
	if key, _ := f.c.queue.Get(); key != "n3" {
		t.Fatalf("queued %q, want n3", key)
	} else {
		f.c.queue.Done(key)
	}
	if got := f.mustSync("n3").Spec.PodCIDR; got != freed {
		t.Fatalf("n3 got %s, want n1's freed %s", got, freed)
	}

	// A node re-created under a deleted node's name starts afresh.
	f.delete("n2")
	f.create(newNode("n2"))
	f.mustSync("n2")
	if got := f.c.held["n2"].uid; got != "uid-n2" {
		t.Fatalf("held uid %q", got)
	}
	if s := f.c.sets[0]; s.Free() != 0 {
		t.Fatalf("%d free after n2 came back, want 0", s.Free())
	}
}

func TestDualStack(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster []string
		want    [][]string
	}{
		{"IPv4 first", []string{"10.42.0.0/16", "fd00:42::/56"},
			[][]string{{"10.42.0.0/24", "fd00:42::/64"}, {"10.42.1.0/24", "fd00:42:0:1::/64"}}},
		{"IPv6 first", []string{"fd00:42::/56", "10.42.0.0/16"},
			[][]string{{"fd00:42::/64", "10.42.0.0/24"}, {"fd00:42:0:1::/64", "10.42.1.0/24"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{ClusterCIDRs: cidrs(t, tc.cluster...)}, newNode("a"), newNode("b"))
			for i, name := range []string{"a", "b"} {
				n := f.mustSync(name)
				if !reflect.DeepEqual(podCIDRs(n), tc.want[i]) || n.Spec.PodCIDR != tc.want[i][0] {
					t.Fatalf("%s: podCIDR %q podCIDRs %v, want %v", name, n.Spec.PodCIDR, n.Spec.PodCIDRs, tc.want[i])
				}
			}
		})
	}
	t.Run("one family full takes nothing from the other", func(t *testing.T) {
		// One IPv6 node CIDR, 256 IPv4 ones.
		f := newFixture(t, Config{ClusterCIDRs: cidrs(t, "10.42.0.0/16", "fd00:42::/64")}, newNode("a"), newNode("b"))
		f.mustSync("a")
		v4 := f.c.sets[0].Free()
		if _, err := f.sync("b"); !errors.Is(err, cidrset.ErrFull) {
			t.Fatalf("b: %v, want ErrFull", err)
		}
		if f.c.sets[0].Free() != v4 {
			t.Fatalf("IPv4 free went from %d to %d: a failed allocation leaked", v4, f.c.sets[0].Free())
		}
		if _, held := f.c.held["b"]; held {
			t.Fatal("b holds CIDRs it did not get")
		}
	})
}

func TestFailedWrite(t *testing.T) {
	t.Run("retry writes the same reservation", func(t *testing.T) {
		f := newFixture(t, Config{}, newNode("a"), newNode("b"))
		fail := true
		f.client.PrependReactor("patch", "nodes", func(core.Action) (bool, runtime.Object, error) {
			if fail {
				fail = false
				return true, nil, apierrors.NewInternalError(fmt.Errorf("etcd hiccup"))
			}
			return false, nil, nil
		})
		if _, err := f.sync("a"); err == nil {
			t.Fatal("sync succeeded through a failed write")
		}
		want := []string{"Warning CIDRAssignmentFailed Node a status is now: CIDRAssignmentFailed"}
		if ev := f.events(); !reflect.DeepEqual(ev, want) {
			t.Fatalf("events %q, want %q", ev, want)
		}
		// b comes between: it must not get a's reserved CIDR.
		b := f.mustSync("b").Spec.PodCIDR
		a := f.mustSync("a").Spec.PodCIDR
		if a != "10.42.0.0/24" || b != "10.42.1.0/24" {
			t.Fatalf("a got %s, b got %s", a, b)
		}
	})
	t.Run("someone else set the CIDRs meanwhile: theirs are kept, ours freed", func(t *testing.T) {
		f := newFixture(t, Config{ClusterCIDRs: cidrs(t, "10.42.0.0/23")}, newNode("a"), newNode("b"))
		f.client.PrependReactor("patch", "nodes", func(core.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Node").GroupKind(), "a", nil)
		})
		if _, err := f.sync("a"); err == nil {
			t.Fatal("sync succeeded through a refused write")
		}
		f.client.ReactionChain = f.client.ReactionChain[1:]
		a := newNode("a", "10.42.1.0/24")
		if _, err := f.client.CoreV1().Nodes().Update(context.Background(), a, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := podCIDRs(f.mustSync("a")); !reflect.DeepEqual(got, []string{"10.42.1.0/24"}) {
			t.Fatalf("a has %v", got)
		}
		if got := f.mustSync("b").Spec.PodCIDR; got != "10.42.0.0/24" {
			t.Fatalf("b got %s, want the CIDR reserved for a and given back", got)
		}
	})
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(newNode("old", "10.42.0.0/24"), newNode("n1"))
	factory := informers.NewSharedInformerFactory(client, 0)
	recorder := record.NewFakeRecorder(100)
	c, err := New(client, factory, recorder, Config{ClusterCIDRs: cidrs(t, "10.42.0.0/22")})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, 2) }()

	podCIDR := func(name string) string {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return n.Spec.PodCIDR
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return cond(), nil
		}); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	for _, name := range []string{"n2", "n3", "n4"} {
		if _, err := client.CoreV1().Nodes().Create(ctx, newNode(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("three of n1..n4 to get the three free CIDRs", func() bool {
		n := 0
		for _, name := range []string{"n1", "n2", "n3", "n4"} {
			if podCIDR(name) != "" {
				n++
			}
		}
		return n == 3
	})
	var got []string
	var waiting string
	for _, name := range []string{"n1", "n2", "n3", "n4"} {
		if p := podCIDR(name); p != "" {
			got = append(got, p)
		} else {
			waiting = name
		}
	}
	slices.Sort(got)
	if want := []string{"10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("allocated %v, want %v (old holds 10.42.0.0/24)", got, want)
	}
	// Deleting "old" frees its CIDR; the waiting node gets it without waiting
	// out its back-off.
	if err := client.CoreV1().Nodes().Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(waiting+" to get old's CIDR", func() bool { return podCIDR(waiting) == "10.42.0.0/24" })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after ctx ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}

func TestRunRefusesToStart(t *testing.T) {
	client := fake.NewClientset()
	t.Run("no workers", func(t *testing.T) {
		c, err := New(client, informers.NewSharedInformerFactory(client, 0), record.NewFakeRecorder(1), Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Run(context.Background(), 0); err == nil {
			t.Fatal("Run with no workers succeeded")
		}
	})
	t.Run("cache never synced", func(t *testing.T) {
		c, err := New(client, informers.NewSharedInformerFactory(client, 0), record.NewFakeRecorder(1), Config{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := c.Run(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	})
}
