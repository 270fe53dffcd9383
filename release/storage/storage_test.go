package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"berth.dev/berth/orchestrator/apiserver/apiservertest"
)

var (
	server *apiservertest.Server
	store  *Store
)

func TestMain(m *testing.M) {
	os.Exit(apiservertest.Main(m, func(s *apiservertest.Server) error {
		server = s
		var err error
		if store, err = New(s.Config); err != nil {
			return err
		}
		return EnsureCRDs(context.Background(), apiextensionsclient.NewForConfigOrDie(s.Config))
	}))
}

// setup returns the package's store and a fresh namespace.
func setup(t *testing.T) (*Store, string) {
	t.Helper()
	ns := "t" + hex.EncodeToString(randomBytes(4))
	if _, err := server.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return store, ns
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func newRelease(ns, name string, revision int, status release.Status, manifest string) *release.Release {
	now := helmtime.Now()
	return &release.Release{
		Name: name, Namespace: ns, Version: revision, Manifest: manifest,
		Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "app", Version: "1.2.3", AppVersion: "4.5"}},
		Config: map[string]any{"replicas": float64(2)},
		Info:   &release.Info{Status: status, FirstDeployed: now, LastDeployed: now, Description: "Install complete", Notes: "hi"},
	}
}

func TestRoundTrip(t *testing.T) {
	store, ns := setup(t)
	ctx := context.Background()
	rel := newRelease(ns, "web", 1, release.StatusPendingInstall, "kind: ConfigMap\n")
	if err := store.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, rel); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create of the same revision: %v", err)
	}
	rel.Info.Status, rel.Info.Description = release.StatusDeployed, "Install complete"
	if err := store.Update(ctx, rel); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, ns, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Info.Status != release.StatusDeployed || got.Manifest != rel.Manifest || got.Chart.Metadata.Version != "1.2.3" ||
		got.Config["replicas"] != float64(2) || got.Info.Notes != "hi" || !got.Info.LastDeployed.Equal(rel.Info.LastDeployed) {
		t.Fatalf("read back %+v %+v", got, got.Info)
	}
	if _, err := store.Get(ctx, ns, "web", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing revision: %v", err)
	}
	if _, err := store.History(ctx, ns, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("history of a missing release: %v", err)
	}
}

// TestLargeRelease: Helm's Secret storage fails above 1 MiB; berth stores a
// 10 MiB manifest (incompressible, so it really is 10 MiB) in chunks.
func TestLargeRelease(t *testing.T) {
	store, ns := setup(t)
	ctx := context.Background()
	manifest := hex.EncodeToString(randomBytes(5 << 20)) // 10 MiB of text
	rel := newRelease(ns, "big", 1, release.StatusDeployed, manifest)
	if err := store.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, ns, "big", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Manifest != manifest {
		t.Fatalf("manifest of %d bytes read back as %d bytes", len(manifest), len(got.Manifest))
	}
	chunks, err := store.chunks.Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRelease + "=big"})
	if err != nil || len(chunks.Items) < 10 {
		t.Fatalf("chunks: %v, %d", err, len(chunks.Items))
	}
	rel.Info.Status = release.StatusSuperseded
	if err := store.Update(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Get(ctx, ns, "big", 1); err != nil || got.Info.Status != release.StatusSuperseded || got.Manifest != manifest {
		t.Fatalf("after update: %v", err)
	}
	if err := store.Delete(ctx, ns, "big", 1); err != nil {
		t.Fatal(err)
	}
	chunks, _ = store.chunks.Namespace(ns).List(ctx, metav1.ListOptions{})
	if len(chunks.Items) != 0 {
		t.Fatalf("%d chunks left after delete", len(chunks.Items))
	}
}

func TestIndex(t *testing.T) {
	store, ns := setup(t)
	ctx := context.Background()
	for _, r := range []*release.Release{
		newRelease(ns, "b", 1, release.StatusSuperseded, "x"),
		newRelease(ns, "b", 2, release.StatusDeployed, "x"),
		newRelease(ns, "a", 1, release.StatusFailed, "x"),
	} {
		if err := store.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	heads, err := store.Heads(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range heads {
		got = append(got, fmt.Sprintf("%s:%d:%s:%s:%s", s.Name, s.Revision, s.Status, s.Chart, s.AppVersion))
	}
	if want := "a:1:failed:app-1.2.3:4.5 b:2:deployed:app-1.2.3:4.5"; strings.Join(got, " ") != want {
		t.Fatalf("heads = %v, want %s", got, want)
	}
	// The index's field ownership names the map, not each entry's fields,
	// which would double the size of every list of it.
	shards, err := dynamic.NewForConfigOrDie(server.Config).Resource(indexesResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(shards.Items) == 0 {
		t.Fatalf("listing the index: %v (%d shards)", err, len(shards.Items))
	}
	for _, shard := range shards.Items {
		for _, m := range shard.GetManagedFields() {
			if fields := string(m.FieldsV1.Raw); strings.Contains(fields, "f:revision") {
				t.Errorf("shard %s: managed fields list the entries' fields: %s", shard.GetName(), fields)
			}
		}
	}
	history, err := store.History(ctx, ns, "b")
	if err != nil || len(history) != 2 || history[1].Revision != 2 || history[1].Description != "Install complete" {
		t.Fatalf("history: %v %+v", err, history)
	}
	// Deleting the newest revision moves the index back to the one before;
	// deleting the last forgets the release.
	if err := store.Delete(ctx, ns, "b", 2); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, ns, "a", 1); err != nil {
		t.Fatal(err)
	}
	heads, err = store.Heads(ctx, ns)
	if err != nil || len(heads) != 1 || heads[0].Name != "b" || heads[0].Revision != 1 || heads[0].Status != release.StatusSuperseded {
		t.Fatalf("heads after deletes: %v %+v", err, heads)
	}
}

func TestLock(t *testing.T) {
	_, ns := setup(t)
	ctx := context.Background()
	leases := server.Client.CoordinationV1()
	a := NewLocker(leases, "holder-a", 3*time.Second)
	b := NewLocker(leases, "holder-b", 3*time.Second)

	lock, err := a.Acquire(ctx, ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, ns, "web"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "held by holder-a") {
		t.Fatalf("second holder: %v", err)
	}
	// A holder that renews keeps the lock past its duration.
	time.Sleep(4 * time.Second)
	if _, err := b.Acquire(ctx, ns, "web"); !errors.Is(err, ErrLocked) {
		t.Fatalf("renewed lock taken: %v", err)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lockB, err := b.Acquire(ctx, ns, "web")
	if err != nil || lockB.Abandoned != "" {
		t.Fatalf("after release: %v, abandoned %q", err, lockB.Abandoned)
	}
	// A holder that dies (stops renewing without releasing) loses the lock once
	// it expires, and the next holder learns whose operation was abandoned.
	lockB.stop()
	<-lockB.renewed
	if _, err := a.Acquire(ctx, ns, "web"); !errors.Is(err, ErrLocked) {
		t.Fatalf("fresh dead lock taken at once: %v", err)
	}
	time.Sleep(3500 * time.Millisecond)
	lockA, err := a.Acquire(ctx, ns, "web")
	if err != nil || lockA.Abandoned != "holder-b" {
		t.Fatalf("expired lock: %v, abandoned %q", err, lockA.Abandoned)
	}
	lockA.Release(ctx)
}

// TestUpdateBody: what changes in a release's body after it is stored (hooks
// record their runs) is kept, and a body that shrinks leaves no stale chunks.
func TestUpdateBody(t *testing.T) {
	store, ns := setup(t)
	ctx := context.Background()
	rel := newRelease(ns, "hooked", 1, release.StatusPendingInstall, hex.EncodeToString(randomBytes(1<<20)))
	rel.Hooks = []*release.Hook{{Name: "migrate", Kind: "Job", Events: []release.HookEvent{release.HookPreInstall}}}
	if err := store.Create(ctx, rel); err != nil {
		t.Fatal(err)
	}
	rel.Hooks[0].LastRun = release.HookExecution{Phase: release.HookPhaseSucceeded}
	rel.Manifest = "small"
	rel.Info.Status = release.StatusDeployed
	if err := store.Update(ctx, rel); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, ns, "hooked", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hooks[0].LastRun.Phase != release.HookPhaseSucceeded || got.Manifest != "small" || got.Info.Status != release.StatusDeployed {
		t.Fatalf("after update: hook %+v, manifest %d bytes, status %s", got.Hooks[0].LastRun, len(got.Manifest), got.Info.Status)
	}
	chunks, _ := store.chunks.Namespace(ns).List(ctx, metav1.ListOptions{})
	if len(chunks.Items) != 0 {
		t.Fatalf("%d stale chunks after the body shrank", len(chunks.Items))
	}
}
