package version

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// requiredVersion reads the version of module path that the repository's go.mod
// requires.
func requiredVersion(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(s.Text()), "require "))
		if len(fields) >= 2 && fields[0] == path {
			return fields[1]
		}
	}
	t.Fatalf("go.mod does not require %s", path)
	return ""
}

// wantKubernetes is the Kubernetes version, and its minor, that go.mod's
// k8s.io/api v0.X.Y stands for: v1.X.Y.
func wantKubernetes(t *testing.T) (version, minor string) {
	t.Helper()
	api := requiredVersion(t, "k8s.io/api")
	m := regexp.MustCompile(`^v0\.(\d+)\.(\d+)(.*)$`).FindStringSubmatch(api)
	if m == nil {
		t.Fatalf("go.mod requires k8s.io/api %s, not a v0.X.Y release", api)
	}
	return "v1." + m[1] + "." + m[2] + m[3], m[1]
}

// A test binary carries no build information about its dependencies, so
// Kubernetes is checked in a program built the way berth is.
const probe = `package main

import (
	"fmt"

	"berth.dev/berth/orchestrator/version"
	_ "k8s.io/api/core/v1"
)

func main() {
	info := version.Info()
	fmt.Println(version.Kubernetes(), info.Major, info.Minor, info.GitVersion)
}
`

func TestKubernetesFollowsK8sAPIModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	want, minor := wantKubernetes(t)
	main := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(main, []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, "run", main)
	cmd.Dir = "../.." // the module root, whose go.mod the program builds with
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	if len(got) != 4 {
		t.Fatalf("the program printed %q, want four fields", out)
	}
	for i, c := range []struct{ name, want string }{
		{"Kubernetes()", want},
		{"Info().Major", "1"},
		{"Info().Minor", minor},
		{"Info().GitVersion", want + "+berth"},
	} {
		if got[i] != c.want {
			t.Errorf("%s = %s, want %s", c.name, got[i], c.want)
		}
	}
}

// TestInfo runs in the test binary, where Kubernetes may fall back to its default;
// that default must still name the Kubernetes minor go.mod builds with.
func TestInfo(t *testing.T) {
	_, minor := wantKubernetes(t)
	kube := Kubernetes()
	info := Info()
	cases := []struct {
		field, got, want string
	}{
		{"Major", info.Major, "1"},
		{"Minor", info.Minor, minor},
		{"GitVersion", info.GitVersion, kube + "+berth"},
		{"GitCommit", info.GitCommit, Berth},
		{"GitTreeState", info.GitTreeState, "clean"},
		{"GoVersion", info.GoVersion, runtime.Version()},
		{"Compiler", info.Compiler, runtime.Compiler},
		{"Platform", info.Platform, runtime.GOOS + "/" + runtime.GOARCH},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("Info().%s = %q, want %q", c.field, c.got, c.want)
			}
		})
	}
	t.Run("GitCommit follows the linker variable", func(t *testing.T) {
		saved := Berth
		t.Cleanup(func() { Berth = saved })
		Berth = "v0.3.1-4-gabcdef0"
		if got := Info().GitCommit; got != Berth {
			t.Errorf("Info().GitCommit = %q, want %q", got, Berth)
		}
	})
}
