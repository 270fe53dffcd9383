package localpath

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

var released = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture is a provisioner for node-a whose informer caches are seeded by
// hand, over a fake API holding the same objects, with a fresh volume directory.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	recorder *record.FakeRecorder
	p        *Provisioner
	dir      string
}

type fixtureOption func(*Config)

func isDefault(c *Config) { c.Default = true }

func newFixture(t *testing.T, objs []runtime.Object, opts ...fixtureOption) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := &fixture{t: t, client: client, recorder: record.NewFakeRecorder(100), dir: filepath.Join(t.TempDir(), "storage")}
	cfg := Config{Client: client, NodeName: "node-a", Dir: f.dir, Recorder: f.recorder, Log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	t.Cleanup(p.claimQueue.ShutDown)
	t.Cleanup(p.volumeQueue.ShutDown)
	f.cache(objs...)
	client.ClearActions()
	return f
}

// cache puts objects in the informer caches, as watch events would.
func (f *fixture) cache(objs ...runtime.Object) {
	f.t.Helper()
	shared, onNode := f.p.factories[0], f.p.factories[1]
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.PersistentVolume:
			err = shared.Core().V1().PersistentVolumes().Informer().GetIndexer().Update(o)
		case *corev1.PersistentVolumeClaim:
			err = shared.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(o)
		case *storagev1.StorageClass:
			err = shared.Storage().V1().StorageClasses().Informer().GetIndexer().Update(o)
		case *corev1.Pod:
			err = onNode.Core().V1().Pods().Informer().GetIndexer().Update(o)
		case *corev1.Node:
		default:
			f.t.Fatalf("no informer for %T", obj)
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) syncClaim(name string) {
	f.t.Helper()
	if err := f.p.syncClaim(context.Background(), "work/"+name); err != nil {
		f.t.Fatalf("syncing claim %s: %v", name, err)
	}
}

func (f *fixture) syncVolume(name string) {
	f.t.Helper()
	if err := f.p.syncVolume(context.Background(), name); err != nil {
		f.t.Fatalf("syncing volume %s: %v", name, err)
	}
}

// volumes lists the volumes in the fake API.
func (f *fixture) volumes() []corev1.PersistentVolume {
	f.t.Helper()
	l, err := f.client.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return l.Items
}

// entries lists the volume directory.
func (f *fixture) entries() []string {
	f.t.Helper()
	des, err := os.ReadDir(f.dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

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

// writes lists the verbs and resources written, as "delete persistentvolumes".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, v+" "+a.GetResource().Resource)
		}
	}
	return out
}

func class(mode storagev1.VolumeBindingMode, policy corev1.PersistentVolumeReclaimPolicy) *storagev1.StorageClass {
	c := StorageClass()
	c.VolumeBindingMode, c.ReclaimPolicy = &mode, &policy
	return c
}

type claimOption func(*corev1.PersistentVolumeClaim)

// newClaim is a 2Gi ReadWriteOnce claim of class local-path handed to this
// provisioner for node-a, unless opts say otherwise.
func newClaim(name string, opts ...claimOption) *corev1.PersistentVolumeClaim {
	cls := ClassName
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work", UID: types.UID("uid-" + name), ResourceVersion: "7",
			Annotations: map[string]string{annStorageProvisioner: Name, annBetaStorageProvisioner: Name, annSelectedNode: "node-a"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &cls,
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func annotated(k, v string) claimOption {
	return func(c *corev1.PersistentVolumeClaim) {
		if v == "" {
			delete(c.Annotations, k)
			return
		}
		c.Annotations[k] = v
	}
}

func nodeA() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelHostname: "host-a"}}}
}

func TestProvisions(t *testing.T) {
	claim := newClaim("data")
	f := newFixture(t, []runtime.Object{claim, StorageClass(), nodeA()})
	f.syncClaim("data")

	wantDir := filepath.Join(f.dir, "pvc-uid-data_work_data")
	fi, err := os.Stat(wantDir)
	if err != nil {
		t.Fatalf("volume directory: %v", err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o777 {
		t.Errorf("volume directory mode = %v, want a directory writable by all", fi.Mode())
	}
	vols := f.volumes()
	if len(vols) != 1 {
		t.Fatalf("volumes = %d, want 1", len(vols))
	}
	pv := vols[0]
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	switch {
	case pv.Name != "pvc-uid-data":
		t.Errorf("name = %q", pv.Name)
	case pv.Spec.Local == nil || pv.Spec.Local.Path != wantDir:
		t.Errorf("source = %+v, want local %s", pv.Spec.PersistentVolumeSource, wantDir)
	case size.Cmp(resource.MustParse("2Gi")) != 0:
		t.Errorf("capacity = %v", pv.Spec.Capacity)
	case !slices.Equal(pv.Spec.AccessModes, claim.Spec.AccessModes):
		t.Errorf("access modes = %v", pv.Spec.AccessModes)
	case pv.Spec.StorageClassName != ClassName || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete:
		t.Errorf("class %q policy %q", pv.Spec.StorageClassName, pv.Spec.PersistentVolumeReclaimPolicy)
	case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID || pv.Spec.ClaimRef.Name != "data" || pv.Spec.ClaimRef.Namespace != "work":
		t.Errorf("claimRef = %+v, want reserved for the claim", pv.Spec.ClaimRef)
	case pv.Annotations[annDynamicallyProvisioned] != Name || pv.Annotations[AnnNode] != "node-a":
		t.Errorf("annotations = %v", pv.Annotations)
	case !slices.Equal(pv.Finalizers, []string{Finalizer}):
		t.Errorf("finalizers = %v", pv.Finalizers)
	}
	na := pv.Spec.NodeAffinity
	if na == nil || na.Required == nil || len(na.Required.NodeSelectorTerms) != 1 ||
		!slices.EqualFunc(na.Required.NodeSelectorTerms[0].MatchExpressions, []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"host-a"}}},
			func(a, b corev1.NodeSelectorRequirement) bool {
				return a.Key == b.Key && a.Operator == b.Operator && slices.Equal(a.Values, b.Values)
			}) {
		t.Errorf("node affinity = %+v, want the node's hostname label", na)
	}
	want := []string{`Normal Provisioning External provisioner is provisioning volume for claim "work/data"`, "Normal ProvisioningSucceeded Successfully provisioned volume pvc-uid-data"}
	if ev := f.events(); !slices.Equal(ev, want) {
		t.Errorf("events = %q, want %q", ev, want)
	}

	// Once the volume is in the cache, syncing again makes nothing more.
	f.cache(&pv)
	f.client.ClearActions()
	f.syncClaim("data")
	if w := f.writes(); len(w) != 0 {
		t.Errorf("provisioned twice: %v", w)
	}
}

func TestRetainClass(t *testing.T) {
	f := newFixture(t, []runtime.Object{newClaim("data"), class(storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimRetain)})
	f.syncClaim("data")
	vols := f.volumes()
	if len(vols) != 1 || vols[0].Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || len(vols[0].Finalizers) != 0 {
		t.Fatalf("volumes = %+v, want one retained without finalizer", vols)
	}
	// Without a Node object the node's name stands for its hostname.
	if v := vols[0].Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values; !slices.Equal(v, []string{"node-a"}) {
		t.Errorf("node affinity values = %v", v)
	}
}

func TestWhichClaims(t *testing.T) {
	wffc := class(storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete)
	immediate := class(storagev1.VolumeBindingImmediate, corev1.PersistentVolumeReclaimDelete)
	tests := []struct {
		name      string
		claim     *corev1.PersistentVolumeClaim
		class     *storagev1.StorageClass
		isDefault bool
		want      bool
	}{
		{name: "selected for this node", claim: newClaim("data"), class: wffc, want: true},
		{name: "selected for another node", claim: newClaim("data", annotated(annSelectedNode, "node-b")), class: wffc},
		{name: "no node, not the default", claim: newClaim("data", annotated(annSelectedNode, "")), class: immediate},
		{name: "no node, the default, Immediate", claim: newClaim("data", annotated(annSelectedNode, "")), class: immediate, isDefault: true, want: true},
		{name: "no node, the default, waiting for a consumer", claim: newClaim("data", annotated(annSelectedNode, "")), class: wffc, isDefault: true},
		{name: "only the beta annotation", claim: newClaim("data", annotated(annStorageProvisioner, "")), class: wffc, want: true},
		{name: "another provisioner", claim: newClaim("data", annotated(annStorageProvisioner, "example.com/disk"), annotated(annBetaStorageProvisioner, "")), class: wffc},
		{name: "bound already", claim: newClaim("data", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv" }), class: wffc},
		{name: "being deleted", claim: newClaim("data", func(c *corev1.PersistentVolumeClaim) { c.DeletionTimestamp = &metav1.Time{} }), class: wffc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []fixtureOption
			if tt.isDefault {
				opts = append(opts, isDefault)
			}
			f := newFixture(t, []runtime.Object{tt.claim, tt.class}, opts...)
			f.syncClaim("data")
			if got := len(f.volumes()) == 1; got != tt.want {
				t.Errorf("provisioned = %v, want %v", got, tt.want)
			}
			if got := len(f.entries()) == 1; got != tt.want {
				t.Errorf("directory made = %v, want %v (%v)", got, tt.want, f.entries())
			}
		})
	}
}

func TestUnsupportedClaims(t *testing.T) {
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		event string
	}{
		{name: "ReadWriteMany", claim: newClaim("data", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), event: "local-path volumes only support the ReadWriteOnce and ReadWriteOncePod access modes, not ReadWriteMany"},
		{name: "block", claim: newClaim("data", func(c *corev1.PersistentVolumeClaim) {
			block := corev1.PersistentVolumeBlock
			c.Spec.VolumeMode = &block
		}), event: "volumeMode Block is not supported"},
		{name: "selector", claim: newClaim("data", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}), event: "claim Selector is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, []runtime.Object{tt.claim, StorageClass()})
			f.syncClaim("data")
			if len(f.volumes()) != 0 || len(f.entries()) != 0 {
				t.Errorf("provisioned an unsupported claim: %v", f.entries())
			}
			ev := f.events()
			if len(ev) != 1 || !strings.HasPrefix(ev[0], `Warning ProvisioningFailed failed to provision volume with StorageClass "local-path": `) || !strings.Contains(ev[0], tt.event) {
				t.Errorf("events = %q, want ProvisioningFailed saying %q", ev, tt.event)
			}
		})
	}
}

func TestProvisioningRace(t *testing.T) {
	// Another node's agent made the volume first: this one's directory goes.
	other := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-uid-data",
		Annotations: map[string]string{annDynamicallyProvisioned: Name, AnnNode: "node-b"}}}
	claim := newClaim("data", annotated(annSelectedNode, ""))
	f := newFixture(t, []runtime.Object{claim, class(storagev1.VolumeBindingImmediate, corev1.PersistentVolumeReclaimDelete)}, isDefault)
	if _, err := f.client.CoreV1().PersistentVolumes().Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.syncClaim("data")
	if e := f.entries(); len(e) != 0 {
		t.Errorf("left a directory for another node's volume: %v", e)
	}
}

type pvOption func(*corev1.PersistentVolume)

// provisioned is a volume this provisioner made on node-a for claim work/data,
// Released with reclaimPolicy Delete, unless opts say otherwise. Its directory
// holds a file.
func (f *fixture) provisioned(opts ...pvOption) *corev1.PersistentVolume {
	f.t.Helper()
	dir := filepath.Join(f.dir, "pvc-uid-data_work_data")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "db"), []byte("data"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-uid-data", UID: "pv-uid", ResourceVersion: "3", Finalizers: []string{Finalizer},
			Annotations: map[string]string{annDynamicallyProvisioned: Name, AnnNode: "node-a"}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			ClaimRef:                      &corev1.ObjectReference{Namespace: "work", Name: "data", UID: "uid-data"},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased, LastPhaseTransitionTime: &metav1.Time{Time: released}},
	}
	for _, o := range opts {
		o(pv)
	}
	if _, err := f.client.CoreV1().PersistentVolumes().Create(context.Background(), pv, metav1.CreateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.cache(pv)
	f.client.ClearActions()
	return pv
}

func phase(p corev1.PersistentVolumePhase) pvOption {
	return func(pv *corev1.PersistentVolume) { pv.Status.Phase = p }
}

func deleting(pv *corev1.PersistentVolume) { pv.DeletionTimestamp = &metav1.Time{Time: released} }

func retained(pv *corev1.PersistentVolume) {
	pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
}

func TestCleansUp(t *testing.T) {
	tests := []struct {
		name       string
		opts       []pvOption
		wantDir    bool     // the directory is still there
		wantWrites []string // to the API
	}{
		{name: "Released with Delete: data, then the volume", wantWrites: []string{"update persistentvolumes", "delete persistentvolumes"}},
		{name: "Bound stays", opts: []pvOption{phase(corev1.VolumeBound)}, wantDir: true},
		{name: "Released with Retain stays", opts: []pvOption{retained}, wantDir: true},
		{name: "deleted after release: data, then the finalizer", opts: []pvOption{deleting}, wantWrites: []string{"update persistentvolumes"}},
		{name: "deleted while Bound: kept until its claim goes", opts: []pvOption{deleting, phase(corev1.VolumeBound)}, wantDir: true},
		{name: "deleted with Retain: the finalizer only", opts: []pvOption{deleting, retained}, wantDir: true, wantWrites: []string{"update persistentvolumes"}},
		{name: "another node's volume", opts: []pvOption{func(pv *corev1.PersistentVolume) { pv.Annotations[AnnNode] = "node-b" }}, wantDir: true},
		{name: "another provisioner's volume", opts: []pvOption{func(pv *corev1.PersistentVolume) { pv.Annotations[annDynamicallyProvisioned] = "example.com/x" }}, wantDir: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			pv := f.provisioned(tt.opts...)
			f.syncVolume(pv.Name)
			_, err := os.Stat(pv.Spec.Local.Path)
			if gotDir := err == nil; gotDir != tt.wantDir {
				t.Errorf("directory there = %v, want %v", gotDir, tt.wantDir)
			}
			if w := f.writes(); !slices.Equal(w, tt.wantWrites) {
				t.Errorf("writes = %v, want %v", w, tt.wantWrites)
			}
			for _, a := range f.client.Actions() {
				if a.GetVerb() == "update" {
					if got := a.(interface{ GetObject() runtime.Object }).GetObject().(*corev1.PersistentVolume); slices.Contains(got.Finalizers, Finalizer) {
						t.Errorf("update kept the finalizer")
					}
				}
			}
		})
	}
}

func TestRefusesPathsItDidNotMake(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path func(dir string) string // given the volume directory
	}{
		{name: "a directory elsewhere", path: func(string) string { return outside }},
		{name: "a path climbing out", path: func(dir string) string { return filepath.Join(dir, "..", filepath.Base(outside)) }},
		{name: "Dir itself", path: func(dir string) string { return dir }},
		{name: "a directory in Dir named for another volume", path: func(dir string) string { return filepath.Join(dir, "pvc-other_work_data") }},
		{name: "a link in Dir named for the volume", path: func(dir string) string {
			link := filepath.Join(dir, "pvc-uid-data_work_link")
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			return link
		}},
		{name: "a relative path", path: func(string) string { return "pvc-uid-data_work_data" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			if err := os.MkdirAll(filepath.Join(f.dir, "pvc-other_work_data"), 0o755); err != nil {
				t.Fatal(err)
			}
			pv := f.provisioned(func(pv *corev1.PersistentVolume) { pv.Spec.Local.Path = tt.path(f.dir) })
			f.syncVolume(pv.Name)
			if _, err := os.Stat(filepath.Join(outside, "precious")); err != nil {
				t.Fatalf("removed data outside the volume directory: %v", err)
			}
			for _, p := range []string{f.dir, filepath.Join(f.dir, "pvc-other_work_data"), filepath.Join(f.dir, "pvc-uid-data_work_data")} {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("removed %s: %v", p, err)
				}
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("changed the volume: %v", w)
			}
			if ev := f.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning VolumeFailedDelete refusing to delete") {
				t.Errorf("events = %q", ev)
			}
		})
	}
}

func TestWaitsForPodsUsingTheVolume(t *testing.T) {
	pod := func(created time.Time, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "work", CreationTimestamp: metav1.NewTime(created)},
			Spec: corev1.PodSpec{NodeName: "node-a", Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}},
			Status: corev1.PodStatus{Phase: phase},
		}
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		wantDir bool
	}{
		{name: "a running pod from before the release", pod: pod(released.Add(-time.Hour), corev1.PodRunning), wantDir: true},
		{name: "a pod made after the release", pod: pod(released.Add(time.Minute), corev1.PodPending)},
		{name: "a finished pod", pod: pod(released.Add(-time.Hour), corev1.PodSucceeded)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, []runtime.Object{tt.pod})
			pv := f.provisioned()
			f.syncVolume(pv.Name)
			_, err := os.Stat(pv.Spec.Local.Path)
			if gotDir := err == nil; gotDir != tt.wantDir {
				t.Errorf("directory there = %v, want %v", gotDir, tt.wantDir)
			}
		})
	}

	t.Run("the pod's end queues the volume", func(t *testing.T) {
		f := newFixture(t, nil)
		pv := f.provisioned()
		f.p.podGone(pod(released, corev1.PodRunning))
		if key, _ := f.p.volumeQueue.Get(); key != pv.Name {
			t.Errorf("queued %q, want %q", key, pv.Name)
		}
	})
}

func TestEnsureStorageClass(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	if err := EnsureStorageClass(ctx, client); err != nil {
		t.Fatal(err)
	}
	got, err := client.StorageV1().StorageClasses().Get(ctx, ClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Provisioner != Name || got.Annotations[annDefaultClass] != "true" || *got.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		*got.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Errorf("class = %+v", got)
	}

	// A class the administrator changed is theirs.
	got.Annotations[annDefaultClass] = "false"
	if _, err := client.StorageV1().StorageClasses().Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStorageClass(ctx, client); err != nil {
		t.Fatal(err)
	}
	if got, _ := client.StorageV1().StorageClasses().Get(ctx, ClassName, metav1.GetOptions{}); got.Annotations[annDefaultClass] != "false" {
		t.Errorf("an existing class was overwritten")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	client := fake.NewClientset()
	for name, cfg := range map[string]Config{
		"no client":    {NodeName: "n", Dir: "/srv"},
		"no node":      {Client: client, Dir: "/srv"},
		"relative dir": {Client: client, NodeName: "n", Dir: "storage"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDirNameFitsAFileName(t *testing.T) {
	claim := newClaim(strings.Repeat("n", 253))
	claim.Namespace, claim.UID = strings.Repeat("s", 63), "0b9c2a8e-5f43-4c1e-9d51-3a7e6f0c2b14"
	name := dirName("pvc-"+string(claim.UID), claim)
	if len(name) != maxNameLen || !strings.HasPrefix(name, "pvc-"+string(claim.UID)+"_"+claim.Namespace+"_nnn") {
		t.Errorf("dirName = %q (%d bytes)", name, len(name))
	}
	if got := dirName("pvc-1", newClaim("data")); got != "pvc-1_work_data" {
		t.Errorf("dirName = %q", got)
	}
}
