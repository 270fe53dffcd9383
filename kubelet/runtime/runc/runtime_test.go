package runc

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moby/sys/capability"

	"berth.dev/berth/kubelet/runtime"
)

// allCapsMask is CapEff with every capability of our own bounding set.
func allCapsMask() string {
	var mask uint64
	for _, c := range capability.ListKnown() {
		if ok, _ := capability.GetBound(c); ok {
			mask |= 1 << uint(c)
		}
	}
	return fmt.Sprintf("%016x", mask)
}

func TestContainerRuns(t *testing.T) {
	r, _ := newTestRuntime(t)
	sb := runSandbox(t, r, runtime.SandboxSpec{Hostname: "web-0"})
	tests := []struct {
		name     string
		mutate   func(*runtime.ContainerSpec)
		args     []string
		wantCode int
		wantLog  []string
	}{
		{name: "exit code", args: []string{"exit", "3"}, wantCode: 3},
		{name: "stdout and stderr", args: []string{"echo", "hello"}, wantLog: []string{"stdout hello"}},
		{name: "stderr", args: []string{"echoerr", "oops"}, wantLog: []string{"stderr oops"}},
		{name: "identity", args: []string{"info"},
			mutate: func(s *runtime.ContainerSpec) {
				s.User = runtime.User{UID: 1000, GID: 2000, Groups: []uint32{3000}}
				s.WorkingDir = "/tmp"
				s.Env = append(s.Env, "FOO=bar")
			},
			wantLog: []string{"stdout hostname=web-0", "stdout uid=1000", "stdout gid=2000", "stdout groups=[3000]", "stdout cwd=/tmp", "stdout env=bar", "stdout CapEff=0000000000000000"}},
		{name: "root gets the default capabilities", args: []string{"info"},
			wantLog: []string{"stdout CapEff=00000000a80425fb", "stdout NoNewPrivs=0"}},
		{name: "drop all add one", args: []string{"info"},
			mutate: func(s *runtime.ContainerSpec) {
				s.Capabilities = runtime.Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_BIND_SERVICE"}}
				s.NoNewPrivileges = true
			},
			wantLog: []string{"stdout CapEff=0000000000000400", "stdout NoNewPrivs=1"}},
		{name: "privileged gets every capability", args: []string{"info"},
			mutate:  func(s *runtime.ContainerSpec) { s.Privileged = true },
			wantLog: []string{"stdout CapEff=" + allCapsMask()}},
		{name: "read-only rootfs", args: []string{"write", "/f"}, wantCode: 1,
			mutate:  func(s *runtime.ContainerSpec) { s.ReadOnlyRootfs = true },
			wantLog: []string{"stdout write error: open /f: read-only file system"}},
		{name: "writable rootfs tmp", args: []string{"write", "/tmp/f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := ctrSpec(t, tt.args...)
			if tt.mutate != nil {
				tt.mutate(&spec)
			}
			id, st := runToExit(t, r, sb.ID, spec)
			if st.Code != tt.wantCode || st.OOMKilled || st.Unknown {
				t.Errorf("exit = %+v, want code %d", st, tt.wantCode)
			}
			got := logMessages(t, r, id, spec.LogPath)
			for _, w := range tt.wantLog {
				if !slices.Contains(got, w) {
					t.Errorf("log lacks %q; has\n%s", w, strings.Join(got, "\n"))
				}
			}
			if err := r.RemoveContainer(testCtx(t), id); err != nil {
				t.Fatal(err)
			}
		})
	}
}
