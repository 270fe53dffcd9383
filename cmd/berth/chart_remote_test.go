package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"helm.sh/helm/v3/pkg/repo"
)

// realHelm builds the real Helm from the Go module proxy (cached between
// runs) and returns its path.
func realHelm(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command(filepath.Join(filepath.Dir(file), "..", "..", "hack", "build-helm.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("building the real Helm: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// serveTestRegistry runs `berth registry serve` on a free port of 127.0.0.1,
// with htpasswd when not empty, and returns its host:port.
func serveTestRegistry(t *testing.T, htpasswd string) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"registry", "serve", "--root", t.TempDir(), "--addr", addr}
	if htpasswd != "" {
		args = append(args, "--htpasswd", htpasswd)
	}
	p, err := startProcess("berth", args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.signal(syscall.SIGTERM) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		select {
		case <-p.done:
			t.Fatalf("berth registry serve exited:\n%s", p.output)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth registry serve does not listen on %s:\n%s", addr, p.output)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// chartTools runs berth and the real Helm with homes of their own.
type chartTools struct {
	t    *testing.T
	helm string
	env  []string
}

func newChartTools(t *testing.T) *chartTools {
	home := t.TempDir()
	env := []string{roleEnv + "=berth", "HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "XDG_CACHE_HOME=" + filepath.Join(home, "cache"), "XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "helm-config"), "HELM_CACHE_HOME=" + filepath.Join(home, "helm-cache"), "HELM_DATA_HOME=" + filepath.Join(home, "helm-data")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") && !strings.HasPrefix(kv, "HELM_") && !strings.HasPrefix(kv, "XDG_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return &chartTools{t: t, helm: realHelm(t), env: env}
}

func (c *chartTools) result(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = c.env
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String(), err
}

func (c *chartTools) run(bin string, args ...string) string {
	c.t.Helper()
	out, err := c.result(bin, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *chartTools) berth(args ...string) string { c.t.Helper(); return c.run(os.Args[0], args...) }
func (c *chartTools) helmRun(args ...string) string {
	c.t.Helper()
	return c.run(c.helm, args...)
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s and %s differ", a, b)
	}
}

// TestOCICharts: charts go through berth's registry both ways between berth
// and the real Helm, byte for byte; versions resolve as ranges against the
// tags; berth templates, shows and installs straight from oci://, also from
// the registry berth server embeds.
func TestOCICharts(t *testing.T) {
	tools := newChartTools(t)
	host := serveTestRegistry(t, "")
	remote := "oci://" + host + "/charts"
	dir := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		tools.berth("package", testChart(t), "--version", v, "-d", dir)
	}
	tools.helmRun("package", testChart(t), "--version", "2.0.0", "-d", dir)
	archive := func(v string) string { return filepath.Join(dir, "app-"+v+".tgz") }

	out := tools.berth("push", archive("1.0.0"), remote, "--plain-http")
	if !strings.Contains(out, "Pushed: "+host+"/charts/app:1.0.0") || !strings.Contains(out, "Digest: sha256:") {
		t.Errorf("berth push said:\n%s", out)
	}
	tools.berth("push", archive("1.1.0"), remote, "--plain-http")
	tools.helmRun("push", archive("2.0.0"), remote, "--plain-http")

	// Helm pulls what berth pushed, berth what Helm pushed: the same bytes.
	helmDir, berthDir := t.TempDir(), t.TempDir()
	tools.helmRun("pull", remote+"/app", "--version", "1.0.0", "--plain-http", "-d", helmDir)
	sameFile(t, archive("1.0.0"), filepath.Join(helmDir, "app-1.0.0.tgz"))
	tools.berth("pull", remote+"/app", "--version", "2.0.0", "--plain-http", "-d", berthDir)
	sameFile(t, archive("2.0.0"), filepath.Join(berthDir, "app-2.0.0.tgz"))

	// A range resolves against the tags: the newest 1.x.
	tools.berth("pull", remote+"/app", "--version", "~1", "--plain-http", "--untar", "-d", berthDir)
	if b, err := os.ReadFile(filepath.Join(berthDir, "app", "Chart.yaml")); err != nil || !strings.Contains(string(b), "version: 1.1.0") {
		t.Errorf("berth pull --version ~1 --untar: Chart.yaml %q (%v), want version 1.1.0", b, err)
	}
	if _, err := tools.result(os.Args[0], "pull", remote+"/app", "--version", "9.9.9", "--plain-http", "-d", berthDir); err == nil || !strings.Contains(err.Error(), "9.9.9") {
		t.Errorf("pulling a version that is not there: %v, want an error naming it", err)
	}

	// template and show straight from the registry, as Helm renders it.
	args := []string{"template", "rel", remote + "/app", "--version", "^1.0.0", "--plain-http"}
	if got, want := tools.berth(args...), tools.helmRun(args...); got != want {
		t.Errorf("berth template from oci:// differs from helm's:\n%s\nhelm:\n%s", got, want)
	}
	if got := tools.berth("show", "chart", remote+"/app", "--version", "2.0.0", "--plain-http"); !strings.Contains(got, "version: 2.0.0") {
		t.Errorf("berth show chart from oci://:\n%s", got)
	}

	// install from oci:// into a cluster, from the registry berth server
	// embeds.
	c := sharedCluster.get(t)
	// It starts once the API serves.
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(50 * time.Millisecond) {
		m = regexp.MustCompile(`registry is serving.*addr=(\S+)`).FindStringSubmatch(c.server.output.String())
		if m == nil && time.Now().After(deadline) {
			t.Fatalf("berth server did not say where its registry serves:\n%s", c.server.output)
		}
	}
	embedded := "oci://" + m[1] + "/charts"
	tools.berth("push", archive("1.1.0"), embedded, "--plain-http")
	ns := c.namespace(t)
	c.berth(t, "install", "rel", embedded+"/app", "--version", "1.1.0", "--plain-http", "-n", ns)
	if got := c.berth(t, "list", "-n", ns); !strings.Contains(got, "app-1.1.0") || !strings.Contains(got, "deployed") {
		t.Errorf("berth list after installing from oci://:\n%s", got)
	}
}

// TestOCIRegistryLogin: berth registry login keeps credentials that later
// pushes and pulls use, refuses wrong ones, and logout forgets them.
func TestOCIRegistryLogin(t *testing.T) {
	tools := newChartTools(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("jane:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := serveTestRegistry(t, htpasswd)
	remote := "oci://" + host + "/charts"
	dir := t.TempDir()
	tools.berth("package", testChart(t), "--version", "1.0.0", "-d", dir)
	archive := filepath.Join(dir, "app-1.0.0.tgz")

	if _, err := tools.result(os.Args[0], "push", archive, remote, "--plain-http"); err == nil {
		t.Fatal("pushed without credentials")
	}
	if _, err := tools.result(os.Args[0], "registry", "login", host, "-u", "jane", "-p", "wrong", "--plain-http"); err == nil {
		t.Fatal("logged in with a wrong password")
	}
	if out := tools.berth("registry", "login", host, "-u", "jane", "-p", "s3cret", "--plain-http"); !strings.Contains(out, "Login Succeeded") {
		t.Errorf("berth registry login said %q", out)
	}
	tools.berth("push", archive, remote, "--plain-http")
	tools.berth("pull", remote+"/app", "--version", "1.0.0", "--plain-http", "-d", t.TempDir())
	tools.berth("registry", "logout", host)
	if _, err := tools.result(os.Args[0], "pull", remote+"/app", "--version", "1.0.0", "--plain-http", "-d", t.TempDir()); err == nil {
		t.Fatal("pulled after logging out")
	}
}

// TestRepoIndex: berth repo index writes the index Helm writes for a
// directory of charts (the same entries, digests and URLs), and the directory
// served over HTTP is a repository berth pulls from.
func TestRepoIndex(t *testing.T) {
	tools := newChartTools(t)
	berthDir, helmDir := t.TempDir(), t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		tools.berth("package", testChart(t), "--version", v, "-d", berthDir)
	}
	for _, name := range []string{"app-1.0.0.tgz", "app-1.1.0.tgz"} {
		b, err := os.ReadFile(filepath.Join(berthDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(helmDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(berthDir)))
	defer srv.Close()
	tools.berth("repo", "index", berthDir, "--url", srv.URL)
	tools.helmRun("repo", "index", helmDir, "--url", srv.URL)
	entries := func(dir string) string {
		index, err := repo.LoadIndexFile(filepath.Join(dir, "index.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, v := range index.Entries["app"] {
			fmt.Fprintf(&b, "%s %s %s %v\n", v.Name, v.Version, v.Digest, v.URLs)
		}
		return b.String()
	}
	if got, want := entries(berthDir), entries(helmDir); got != want || got == "" {
		t.Errorf("berth repo index entries:\n%s\nhelm's:\n%s", got, want)
	}
	tools.berth("repo", "add", "local", srv.URL)
	out := t.TempDir()
	tools.berth("pull", "local/app", "--version", "~1.0.0", "-d", out)
	sameFile(t, filepath.Join(berthDir, "app-1.0.0.tgz"), filepath.Join(out, "app-1.0.0.tgz"))
}
