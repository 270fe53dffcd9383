package pods

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"berth.dev/berth/kubelet/runtime"
)

func TestContainerArgs(t *testing.T) {
	env := []corev1.EnvVar{{Name: "WHO", Value: "world"}}
	tests := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/entry", "cmd"}},
		{"args replace cmd", nil, []string{"-v"}, []string{"/entry", "-v"}},
		{"command drops cmd", []string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{"command and args, expanded", []string{"echo"}, []string{"hello $(WHO)", "$$(WHO)", "$(MISSING)"}, []string{"echo", "hello world", "$(WHO)", "$(MISSING)"}},
	}
	for _, tt := range tests {
		c := &corev1.Container{Command: tt.command, Args: tt.args}
		if got := containerArgs(c, []string{"/entry"}, []string{"cmd"}, env); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "LANG=C"}, []corev1.EnvVar{{Name: "LANG", Value: "en"}, {Name: "X", Value: "1"}})
	want := []string{"PATH=/bin", "LANG=en", "X=1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestContainerUser(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nnginx:x:101:102::/:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace, pod.UID = "p", "ns", "u1"
	tests := []struct {
		name      string
		imageUser string
		psc       *corev1.PodSecurityContext
		sc        *corev1.SecurityContext
		want      runtime.User
		wantErr   string
	}{
		{name: "image default is root"},
		{name: "image user by name", imageUser: "nginx", want: runtime.User{UID: 101, GID: 102}},
		{name: "image user and group", imageUser: "nginx:staff", want: runtime.User{UID: 101, GID: 50}},
		{name: "numeric image user", imageUser: "1000:1000", want: runtime.User{UID: 1000, GID: 1000}},
		{name: "runAsUser overrides the image", imageUser: "nginx", sc: &corev1.SecurityContext{RunAsUser: ptr.To[int64](7)}, want: runtime.User{UID: 7}},
		{name: "pod runAsGroup and groups", psc: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](101), RunAsGroup: ptr.To[int64](9), SupplementalGroups: []int64{4}, FSGroup: ptr.To[int64](5)},
			want: runtime.User{UID: 101, GID: 9, Groups: []uint32{4, 5}}},
		{name: "runAsNonRoot refuses root", sc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)},
			wantErr: `container has runAsNonRoot and image will run as root (pod: "p_ns(u1)", container: c)`},
		{name: "runAsNonRoot with a non-root image user", imageUser: "nginx", psc: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, want: runtime.User{UID: 101, GID: 102}},
		{name: "unknown user", imageUser: "ghost", wantErr: "unable to find user ghost"},
	}
	for _, tt := range tests {
		pod.Spec.SecurityContext = tt.psc
		got, err := containerUser(pod, &corev1.Container{Name: "c", SecurityContext: tt.sc}, tt.imageUser, rootfs)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestResolvConf(t *testing.T) {
	host := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(host, []byte("# comment\nnameserver 192.0.2.53\nsearch example.com\noptions edns0\n"), 0o644)
	pod := &corev1.Pod{}
	pod.Namespace = "work"
	k := &Kubelet{cfg: Config{ResolvConf: host, ClusterDomain: "cluster.local"}}

	got, _ := k.resolvConf(pod)
	if want := "nameserver 192.0.2.53\nsearch example.com\noptions edns0\n"; string(got) != want {
		t.Errorf("without cluster DNS: %q, want the host's %q", got, want)
	}
	k.cfg.ClusterDNS = []string{"10.43.0.10"}
	pod.Spec.DNSPolicy = corev1.DNSClusterFirst
	got, _ = k.resolvConf(pod)
	if want := "nameserver 10.43.0.10\nsearch work.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"; string(got) != want {
		t.Errorf("ClusterFirst: %q, want %q", got, want)
	}
	pod.Spec.DNSPolicy = corev1.DNSNone
	pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}}}
	got, _ = k.resolvConf(pod)
	if want := "nameserver 1.1.1.1\noptions ndots:2\n"; string(got) != want {
		t.Errorf("None with dnsConfig: %q, want %q", got, want)
	}
}

func TestBackoff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	b := newBackoff(clk, 10*time.Second, 40*time.Second)
	if got := b.remaining("k", clk.Now()); got != 0 {
		t.Fatalf("unknown key backs off %s", got)
	}
	var delays []time.Duration
	for range 4 {
		b.next("k")
		delays = append(delays, b.delay("k"))
	}
	if want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second}; !reflect.DeepEqual(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	finished := clk.Now().Add(5 * time.Second)
	clk.Step(15 * time.Second)
	if got := b.remaining("k", finished); got != 30*time.Second {
		t.Fatalf("remaining %s, want 30s (40s from the exit 10s ago)", got)
	}
	clk.Step(81 * time.Second) // twice the maximum without failures: forgotten
	b.next("k")
	if got := b.delay("k"); got != 10*time.Second {
		t.Fatalf("after a quiet spell the delay is %s, want the initial 10s", got)
	}
}
