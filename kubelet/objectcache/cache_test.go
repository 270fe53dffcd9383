package objectcache

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func secret(name, value string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: map[string][]byte{"k": []byte(value)}}
}

func configMap(name, value string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: map[string]string{"k": value}}
}

// podWith is a pod in ns with uid that mounts Secret secret and reads
// ConfigMap cm into its environment; empty names are left out.
func podWith(uid, secret, cm string) *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: uid, UID: types.UID(uid)}}
	if secret != "" {
		pod.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}
	}
	c := corev1.Container{Name: "c"}
	if cm != "" {
		c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}
	}
	pod.Spec.Containers = []corev1.Container{c}
	return pod
}

// fixture is a Cache over a fake clientset; run starts it.
type fixture struct {
	t       *testing.T
	client  *fake.Clientset
	cache   *Cache
	mu      sync.Mutex
	changed []types.UID
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	c, err := New(client)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, client: client, cache: c}
}

// run runs the cache until the test ends.
func (f *fixture) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.cache.Run(ctx, func(uid types.UID) {
			f.mu.Lock()
			f.changed = append(f.changed, uid)
			f.mu.Unlock()
		})
	}()
	f.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			f.t.Errorf("Run did not return after its context ended")
		}
	})
}

// reads counts the requests for resource with verb ("get", "list", "watch").
func (f *fixture) reads(verb, resource string) int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource {
			n++
		}
	}
	return n
}

// eventually polls cond every 10ms for up to 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s", what)
	}
}

// synced waits for the watch of o's object ns/name to have listed it.
func synced[T runtime.Object](t *testing.T, o *objects[T], name string) {
	t.Helper()
	eventually(t, "the watch of "+name, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		w := o.watches[types.NamespacedName{Namespace: "ns", Name: name}]
		return w != nil && w.synced != nil && w.synced()
	})
}

func names(keys []types.NamespacedName) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.String())
	}
	sort.Strings(out)
	return out
}

func TestWatchesOnlyReferencedObjectsByName(t *testing.T) {
	f := newFixture(t, secret("s", "1"), secret("other", "x"), configMap("cm", "a"))
	f.cache.Register(podWith("p", "s", "cm"))
	f.run()
	synced(t, f.cache.secrets, "s")
	synced(t, f.cache.configMaps, "cm")

	for _, a := range f.client.Actions() {
		var sel string
		switch a := a.(type) {
		case k8stesting.ListAction:
			sel = a.GetListRestrictions().Fields.String()
		case k8stesting.WatchAction:
			sel = a.GetWatchRestrictions().Fields.String()
		default:
			continue
		}
		want := map[string]string{"secrets": "metadata.name=s", "configmaps": "metadata.name=cm"}[a.GetResource().Resource]
		if a.GetNamespace() != "ns" || sel != want {
			t.Errorf("%s %s in namespace %q with field selector %q, want namespace ns and %q", a.GetVerb(), a.GetResource().Resource, a.GetNamespace(), sel, want)
		}
	}

	s, err := f.cache.Secret(context.Background(), "ns", "s")
	if err != nil || string(s.Data["k"]) != "1" {
		t.Fatalf("Secret = %v, %v", s, err)
	}
	cm, err := f.cache.ConfigMap(context.Background(), "ns", "cm")
	if err != nil || cm.Data["k"] != "a" {
		t.Fatalf("ConfigMap = %v, %v", cm, err)
	}
	if n := f.reads("get", "secrets") + f.reads("get", "configmaps"); n != 0 {
		t.Errorf("%d GETs for watched objects, want none", n)
	}
}

func TestChangesReachReadersAndReferencingPods(t *testing.T) {
	f := newFixture(t, configMap("cm", "a"))
	f.cache.Register(podWith("p1", "", "cm"))
	f.cache.Register(podWith("p2", "", "cm"))
	f.cache.Register(podWith("p3", "", "unrelated"))
	f.run()
	synced(t, f.cache.configMaps, "cm")
	ctx := context.Background()

	f.mu.Lock()
	f.changed = nil
	f.mu.Unlock()
	if _, err := f.client.CoreV1().ConfigMaps("ns").Update(ctx, configMap("cm", "b"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the updated ConfigMap", func() bool {
		cm, err := f.cache.ConfigMap(ctx, "ns", "cm")
		return err == nil && cm.Data["k"] == "b"
	})
	eventually(t, "both referencing pods told", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.changed, "p1") && slices.Contains(f.changed, "p2")
	})
	f.mu.Lock()
	if slices.Contains(f.changed, "p3") {
		t.Errorf("pod p3 told of a ConfigMap it does not reference: %v", f.changed)
	}
	f.mu.Unlock()

	if err := f.client.CoreV1().ConfigMaps("ns").Delete(ctx, "cm", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deletion", func() bool {
		_, err := f.cache.ConfigMap(ctx, "ns", "cm")
		return apierrors.IsNotFound(err)
	})
	if n := f.reads("get", "configmaps"); n != 0 {
		t.Errorf("%d GETs for a watched ConfigMap, want none", n)
	}
}

func TestCreatedObjectIsRead(t *testing.T) {
	f := newFixture(t)
	f.cache.Register(podWith("p", "later", ""))
	f.run()
	synced(t, f.cache.secrets, "later")
	ctx := context.Background()
	if _, err := f.cache.Secret(ctx, "ns", "later"); !apierrors.IsNotFound(err) {
		t.Fatalf("missing Secret: error %v, want NotFound", err)
	}
	if _, err := f.client.CoreV1().Secrets("ns").Create(ctx, secret("later", "v"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the created Secret", func() bool {
		s, err := f.cache.Secret(ctx, "ns", "later")
		return err == nil && string(s.Data["k"]) == "v"
	})
	eventually(t, "the pod told", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return slices.Contains(f.changed, "p")
	})
}

func TestWatchesAreReferenceCounted(t *testing.T) {
	f := newFixture(t, secret("shared", "1"), secret("own", "2"), configMap("cm", "a"))
	f.run()
	secrets := func() []string { return names(f.cache.secrets.watching()) }

	f.cache.Register(podWith("a", "shared", "cm"))
	f.cache.Register(podWith("b", "shared", ""))
	if got := secrets(); !slices.Equal(got, []string{"ns/shared"}) {
		t.Fatalf("watching %v, want ns/shared", got)
	}
	// A new version of pod b's spec swaps its Secret.
	f.cache.Register(podWith("b", "own", ""))
	if got := secrets(); !slices.Equal(got, []string{"ns/own", "ns/shared"}) {
		t.Fatalf("after b changed: watching %v, want ns/own and ns/shared", got)
	}
	f.cache.Register(podWith("b", "own", "")) // again: nothing changes
	f.cache.Unregister("a")
	if got := secrets(); !slices.Equal(got, []string{"ns/own"}) {
		t.Errorf("after a left: watching %v, want ns/own", got)
	}
	if got := names(f.cache.configMaps.watching()); len(got) != 0 {
		t.Errorf("after a left: watching ConfigMaps %v, want none", got)
	}
	f.cache.Unregister("b")
	f.cache.Unregister("b") // unknown by now: a no-op
	if got := secrets(); len(got) != 0 {
		t.Errorf("after b left: watching %v, want none", got)
	}

	// Once unwatched, a read is a GET again.
	before := f.reads("get", "secrets")
	if s, err := f.cache.Secret(context.Background(), "ns", "shared"); err != nil || string(s.Data["k"]) != "1" {
		t.Fatalf("Secret = %v, %v", s, err)
	}
	if f.reads("get", "secrets") != before+1 {
		t.Errorf("reading an unwatched Secret made no GET")
	}
}

func TestUnwatchedReadsAreGets(t *testing.T) {
	tests := []struct {
		name    string
		running bool
		pod     *corev1.Pod // registered first, if set
		read    string
		want    string // the value of key k; "" for NotFound
	}{
		{name: "no pod references it", running: true, read: "s", want: "1"},
		{name: "missing", running: true, read: "gone"},
		{name: "referenced before Run", pod: podWith("p", "s", ""), read: "s", want: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, secret("s", "1"))
			if tc.pod != nil {
				f.cache.Register(tc.pod)
			}
			if tc.running {
				f.run()
			}
			s, err := f.cache.Secret(context.Background(), "ns", tc.read)
			switch {
			case tc.want == "" && !apierrors.IsNotFound(err):
				t.Errorf("error %v, want NotFound", err)
			case tc.want != "" && (err != nil || string(s.Data["k"]) != tc.want):
				t.Errorf("Secret = %v, %v; want k=%s", s, err, tc.want)
			}
			if f.reads("get", "secrets") != 1 {
				t.Errorf("%d GETs, want 1", f.reads("get", "secrets"))
			}
			if !tc.running && f.reads("list", "secrets")+f.reads("watch", "secrets") != 0 {
				t.Errorf("watched before Run")
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	f := newFixture(t)
	f.run()
	eventually(t, "Run to start", func() bool {
		f.cache.mu.Lock()
		defer f.cache.mu.Unlock()
		return f.cache.running
	})
	if err := f.cache.Run(context.Background(), nil); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestSameVersion(t *testing.T) {
	at := func(rv string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", ResourceVersion: rv}}
	}
	tests := []struct {
		name string
		a, b any
		want bool
	}{
		{name: "a relist's copy", a: at("7"), b: at("7"), want: true},
		{name: "a change", a: at("7"), b: at("8")},
		{name: "versions unknown", a: at(""), b: at("")},
		{name: "not an object", a: "x", b: at("7")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameVersion(tc.a, tc.b); got != tc.want {
				t.Errorf("sameVersion = %v, want %v", got, tc.want)
			}
		})
	}
}
