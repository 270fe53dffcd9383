package volume

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

type fakeObjects struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	claims     map[string]*corev1.PersistentVolumeClaim
	volumes    map[string]*corev1.PersistentVolume
}

func (f *fakeObjects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if v, ok := f.configMaps[ns+"/"+name]; ok {
		return v, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

func (f *fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if v, ok := f.secrets[ns+"/"+name]; ok {
		return v, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func (f *fakeObjects) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if v, ok := f.claims[ns+"/"+name]; ok {
		return v, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), name)
}

func (f *fakeObjects) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	if v, ok := f.volumes[name]; ok {
		return v, nil
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumes"), name)
}

type fakeTokens struct {
	clock    *clocktesting.FakeClock
	requests []string // namespace/account audience
}

func (f *fakeTokens) CreateToken(_ context.Context, ns, sa string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if ref := req.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.Name != "p" || ref.UID != "uid-1" {
		return nil, errors.New("token not bound to the pod")
	}
	f.requests = append(f.requests, ns+"/"+sa+" "+strings.Join(req.Spec.Audiences, ","))
	out := req.DeepCopy()
	out.Status.Token = "token-" + string(rune('0'+len(f.requests)))
	out.Status.ExpirationTimestamp = metav1.NewTime(f.clock.Now().Add(time.Duration(*req.Spec.ExpirationSeconds) * time.Second))
	return out, nil
}

func ptr[T any](v T) *T { return &v }

// readVolume reads a volume's user-visible files (following the symlinks).
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		err := filepath.Walk(filepath.Join(dir, e.Name())+"/", func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, filepath.Clean(p))
			out[rel] = fi.Mode().Perm().String() + " " + string(b)
			return err
		})
		if err != nil {
			// Not a directory: a file through its symlink.
			fi, err := os.Stat(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			out[e.Name()] = fi.Mode().Perm().String() + " " + string(b)
		}
	}
	return out
}

func newTestManager(t *testing.T, objs *fakeObjects, tmpfs bool) (*Manager, *fakeTokens, string) {
	t.Helper()
	pods := t.TempDir()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	tokens := &fakeTokens{clock: clk}
	m, err := NewManager(Config{
		PodsDir: pods, Objects: objs, Tokens: tokens, Tmpfs: tmpfs, Clock: clk,
		NodeAllocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A safety net: the tests tear down themselves.
		if err := unmountUnder(pods); err != nil {
			t.Errorf("cleaning up mounts: %v", err)
		}
	})
	return m, tokens, pods
}

func testPod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "p", UID: "uid-1",
			Labels: map[string]string{"app": "web"},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")},
			}}},
			Volumes: vols,
		},
	}
}

func testObjects() *fakeObjects {
	return &fakeObjects{
		configMaps: map[string]*corev1.ConfigMap{
			"ns/cfg":              {Data: map[string]string{"a": "A", "b": "B"}, BinaryData: map[string][]byte{"bin": {0, 1}}},
			"ns/kube-root-ca.crt": {Data: map[string]string{"ca.crt": "CA"}},
		},
		secrets: map[string]*corev1.Secret{"ns/sec": {Data: map[string][]byte{"pw": []byte("hunter2"), "user": []byte("me")}}},
	}
}

func TestSetUpFiles(t *testing.T) {
	tests := []struct {
		name    string
		vol     corev1.VolumeSource
		want    map[string]string
		wantErr string
	}{
		{
			name: "configMap, all keys",
			vol:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			want: map[string]string{"a": "-rw-r--r-- A", "b": "-rw-r--r-- B", "bin": "-rw-r--r-- \x00\x01"},
		},
		{
			name: "configMap, items and modes",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr[int32](0o600),
				Items: []corev1.KeyToPath{{Key: "a", Path: "dir/a.txt"}, {Key: "b", Path: "b", Mode: ptr[int32](0o444)}},
			}},
			want: map[string]string{"dir/a.txt": "-rw------- A", "b": "-r--r--r-- B"},
		},
		{
			name: "configMap, missing item key",
			vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "zz", Path: "z"}},
			}},
			wantErr: `MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: zz`,
		},
		{
			name:    "configMap missing",
			vol:     corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}},
			wantErr: `MountVolume.SetUp failed for volume "v" : configmap "x" not found`,
		},
		{
			name: "configMap missing, optional",
			vol:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Optional: ptr(true)}},
			want: map[string]string{},
		},
		{
			name: "secret",
			vol:  corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptr[int32](0o400)}},
			want: map[string]string{"pw": "-r-------- hunter2", "user": "-r-------- me"},
		},
		{
			name:    "secret missing",
			vol:     corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}},
			wantErr: `MountVolume.SetUp failed for volume "v" : secret "x" not found`,
		},
		{
			name: "downwardAPI",
			vol: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr[int32](0o400)},
				{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
				{Path: "req", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}},
			}}},
			want: map[string]string{"labels": `-rw-r--r-- app="web"`, "name": "-r-------- p", "mem": "-rw-r--r-- 1024", "req": "-rw-r--r-- 16"},
		},
		{
			name: "projected service account volume",
			vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr[int32](0o644), Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr[int64](3607)}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Items: []corev1.KeyToPath{{Key: "user", Path: "creds/user", Mode: ptr[int32](0o600)}}}},
			}}},
			want: map[string]string{"token": "-rw-r--r-- token-1", "ca.crt": "-rw-r--r-- CA", "namespace": "-rw-r--r-- ns", "creds/user": "-rw------- me"},
		},
		{
			name: "projected, two missing sources",
			vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "y"}}},
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "z"}, Optional: ptr(true)}},
			}}},
			wantErr: `MountVolume.SetUp failed for volume "v" : [configmap "x" not found, secret "y" not found]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := newTestManager(t, testObjects(), false)
			pod := testPod(corev1.Volume{Name: "v", VolumeSource: tc.vol})
			paths, err := m.SetUp(context.Background(), pod)
			defer func() {
				if err := m.TearDown(context.Background(), pod.UID); err != nil {
					t.Error(err)
				}
			}()
			if tc.wantErr != "" {
				var me *MountError
				if !errors.As(err, &me) || me.Volume != "v" || me.Error() != tc.wantErr {
					t.Fatalf("error = %v, want a MountError %q", err, tc.wantErr)
				}
				if _, ok := paths["v"]; ok {
					t.Errorf("failed volume has a path")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, readVolume(t, paths["v"])); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetUpUpdatesInPlace(t *testing.T) {
	objs := testObjects()
	m, tokens, pods := newTestManager(t, objs, false)
	pod := testPod(
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "late"}}}},
		corev1.Volume{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "api", ExpirationSeconds: ptr[int64](3600)}},
		}}}},
	)
	ctx := context.Background()
	defer func() {
		if err := m.TearDown(ctx, pod.UID); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(filepath.Join(pods, "uid-1")); !os.IsNotExist(err) {
			t.Errorf("pod directory left behind: %v", err)
		}
	}()

	// The ConfigMap does not exist yet: the other volume is set up regardless.
	paths, err := m.SetUp(ctx, pod)
	if err == nil || err.Error() != `MountVolume.SetUp failed for volume "cfg" : configmap "late" not found` {
		t.Fatalf("error = %v", err)
	}
	if got := readVolume(t, paths["tok"]); got["token"] != "-rw-r--r-- token-1" {
		t.Fatalf("token volume = %v", got)
	}

	steps := []struct {
		name      string
		data      string
		advance   time.Duration
		wantCfg   string
		wantToken string
	}{
		{name: "configmap appears", data: "v1", wantCfg: "-rw-r--r-- v1", wantToken: "-rw-r--r-- token-1"},
		{name: "configmap changes, token still fresh", data: "v2", advance: 47 * time.Minute, wantCfg: "-rw-r--r-- v2", wantToken: "-rw-r--r-- token-1"},
		{name: "token past 80% of its life is renewed", data: "v2", advance: 2 * time.Minute, wantCfg: "-rw-r--r-- v2", wantToken: "-rw-r--r-- token-2"},
	}
	var cfgDir string
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			objs.configMaps["ns/late"] = &corev1.ConfigMap{Data: map[string]string{"k": st.data}}
			tokens.clock.Step(st.advance)
			paths, err := m.SetUp(ctx, pod)
			if err != nil {
				t.Fatal(err)
			}
			if cfgDir != "" && paths["cfg"] != cfgDir {
				t.Errorf("volume moved from %s to %s", cfgDir, paths["cfg"])
			}
			cfgDir = paths["cfg"]
			if got := readVolume(t, paths["cfg"])["k"]; got != st.wantCfg {
				t.Errorf("cfg k = %q, want %q", got, st.wantCfg)
			}
			if got := readVolume(t, paths["tok"])["token"]; got != st.wantToken {
				t.Errorf("token = %q, want %q", got, st.wantToken)
			}
		})
	}
	if want := []string{"ns/builder api", "ns/builder api"}; !cmp.Equal(tokens.requests, want) {
		t.Errorf("token requests = %v, want %v", tokens.requests, want)
	}
}

func TestHostPathTypes(t *testing.T) {
	base := t.TempDir()
	mustWrite := func(p string) string {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	file := mustWrite(filepath.Join(base, "file"))
	dir := filepath.Join(base, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(base, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	tests := []struct {
		name     string
		path     string
		typ      corev1.HostPathType
		wantErr  string
		wantKind string // "dir" or "file" after set-up
	}{
		{name: "unset takes anything", path: filepath.Join(base, "missing"), typ: corev1.HostPathUnset},
		{name: "DirectoryOrCreate creates", path: filepath.Join(base, "new/deep"), typ: corev1.HostPathDirectoryOrCreate, wantKind: "dir"},
		{name: "DirectoryOrCreate on a file", path: file, typ: corev1.HostPathDirectoryOrCreate, wantErr: "hostPath type check failed: " + file + " is not a directory"},
		{name: "Directory", path: dir, typ: corev1.HostPathDirectory, wantKind: "dir"},
		{name: "Directory missing", path: filepath.Join(base, "nodir"), typ: corev1.HostPathDirectory, wantErr: "hostPath type check failed: " + filepath.Join(base, "nodir") + " is not a directory"},
		{name: "FileOrCreate creates", path: filepath.Join(base, "newfile"), typ: corev1.HostPathFileOrCreate, wantKind: "file"},
		{name: "FileOrCreate makes no parents", path: filepath.Join(base, "nope/newfile"), typ: corev1.HostPathFileOrCreate, wantErr: "creating hostPath file"},
		{name: "File on a directory", path: dir, typ: corev1.HostPathFile, wantErr: "hostPath type check failed: " + dir + " is not a file"},
		{name: "File", path: file, typ: corev1.HostPathFile, wantKind: "file"},
		{name: "Socket", path: sock, typ: corev1.HostPathSocket},
		{name: "Socket on a file", path: file, typ: corev1.HostPathSocket, wantErr: "hostPath type check failed: " + file + " is not a socket file"},
		{name: "CharDevice", path: "/dev/null", typ: corev1.HostPathCharDev},
		{name: "CharDevice on a file", path: file, typ: corev1.HostPathCharDev, wantErr: "is not a character device"},
		{name: "BlockDevice on a char device", path: "/dev/null", typ: corev1.HostPathBlockDev, wantErr: "/dev/null is not a block device"},
		{name: "bad type", path: file, typ: "Weird", wantErr: "Weird is an invalid volume type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := newTestManager(t, testObjects(), false)
			pod := testPod(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: tc.path, Type: &tc.typ}}})
			paths, err := m.SetUp(context.Background(), pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), `MountVolume.SetUp failed for volume "h" : `) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if paths["h"] != tc.path {
				t.Errorf("path = %q, want %q", paths["h"], tc.path)
			}
			if tc.wantKind != "" {
				fi, err := os.Stat(tc.path)
				if err != nil {
					t.Fatal(err)
				}
				if got := map[bool]string{true: "dir", false: "file"}[fi.IsDir()]; got != tc.wantKind {
					t.Errorf("%s is a %s, want a %s", tc.path, got, tc.wantKind)
				}
			}
		})
	}
}

func TestPersistentVolumeClaim(t *testing.T) {
	local := t.TempDir()
	hostPath := filepath.Join(t.TempDir(), "hp")
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	objs := testObjects()
	objs.claims = map[string]*corev1.PersistentVolumeClaim{
		"ns/local":    {Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-local"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		"ns/hostpath": {Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-hp"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		"ns/pending":  {Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		"ns/nfs":      {Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-nfs"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
	}
	objs.volumes = map[string]*corev1.PersistentVolume{
		"pv-local": {Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: local}}}},
		"pv-hp":    {Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostPath, Type: &dirOrCreate}}}},
		"pv-nfs":   {ObjectMeta: metav1.ObjectMeta{Name: "pv-nfs"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{}}}},
	}
	tests := []struct {
		claim, wantPath, wantErr string
	}{
		{claim: "local", wantPath: local},
		{claim: "hostpath", wantPath: hostPath},
		{claim: "pending", wantErr: `PVC ns/pending has non-bound phase ("Pending") or empty pvc.Spec.VolumeName ("")`},
		{claim: "gone", wantErr: `persistentvolumeclaim "gone" not found`},
		{claim: "nfs", wantErr: "persistentvolume pv-nfs bound to claim ns/nfs is neither local nor hostPath"},
	}
	for _, tc := range tests {
		t.Run(tc.claim, func(t *testing.T) {
			m, _, _ := newTestManager(t, objs, false)
			pod := testPod(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: tc.claim}}})
			paths, err := m.SetUp(context.Background(), pod)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if paths["data"] != tc.wantPath {
				t.Errorf("path = %q, want %q", paths["data"], tc.wantPath)
			}
			// Data outlives the pod.
			if err := os.WriteFile(filepath.Join(tc.wantPath, "keep"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := m.TearDown(context.Background(), pod.UID); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(tc.wantPath, "keep")); err != nil {
				t.Errorf("teardown lost the claim's data: %v", err)
			}
		})
	}
}

func TestSubPath(t *testing.T) {
	outside := t.TempDir()
	vol := t.TempDir()
	for _, d := range []string{"in/deep", "real"} {
		if err := os.MkdirAll(filepath.Join(vol, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"abs-out":    outside,
		"rel-out":    "../" + filepath.Base(outside),
		"in/up-out":  "../../" + filepath.Base(outside),
		"rel-in":     "real",
		"in/rel-in":  "../real",
		"dangling":   "/nonexistent-berth-test",
		"abs-in-vol": filepath.Join(vol, "real"),
	}
	for l, target := range links {
		if err := os.Symlink(target, filepath.Join(vol, l)); err != nil {
			t.Fatal(err)
		}
	}
	realVol, _ := filepath.EvalSymlinks(vol)
	tests := []struct {
		sub, want string
		escape    bool
	}{
		{sub: "in/deep", want: filepath.Join(realVol, "in/deep")},
		{sub: "new/dir", want: filepath.Join(realVol, "new/dir")},
		{sub: "rel-in", want: filepath.Join(realVol, "real")},
		{sub: "in/rel-in/x", want: filepath.Join(realVol, "real/x")},
		{sub: "../x", escape: true},
		{sub: "in/../../x", escape: true},
		{sub: "/etc", escape: true},
		{sub: "abs-out", escape: true},
		{sub: "abs-out/created", escape: true},
		{sub: "rel-out", escape: true},
		{sub: "in/up-out", escape: true},
		{sub: "dangling", escape: true},
		// An absolute symlink is refused even when it names a place in the volume:
		// inside the container it would mean something else.
		{sub: "abs-in-vol", escape: true},
	}
	for _, tc := range tests {
		t.Run(tc.sub, func(t *testing.T) {
			got, err := SubPath(vol, tc.sub)
			if tc.escape {
				if err == nil {
					t.Fatalf("SubPath(%q) = %q, want a refusal", tc.sub, got)
				}
				entries, _ := os.ReadDir(outside)
				if len(entries) != 0 {
					t.Errorf("a refused subPath created %d entries outside the volume", len(entries))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("SubPath(%q) = %q, want %q", tc.sub, got, tc.want)
			}
			if fi, err := os.Stat(got); err != nil || !fi.IsDir() {
				t.Errorf("subPath %s not a directory: %v", got, err)
			}
		})
	}
}

func TestTmpfsVolumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root")
	}
	m, _, pods := newTestManager(t, testObjects(), true)
	pod := testPod(
		corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("8Mi"))}}},
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
	)
	ctx := context.Background()
	paths, err := m.SetUp(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	// A second set-up mounts nothing more.
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	mounts, err := mountsUnder(pods)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{paths["mem"], paths["sec"]}; !cmp.Equal(mounts, want) {
		t.Errorf("mounts = %v, want %v", mounts, want)
	}
	tests := []struct {
		vol       string
		tmpfs     bool
		sizeBytes int64
	}{
		{vol: "mem", tmpfs: true, sizeBytes: 8 << 20},
		{vol: "disk"},
		{vol: "sec", tmpfs: true},
		{vol: "cfg"},
	}
	for _, tc := range tests {
		t.Run(tc.vol, func(t *testing.T) {
			var st unix.Statfs_t
			if err := unix.Statfs(paths[tc.vol], &st); err != nil {
				t.Fatal(err)
			}
			if got := st.Type == unix.TMPFS_MAGIC; got != tc.tmpfs {
				t.Errorf("tmpfs = %v, want %v", got, tc.tmpfs)
			}
			if tc.sizeBytes != 0 {
				if got := int64(st.Blocks) * st.Bsize; got != tc.sizeBytes {
					t.Errorf("size = %d, want %d", got, tc.sizeBytes)
				}
			}
			fi, err := os.Stat(paths[tc.vol])
			if err != nil {
				t.Fatal(err)
			}
			if !tc.tmpfs && fi.Mode().Perm() != 0o777 {
				t.Errorf("mode = %v, want 0777", fi.Mode().Perm())
			}
		})
	}
	if got := readVolume(t, paths["sec"])["pw"]; got != "-rw-r--r-- hunter2" {
		t.Errorf("secret pw = %q", got)
	}
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if left, _ := mountsUnder(pods); len(left) != 0 {
		t.Errorf("mounts left after teardown: %v", left)
	}
	if _, err := os.Stat(filepath.Join(pods, string(pod.UID))); !os.IsNotExist(err) {
		t.Errorf("pod directory left after teardown: %v", err)
	}
}

func TestFSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another group needs root")
	}
	const gid = 4321
	m, _, _ := newTestManager(t, testObjects(), false)
	pod := testPod(
		corev1.Volume{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptr[int32](0o400)}}},
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr[int64](gid)}
	ctx := context.Background()
	defer func() {
		if err := m.TearDown(ctx, pod.UID); err != nil {
			t.Error(err)
		}
	}()
	paths, err := m.SetUp(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.Readlink(filepath.Join(paths["sec"], "..data"))
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(paths["sec"], "..data")); again != data {
		t.Errorf("an unchanged secret was rewritten: %s then %s", data, again)
	}
	tests := []struct {
		path string
		mode os.FileMode
	}{
		{path: filepath.Join(paths["sec"], "pw"), mode: 0o440},
		{path: paths["scratch"], mode: os.ModeDir | os.ModeSetgid | 0o777},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tc.mode {
				t.Errorf("mode = %v, want %v", fi.Mode(), tc.mode)
			}
			var st unix.Stat_t
			if err := unix.Stat(tc.path, &st); err != nil {
				t.Fatal(err)
			}
			if st.Gid != gid {
				t.Errorf("group = %d, want %d", st.Gid, gid)
			}
		})
	}
}

func TestMemoryVolumeSize(t *testing.T) {
	limited := func(mem string) corev1.Container {
		return corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)}}}
	}
	sidecar := limited("4Mi")
	sidecar.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	tests := []struct {
		name        string
		containers  []corev1.Container
		init        []corev1.Container
		sizeLimit   string
		allocatable string
		want        int64
	}{
		{name: "nothing known", containers: []corev1.Container{{}}},
		{name: "node allocatable", containers: []corev1.Container{{}}, allocatable: "1Gi", want: 1 << 30},
		{name: "sizeLimit under allocatable", containers: []corev1.Container{{}}, allocatable: "1Gi", sizeLimit: "8Mi", want: 8 << 20},
		{name: "pod limit: sum of containers", containers: []corev1.Container{limited("16Mi"), limited("8Mi")}, allocatable: "1Gi", want: 24 << 20},
		{name: "one container unlimited", containers: []corev1.Container{limited("16Mi"), {}}, allocatable: "1Gi", want: 1 << 30},
		{name: "sizeLimit above the pod limit", containers: []corev1.Container{limited("16Mi")}, sizeLimit: "64Mi", allocatable: "1Gi", want: 16 << 20},
		{name: "a larger init container", containers: []corev1.Container{limited("16Mi")}, init: []corev1.Container{limited("32Mi")}, want: 32 << 20},
		{name: "a sidecar adds up", containers: []corev1.Container{limited("16Mi")}, init: []corev1.Container{sidecar}, want: 20 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manager{cfg: Config{}}
			if tc.allocatable != "" {
				m.cfg.NodeAllocatable = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(tc.allocatable)}
			}
			var limit *resource.Quantity
			if tc.sizeLimit != "" {
				limit = ptr(resource.MustParse(tc.sizeLimit))
			}
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tc.containers, InitContainers: tc.init}}
			if got := m.memoryVolumeSize(pod, limit); got != tc.want {
				t.Errorf("size = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPodUIDs(t *testing.T) {
	m, _, _ := newTestManager(t, testObjects(), false)
	ctx := context.Background()
	pod := testPod(corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	if _, err := m.SetUp(ctx, pod); err != nil {
		t.Fatal(err)
	}
	uids, err := m.PodUIDs()
	if err != nil || !cmp.Equal(uids, []types.UID{"uid-1"}) {
		t.Fatalf("PodUIDs() = %v, %v; want [uid-1]", uids, err)
	}
	if err := m.TearDown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if uids, err := m.PodUIDs(); err != nil || len(uids) != 0 {
		t.Errorf("PodUIDs() after teardown = %v, %v", uids, err)
	}
}
