package persistentvolume

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"berth.dev/berth/orchestrator/admission/storageclass"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture is a binder whose informer caches are seeded by hand, over a fake API
// holding the same objects.
type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	factory  informers.SharedInformerFactory
	recorder *record.FakeRecorder
	c        *Controller
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := &fixture{t: t, client: client, factory: informers.NewSharedInformerFactory(client, 0), recorder: record.NewFakeRecorder(100)}
	f.c = New(client, f.factory, f.recorder, WithClock(func() time.Time { return now }))
	t.Cleanup(f.c.claimQueue.ShutDown)
	t.Cleanup(f.c.volumeQueue.ShutDown)
	f.cache(objs...)
	client.ClearActions()
	return f
}

// cache puts objects in the informer caches, as watch events would.
func (f *fixture) cache(objs ...runtime.Object) {
	f.t.Helper()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.PersistentVolume:
			err = f.factory.Core().V1().PersistentVolumes().Informer().GetIndexer().Update(o)
		case *corev1.PersistentVolumeClaim:
			err = f.factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(o)
		case *storagev1.StorageClass:
			err = f.factory.Storage().V1().StorageClasses().Informer().GetIndexer().Update(o)
		case *corev1.Pod:
			err = f.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
		case *corev1.Node:
			err = f.factory.Core().V1().Nodes().Informer().GetIndexer().Update(o)
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
	if err := f.c.syncClaim(context.Background(), "work/"+name); err != nil {
		f.t.Fatalf("syncing claim %s: %v", name, err)
	}
}

func (f *fixture) syncVolume(name string) {
	f.t.Helper()
	if err := f.c.syncVolume(context.Background(), name); err != nil {
		f.t.Fatalf("syncing volume %s: %v", name, err)
	}
}

// claim reads a claim from the fake API and caches it, as the informer would.
func (f *fixture) claim(name string) *corev1.PersistentVolumeClaim {
	f.t.Helper()
	c, err := f.client.CoreV1().PersistentVolumeClaims("work").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cache(c)
	return c
}

// volume reads a volume from the fake API and caches it.
func (f *fixture) volume(name string) *corev1.PersistentVolume {
	f.t.Helper()
	pv, err := f.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cache(pv)
	return pv
}

// events drains the events recorded so far.
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

// writes lists the verbs and resources the binder wrote, as "update persistentvolumes/status".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		w := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			w += "/" + a.GetSubresource()
		}
		out = append(out, w)
	}
	return out
}

func newClass(name, provisioner string, mode storagev1.VolumeBindingMode, isDefault bool) *storagev1.StorageClass {
	c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
	if isDefault {
		c.Annotations = map[string]string{storageclass.AnnDefault: "true"}
	}
	return c
}

func newPod(name, node string, claims ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "work", CreationTimestamp: metav1.NewTime(now)}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

func TestBindsTheBestMatch(t *testing.T) {
	claim := newClaim("data", "2Gi")
	modes := pvModes(corev1.ReadWriteOnce, corev1.ReadOnlyMany)
	f := newFixture(t, claim, newPV("small", "1Gi", modes), newPV("big", "10Gi", modes), newPV("mid", "5Gi", modes))
	f.syncClaim("data")

	pv := f.volume("mid")
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Namespace != "work" || ref.Name != "data" || ref.UID != claim.UID || ref.Kind != "PersistentVolumeClaim" {
		t.Fatalf("claimRef of mid = %+v", pv.Spec.ClaimRef)
	}
	if pv.Annotations[AnnBoundByController] != "yes" {
		t.Errorf("volume annotations = %v, want %s", pv.Annotations, AnnBoundByController)
	}
	if pv.Status.Phase != corev1.VolumeBound || pv.Status.LastPhaseTransitionTime == nil || !pv.Status.LastPhaseTransitionTime.Time.Equal(now) {
		t.Errorf("volume status = %+v, want Bound at %v", pv.Status, now)
	}
	got := f.claim("data")
	if got.Spec.VolumeName != "mid" || got.Annotations[AnnBindCompleted] != "yes" || got.Annotations[AnnBoundByController] != "yes" {
		t.Errorf("claim volumeName %q annotations %v", got.Spec.VolumeName, got.Annotations)
	}
	size := got.Status.Capacity[corev1.ResourceStorage]
	if got.Status.Phase != corev1.ClaimBound || size.Cmp(resource.MustParse("5Gi")) != 0 ||
		!slices.Equal(got.Status.AccessModes, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany}) {
		t.Errorf("claim status = %+v, want Bound with the volume's 5Gi and access modes", got.Status)
	}
	for _, other := range []string{"small", "big"} {
		if pv := f.volume(other); pv.Spec.ClaimRef != nil {
			t.Errorf("volume %s was claimed too", other)
		}
	}
	want := []string{"update persistentvolumes", "update persistentvolumes/status", "update persistentvolumeclaims", "update persistentvolumeclaims/status"}
	if w := f.writes(); !slices.Equal(w, want) {
		t.Errorf("writes = %v, want %v", w, want)
	}

	// Syncing the bound pair again writes nothing.
	f.client.ClearActions()
	f.syncClaim("data")
	f.syncVolume("mid")
	if w := f.writes(); len(w) != 0 {
		t.Errorf("a settled binding was written again: %v", w)
	}
}

func TestNoMatch(t *testing.T) {
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		objs  []runtime.Object
		event string
	}{
		{name: "nothing large enough and no class",
			claim: newClaim("data", "20Gi"), objs: []runtime.Object{newPV("pv", "10Gi")},
			event: "Normal FailedBinding no persistent volumes available for this claim and no storage class is set"},
		{name: "another class only",
			claim: newClaim("data", "1Gi", claimClassName("manual")),
			objs:  []runtime.Object{newPV("pv", "10Gi"), newClass("manual", NotSupportedProvisioner, storagev1.VolumeBindingImmediate, false)},
			event: "Warning ProvisioningFailed no volume plugin matched name: kubernetes.io/no-provisioner"},
		{name: "a class that does not exist",
			claim: newClaim("data", "1Gi", claimClassName("fast")), objs: []runtime.Object{newPV("pv", "10Gi", pvClass("slow"))},
			event: `Warning ProvisioningFailed storageclass.storage.k8s.io "fast" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.claim.Status.Phase = ""
			f := newFixture(t, append(tt.objs, tt.claim)...)
			f.syncClaim("data")
			got := f.claim("data")
			if got.Spec.VolumeName != "" || got.Status.Phase != corev1.ClaimPending {
				t.Errorf("claim volumeName %q phase %q, want unbound and Pending", got.Spec.VolumeName, got.Status.Phase)
			}
			if hasAnnotation(got.ObjectMeta, AnnStorageProvisioner) {
				t.Errorf("claim handed to a provisioner: %v", got.Annotations)
			}
			if ev := f.events(); !slices.Contains(ev, tt.event) {
				t.Errorf("events = %q, want %q", ev, tt.event)
			}
			if pv := f.volume("pv"); pv.Spec.ClaimRef != nil {
				t.Errorf("volume claimed: %+v", pv.Spec.ClaimRef)
			}
		})
	}
}

func TestPreBinding(t *testing.T) {
	t.Run("a claim naming a volume gets it, not the best fit", func(t *testing.T) {
		f := newFixture(t, newClaim("data", "1Gi", claimVolume("big"), claimSelector("x", "y")), newPV("small", "1Gi"), newPV("big", "10Gi"))
		f.syncClaim("data")
		pv, claim := f.volume("big"), f.claim("data")
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != claim.UID || pv.Annotations[AnnBoundByController] != "yes" {
			t.Errorf("volume claimRef %+v annotations %v", pv.Spec.ClaimRef, pv.Annotations)
		}
		// The user chose the volume: the claim's half is not the binder's.
		if claim.Status.Phase != corev1.ClaimBound || hasAnnotation(claim.ObjectMeta, AnnBoundByController) || claim.Annotations[AnnBindCompleted] != "yes" {
			t.Errorf("claim phase %q annotations %v", claim.Status.Phase, claim.Annotations)
		}
	})
	t.Run("a claim naming a volume too small for it stays Pending", func(t *testing.T) {
		f := newFixture(t, newClaim("data", "5Gi", claimVolume("small")), newPV("small", "1Gi"))
		f.syncClaim("data")
		if pv := f.volume("small"); pv.Spec.ClaimRef != nil {
			t.Errorf("bound a volume too small: %+v", pv.Spec.ClaimRef)
		}
		if ev := f.events(); !slices.Contains(ev, `Warning VolumeMismatch Cannot bind to requested volume "small": requested PV is too small`) {
			t.Errorf("events = %q", ev)
		}
	})
	t.Run("a claim naming a volume another claim holds waits", func(t *testing.T) {
		f := newFixture(t, newClaim("data", "1Gi", claimVolume("pv")), newPV("pv", "1Gi", pvClaimRef("work", "other", "uid-other"), pvPhase(corev1.VolumeBound)))
		f.syncClaim("data")
		if pv := f.volume("pv"); pv.Spec.ClaimRef.Name != "other" {
			t.Errorf("took the volume from its claim: %+v", pv.Spec.ClaimRef)
		}
		if ev := f.events(); !slices.Contains(ev, `Warning FailedBinding volume "pv" already bound to a different claim.`) {
			t.Errorf("events = %q", ev)
		}
	})
	t.Run("a volume reserved for a claim gets it", func(t *testing.T) {
		f := newFixture(t, newClaim("data", "1Gi"), newPV("small", "1Gi"), newPV("reserved", "10Gi", pvClaimRef("work", "data", "")))
		f.syncClaim("data")
		pv, claim := f.volume("reserved"), f.claim("data")
		if pv.Spec.ClaimRef.UID != claim.UID || hasAnnotation(pv.ObjectMeta, AnnBoundByController) || pv.Status.Phase != corev1.VolumeBound {
			t.Errorf("volume claimRef %+v annotations %v phase %q", pv.Spec.ClaimRef, pv.Annotations, pv.Status.Phase)
		}
		if claim.Spec.VolumeName != "reserved" || claim.Annotations[AnnBoundByController] != "yes" {
			t.Errorf("claim volumeName %q annotations %v", claim.Spec.VolumeName, claim.Annotations)
		}
		if pv := f.volume("small"); pv.Spec.ClaimRef != nil {
			t.Errorf("the smaller volume was claimed too")
		}
	})
	t.Run("a volume reserved for a claim that does not exist yet is Available", func(t *testing.T) {
		f := newFixture(t, newPV("reserved", "1Gi", pvClaimRef("work", "later", ""), pvPhase(corev1.VolumePending)))
		f.syncVolume("reserved")
		if pv := f.volume("reserved"); pv.Status.Phase != corev1.VolumeAvailable || pv.Spec.ClaimRef == nil {
			t.Errorf("volume phase %q claimRef %+v", pv.Status.Phase, pv.Spec.ClaimRef)
		}
	})
}

func TestProvisionedVolumeIsBound(t *testing.T) {
	claim := newClaim("data", "1Gi", claimClassName("local"), claimAnnotation(AnnStorageProvisioner, "berth.dev/local-path"))
	pv := newPV("pvc-uid-data", "1Gi", pvClass("local"), pvReclaim(corev1.PersistentVolumeReclaimDelete), pvPhase(corev1.VolumePending),
		pvClaimRef("work", "data", claim.UID), pvAnnotation(AnnDynamicallyProvisioned, "berth.dev/local-path"))
	f := newFixture(t, claim, pv, newClass("local", "berth.dev/local-path", storagev1.VolumeBindingImmediate, true))
	f.syncVolume(pv.Name)
	if key, _ := f.c.claimQueue.Get(); key != "work/data" {
		t.Fatalf("the volume's sync queued %q, want its claim", key)
	}
	f.syncClaim("data")
	got, gotPV := f.claim("data"), f.volume(pv.Name)
	if got.Spec.VolumeName != pv.Name || got.Status.Phase != corev1.ClaimBound || gotPV.Status.Phase != corev1.VolumeBound {
		t.Errorf("claim %q/%q volume %q", got.Spec.VolumeName, got.Status.Phase, gotPV.Status.Phase)
	}
	if hasAnnotation(gotPV.ObjectMeta, AnnBoundByController) {
		t.Errorf("the provisioner's reservation was marked as the binder's")
	}
}

func TestProvisioning(t *testing.T) {
	const waiting = "Normal ExternalProvisioning Waiting for a volume to be created either by the external provisioner 'example.com/disk' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
	f := newFixture(t, newClaim("data", "1Gi", claimClassName("disk")), newPV("pv", "10Gi", pvClass("other")),
		newClass("disk", "example.com/disk", storagev1.VolumeBindingImmediate, false))
	f.syncClaim("data")
	got := f.claim("data")
	if got.Annotations[AnnStorageProvisioner] != "example.com/disk" || got.Annotations[AnnBetaStorageProvisioner] != "example.com/disk" {
		t.Errorf("claim annotations = %v", got.Annotations)
	}
	if hasAnnotation(got.ObjectMeta, AnnSelectedNode) {
		t.Errorf("an Immediate claim was given a node: %v", got.Annotations)
	}
	if got.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim phase = %q", got.Status.Phase)
	}
	if ev := f.events(); !slices.Contains(ev, waiting) {
		t.Errorf("events = %q, want %q", ev, waiting)
	}
}

func TestDefaultClass(t *testing.T) {
	f := newFixture(t, newClaim("data", "1Gi"), newClass("local-path", "berth.dev/local-path", storagev1.VolumeBindingImmediate, true))
	f.syncClaim("data")
	got := f.claim("data")
	if ptr.Deref(got.Spec.StorageClassName, "") != "local-path" {
		t.Fatalf("storageClassName = %v, want the default local-path", got.Spec.StorageClassName)
	}
	f.syncClaim("data")
	if got := f.claim("data"); got.Annotations[AnnStorageProvisioner] != "berth.dev/local-path" {
		t.Errorf("annotations = %v, want it handed to the default class's provisioner", got.Annotations)
	}

	t.Run("a claim asking for no class keeps it", func(t *testing.T) {
		f := newFixture(t, newClaim("data", "1Gi", claimClassName("")), newClass("local-path", "berth.dev/local-path", storagev1.VolumeBindingImmediate, true))
		f.syncClaim("data")
		got := f.claim("data")
		if *got.Spec.StorageClassName != "" || hasAnnotation(got.ObjectMeta, AnnStorageProvisioner) {
			t.Errorf("class %q annotations %v", *got.Spec.StorageClassName, got.Annotations)
		}
		if ev := f.events(); !slices.Contains(ev, "Normal FailedBinding no persistent volumes available for this claim and no storage class is set") {
			t.Errorf("events = %q", ev)
		}
	})
}

func TestWaitForFirstConsumer(t *testing.T) {
	wffc := newClass("local", "berth.dev/local-path", storagev1.VolumeBindingWaitForFirstConsumer, false)
	claim := func(opts ...claimOption) *corev1.PersistentVolumeClaim {
		return newClaim("data", "1Gi", append([]claimOption{claimClassName("local")}, opts...)...)
	}
	nodeA := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelHostname: "node-a"}}}
	tests := []struct {
		name         string
		objs         []runtime.Object
		event        string // one of the events, "" for any
		wantVolume   string
		wantNode     string // the claim's selected-node afterwards
		wantProvider bool   // handed to the provisioner
	}{
		{name: "no pod yet", objs: []runtime.Object{claim(), newPV("free", "1Gi", pvClass("local"))},
			event: "Normal WaitForFirstConsumer waiting for first consumer to be created before binding"},
		{name: "a pod not scheduled yet", objs: []runtime.Object{claim(), newPod("web-0", "", "data")},
			event: "Normal WaitForPodScheduled waiting for pod web-0 to be scheduled"},
		{name: "a scheduled pod selects its node for provisioning", objs: []runtime.Object{claim(), newPod("web-0", "node-a", "data"), nodeA},
			wantNode: "node-a", wantProvider: true},
		{name: "a scheduled pod gets a volume its node can reach", objs: []runtime.Object{claim(), newPod("web-0", "node-a", "data"), nodeA,
			newPV("on-b", "1Gi", pvClass("local"), pvOnNode("node-b")), newPV("on-a", "5Gi", pvClass("local"), pvOnNode("node-a"))},
			wantVolume: "on-a"},
		{name: "a node selected by the scheduler", objs: []runtime.Object{claim(claimAnnotation(AnnSelectedNode, "node-a")), nodeA,
			newPV("on-b", "1Gi", pvClass("local"), pvOnNode("node-b"))},
			wantNode: "node-a", wantProvider: true},
		{name: "a finished pod is no consumer", objs: []runtime.Object{claim(), func() *corev1.Pod {
			p := newPod("job-1", "node-a", "data")
			p.Status.Phase = corev1.PodSucceeded
			return p
		}()}, event: "Normal WaitForFirstConsumer waiting for first consumer to be created before binding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, append(tt.objs, wffc)...)
			f.syncClaim("data")
			got := f.claim("data")
			if got.Spec.VolumeName != tt.wantVolume {
				t.Errorf("volumeName = %q, want %q", got.Spec.VolumeName, tt.wantVolume)
			}
			if n := got.Annotations[AnnSelectedNode]; n != tt.wantNode {
				t.Errorf("selected node = %q, want %q", n, tt.wantNode)
			}
			if p := hasAnnotation(got.ObjectMeta, AnnStorageProvisioner); p != tt.wantProvider {
				t.Errorf("handed to the provisioner: %v, want %v (annotations %v)", p, tt.wantProvider, got.Annotations)
			}
			if ev := f.events(); tt.event != "" && !slices.Contains(ev, tt.event) {
				t.Errorf("events = %q, want %q", ev, tt.event)
			}
		})
	}
}

func TestClaimGone(t *testing.T) {
	bound := func(name string, opts ...pvOption) *corev1.PersistentVolume {
		return newPV(name, "1Gi", append([]pvOption{pvClaimRef("work", "data", "uid-data"), pvPhase(corev1.VolumeBound)}, opts...)...)
	}
	tests := []struct {
		name      string
		pv        *corev1.PersistentVolume
		objs      []runtime.Object
		wantPhase corev1.PersistentVolumePhase
		event     string
	}{
		{name: "Retain keeps the volume Released", pv: bound("pv"), wantPhase: corev1.VolumeReleased},
		{name: "Delete of a provisioned volume is left to its provisioner",
			pv:        bound("pv", pvReclaim(corev1.PersistentVolumeReclaimDelete), pvAnnotation(AnnDynamicallyProvisioned, "berth.dev/local-path")),
			wantPhase: corev1.VolumeReleased},
		{name: "Delete of a volume made by hand fails",
			pv:        bound("pv", pvReclaim(corev1.PersistentVolumeReclaimDelete)),
			wantPhase: corev1.VolumeFailed,
			event:     `Warning VolumeFailedDelete error getting deleter volume plugin for volume "pv": no deletable volume plugin matched`},
		{name: "Recycle is not supported",
			pv:        bound("pv", pvReclaim(corev1.PersistentVolumeReclaimRecycle)),
			wantPhase: corev1.VolumeFailed,
			event:     "Warning VolumeFailedRecycle No recycler plugin found for the volume!"},
		{name: "a new claim of the same name does not hold the volume",
			pv: bound("pv"), objs: []runtime.Object{newClaim("data", "1Gi")}, wantPhase: corev1.VolumeReleased},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, o := range tt.objs {
				if c, ok := o.(*corev1.PersistentVolumeClaim); ok {
					c.UID = "uid-new"
				}
			}
			f := newFixture(t, append(tt.objs, tt.pv)...)
			f.syncVolume("pv")
			pv := f.volume("pv")
			if pv.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %q, want %q", pv.Status.Phase, tt.wantPhase)
			}
			if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != "uid-data" {
				t.Errorf("claimRef = %+v, want it kept for the administrator", pv.Spec.ClaimRef)
			}
			if ev := f.events(); tt.event != "" && !slices.Contains(ev, tt.event) {
				t.Errorf("events = %q, want %q", ev, tt.event)
			}
			for _, w := range f.writes() {
				if strings.HasPrefix(w, "delete") {
					t.Errorf("the binder deleted something: %v", w)
				}
			}
		})
	}
}

func TestClaimMissingFromCacheOnlyIsNotReleased(t *testing.T) {
	// The claim is in the API but not yet in the cache: releasing the volume
	// would hand its data to the provisioner for deletion.
	claim := newClaim("data", "1Gi", claimVolume("pv"))
	pv := newPV("pv", "1Gi", pvClaimRef("work", "data", claim.UID), pvPhase(corev1.VolumeBound), pvReclaim(corev1.PersistentVolumeReclaimDelete),
		pvAnnotation(AnnDynamicallyProvisioned, "berth.dev/local-path"))
	f := newFixture(t, pv)
	if _, err := f.client.CoreV1().PersistentVolumeClaims("work").Create(context.Background(), claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.syncVolume("pv")
	if got := f.volume("pv"); got.Status.Phase != corev1.VolumeBound {
		t.Errorf("phase = %q, want Bound", got.Status.Phase)
	}
}

func TestClaimBoundElsewhere(t *testing.T) {
	claim := newClaim("data", "1Gi", claimVolume("other"), claimAnnotation(AnnBindCompleted, "yes"))
	t.Run("the binder's own binding is undone", func(t *testing.T) {
		f := newFixture(t, claim, newPV("pv", "1Gi", pvClaimRef("work", "data", claim.UID), pvAnnotation(AnnBoundByController, "yes"), pvPhase(corev1.VolumeBound)))
		f.syncVolume("pv")
		pv := f.volume("pv")
		if pv.Spec.ClaimRef != nil || hasAnnotation(pv.ObjectMeta, AnnBoundByController) || pv.Status.Phase != corev1.VolumeAvailable {
			t.Errorf("claimRef %+v annotations %v phase %q, want a free Available volume", pv.Spec.ClaimRef, pv.Annotations, pv.Status.Phase)
		}
	})
	t.Run("a user's reservation is kept without the UID", func(t *testing.T) {
		f := newFixture(t, claim, newPV("pv", "1Gi", pvClaimRef("work", "data", claim.UID), pvPhase(corev1.VolumeBound)))
		f.syncVolume("pv")
		pv := f.volume("pv")
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name != "data" || pv.Spec.ClaimRef.UID != "" || pv.Status.Phase != corev1.VolumeAvailable {
			t.Errorf("claimRef %+v phase %q, want reserved by name and Available", pv.Spec.ClaimRef, pv.Status.Phase)
		}
	})
	t.Run("a provisioned volume with Delete is released", func(t *testing.T) {
		f := newFixture(t, claim, newPV("pv", "1Gi", pvClaimRef("work", "data", claim.UID), pvReclaim(corev1.PersistentVolumeReclaimDelete),
			pvAnnotation(AnnDynamicallyProvisioned, "berth.dev/local-path"), pvPhase(corev1.VolumePending)))
		f.syncVolume("pv")
		if pv := f.volume("pv"); pv.Status.Phase != corev1.VolumeReleased {
			t.Errorf("phase %q, want Released", pv.Status.Phase)
		}
	})
}

func TestLost(t *testing.T) {
	bound := func(opts ...claimOption) *corev1.PersistentVolumeClaim {
		c := newClaim("data", "1Gi", append([]claimOption{claimVolume("pv"), claimAnnotation(AnnBindCompleted, "yes")}, opts...)...)
		c.Status.Phase = corev1.ClaimBound
		c.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
		return c
	}
	tests := []struct {
		name  string
		objs  []runtime.Object
		event string
	}{
		{name: "its volume is gone", objs: []runtime.Object{bound()},
			event: "Warning ClaimLost Bound claim has lost its PersistentVolume. Data on the volume is lost!"},
		{name: "it lost its volumeName", objs: []runtime.Object{bound(claimVolume(""))},
			event: "Warning ClaimLost Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"},
		{name: "its volume belongs to another claim", objs: []runtime.Object{bound(), newPV("pv", "1Gi", pvClaimRef("work", "other", "uid-other"))},
			event: "Warning ClaimMisbound Two claims are bound to the same volume, this one is bound incorrectly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.objs...)
			f.syncClaim("data")
			got := f.claim("data")
			if got.Status.Phase != corev1.ClaimLost || got.Status.Capacity != nil {
				t.Errorf("status = %+v, want Lost without capacity", got.Status)
			}
			if ev := f.events(); !slices.Equal(ev, []string{tt.event}) {
				t.Errorf("events = %q, want %q", ev, tt.event)
			}
			f.syncClaim("data")
			if ev := f.events(); len(ev) != 0 {
				t.Errorf("a Lost claim's sync recorded again: %q", ev)
			}
		})
	}
}

func TestHandlersQueue(t *testing.T) {
	pending, bound := newClaim("pending", "1Gi"), newClaim("bound", "1Gi", claimVolume("pv"), claimAnnotation(AnnBindCompleted, "yes"))
	provisioned := newPV("pvc-uid-pending", "1Gi", pvClaimRef("work", "pending", pending.UID))
	f := newFixture(t, pending, bound, provisioned)
	drain := func(q interface {
		Len() int
		Get() (string, bool)
		Done(string)
	}) []string {
		var keys []string
		for q.Len() > 0 {
			k, _ := q.Get()
			q.Done(k)
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	drain(f.c.claimQueue)
	drain(f.c.volumeQueue)

	f.c.volumeChanged(newPV("new", "1Gi"))
	if got := drain(f.c.claimQueue); !slices.Equal(got, []string{"work/pending"}) {
		t.Errorf("a free volume queued claims %v, want the unbound one", got)
	}
	if got := drain(f.c.volumeQueue); !slices.Equal(got, []string{"new"}) {
		t.Errorf("a changed volume queued volumes %v, want itself", got)
	}
	f.c.claimDeleted(pending)
	if got := drain(f.c.volumeQueue); !slices.Equal(got, []string{provisioned.Name}) {
		t.Errorf("a deleted claim queued volumes %v, want the one made for it", got)
	}
	f.c.podChanged(newPod("web-0", "node-a", "pending", "bound"))
	if got := drain(f.c.claimQueue); !slices.Equal(got, []string{"work/pending"}) {
		t.Errorf("a scheduled pod queued claims %v, want its unbound one", got)
	}
}
