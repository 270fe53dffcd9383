package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"helm.sh/helm/v3/pkg/chart"
	helmrelease "helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/release/storage"
)

// testChart is the chart of these tests (testdata/releases/app).
func testChart(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "releases", "app")
}

// berthCmd prepares the berth command (this test binary in its berth role)
// against the cluster.
func (c *cluster) berthCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), roleEnv+"=berth", "KUBECONFIG="+c.kubeconfig)
	return cmd
}

// berth runs a berth command and returns its standard output; the test fails if
// it fails.
func (c *cluster) berth(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := c.berthResult(args...)
	if err != nil {
		t.Fatalf("berth %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func (c *cluster) berthResult(args ...string) (string, string, error) {
	cmd := c.berthCmd(args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	return out.String(), stderr.String(), err
}

type historyEntry struct {
	Revision    int    `json:"revision"`
	Status      string `json:"status"`
	Chart       string `json:"chart"`
	Description string `json:"description"`
}

func (c *cluster) history(t *testing.T, ns, name string) []string {
	t.Helper()
	var entries []historyEntry
	if err := json.Unmarshal([]byte(c.berth(t, "history", name, "-n", ns, "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%d:%s", e.Revision, e.Status))
	}
	return out
}

// TestReleaseCycle installs, upgrades, rolls back and uninstalls a release, and
// checks the objects (through kubectl), the history and the statuses at every step.
func TestReleaseCycle(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	app := testChart(t)

	out := c.berth(t, "install", "web", app, "-n", ns, "--set", "extra=true")
	for _, want := range []string{"NAME: web", "NAMESPACE: " + ns, "STATUS: deployed", "REVISION: 1", "web says hello."} {
		if !strings.Contains(out, want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	if got := c.kubectl(t, "get", "configmap", "web-config", "-n", ns, "-o", "jsonpath={.data.message} {.metadata.annotations.meta\\.helm\\.sh/release-name}"); got != "hello web" {
		t.Fatalf("after install: %q", got)
	}
	c.kubectl(t, "get", "configmap", "web-extra", "-n", ns)
	if got := c.history(t, ns, "web"); strings.Join(got, " ") != "1:deployed" {
		t.Fatalf("history after install: %v", got)
	}

	// Upgrade: a changed value reaches the object, a dropped object is deleted.
	c.berth(t, "upgrade", "web", app, "-n", ns, "--set", "message=bye")
	if got := c.kubectl(t, "get", "configmap", "web-config", "-n", ns, "-o", "jsonpath={.data.message}"); got != "bye" {
		t.Fatalf("after upgrade: %q", got)
	}
	if stderr := c.kubectlFails(t, "get", "configmap", "web-extra", "-n", ns); !strings.Contains(stderr, "not found") {
		t.Fatalf("object dropped from the chart survived the upgrade: %s", stderr)
	}
	if got := c.history(t, ns, "web"); strings.Join(got, " ") != "1:superseded 2:deployed" {
		t.Fatalf("history after upgrade: %v", got)
	}
	// An upgrade without values keeps the current ones, as Helm's does.
	c.berth(t, "upgrade", "web", app, "-n", ns)
	if got := c.berth(t, "get", "values", "web", "-n", ns, "-o", "json"); strings.TrimSpace(got) != `{"message":"bye"}` {
		t.Fatalf("values after an upgrade without values: %s", got)
	}

	// Rollback to the first revision brings its values and objects back.
	if out := c.berth(t, "rollback", "web", "1", "-n", ns); !strings.Contains(out, "Rollback was a success!") {
		t.Fatalf("rollback: %s", out)
	}
	if got := c.kubectl(t, "get", "configmap", "web-config", "-n", ns, "-o", "jsonpath={.data.message}"); got != "hello" {
		t.Fatalf("after rollback: %q", got)
	}
	c.kubectl(t, "get", "configmap", "web-extra", "-n", ns)
	if got := c.history(t, ns, "web"); strings.Join(got, " ") != "1:superseded 2:superseded 3:superseded 4:deployed" {
		t.Fatalf("history after rollback: %v", got)
	}
	status := c.berth(t, "status", "web", "-n", ns, "--show-desc")
	if !strings.Contains(status, "REVISION: 4") || !strings.Contains(status, "DESCRIPTION: Rollback to 1") {
		t.Fatalf("status:\n%s", status)
	}
	list := c.berth(t, "list", "-n", ns)
	if !strings.Contains(list, "web") || !strings.Contains(list, "deployed") || !strings.Contains(list, "app-0.1.0") {
		t.Fatalf("list:\n%s", list)
	}

	// Uninstall with history kept, then for good.
	if out := c.berth(t, "uninstall", "web", "-n", ns, "--keep-history"); !strings.Contains(out, `release "web" uninstalled`) {
		t.Fatalf("uninstall: %s", out)
	}
	if got := c.kubectl(t, "get", "configmaps,deployments", "-n", ns, "-l", "app.kubernetes.io/managed-by=Helm", "-o", "name"); got != "" {
		t.Fatalf("objects left after uninstall: %s", got)
	}
	if got := c.history(t, ns, "web"); got[len(got)-1] != "4:uninstalled" {
		t.Fatalf("history after uninstall --keep-history: %v", got)
	}
	if list := c.berth(t, "list", "-n", ns, "--uninstalled", "-q"); list != "web\n" {
		t.Fatalf("list --uninstalled: %q", list)
	}
	c.berth(t, "uninstall", "web", "-n", ns)
	if _, stderr, err := c.berthResult("history", "web", "-n", ns); err == nil || !strings.Contains(stderr, "release: not found") {
		t.Fatalf("history after uninstall: %v %s", err, stderr)
	}
}

// TestReleaseRefusesForeignObjects: an install never takes over objects that
// belong to another release or to nobody, and changes nothing when it refuses.
func TestReleaseRefusesForeignObjects(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	app := testChart(t)
	c.berth(t, "install", "first", app, "-n", ns)
	// A second release whose objects have the same names as the first's.
	c.kubectl(t, "create", "configmap", "second-config", "-n", ns, "--from-literal=message=mine")
	_, stderr, err := c.berthResult("install", "second", app, "-n", ns)
	want := `ConfigMap "second-config" in namespace "` + ns + `" exists and cannot be imported into the current release: invalid ownership metadata`
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("install over an unowned object: %v\n%s\nwant %q", err, stderr, want)
	}
	if got := c.kubectl(t, "get", "configmap", "second-config", "-n", ns, "-o", "jsonpath={.data.message}"); got != "mine" {
		t.Fatalf("refused install changed the object: %q", got)
	}
	if _, stderr, err := c.berthResult("status", "second", "-n", ns); err == nil || !strings.Contains(stderr, "not found") {
		t.Fatalf("refused install left a release: %v %s", err, stderr)
	}
	// Renaming a release onto the first's objects is refused the same way.
	c.kubectl(t, "annotate", "configmap", "second-config", "-n", ns, "meta.helm.sh/release-name=first", "meta.helm.sh/release-namespace="+ns)
	c.kubectl(t, "label", "configmap", "second-config", "-n", ns, "app.kubernetes.io/managed-by=Helm")
	_, stderr, err = c.berthResult("install", "second", app, "-n", ns)
	if err == nil || !strings.Contains(stderr, `key "meta.helm.sh/release-name" must equal "second": current value is "first"`) {
		t.Fatalf("install over another release's object: %v\n%s", err, stderr)
	}
}

// TestReleaseHookOrder: hooks run by event, and within one by weight.
func TestReleaseHookOrder(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	c.berth(t, "install", "hooked", testChart(t), "-n", ns)
	list, err := c.client.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// etcd revisions order the creations.
	type created struct {
		name string
		rv   int
	}
	var hooks []created
	var main int
	for _, cm := range list.Items {
		rv, _ := strconv.Atoi(cm.ResourceVersion)
		switch {
		case strings.HasPrefix(cm.Name, "hooked-pre-") || strings.HasPrefix(cm.Name, "hooked-post-"):
			hooks = append(hooks, created{cm.Name, rv})
		case cm.Name == "hooked-config":
			main = rv
		}
	}
	sort.Slice(hooks, func(i, j int) bool { return hooks[i].rv < hooks[j].rv })
	var order []string
	for _, h := range hooks {
		if h.rv > main && strings.HasPrefix(h.name, "hooked-pre-install") {
			t.Errorf("pre-install hook %s created after the release's objects", h.name)
		}
		order = append(order, strings.TrimPrefix(h.name, "hooked-"))
	}
	want := "pre-install-w-5 pre-install-w0 pre-install-w5 post-install-w-5 post-install-w0 post-install-w5"
	if strings.Join(order, " ") != want {
		t.Fatalf("hooks created in order %v, want %s", order, want)
	}
}

// TestReleaseRecovers: a client killed with SIGKILL in the middle of an upgrade
// leaves its lock to expire on its own; the next operation then marks the
// abandoned revision failed and proceeds. SIGTERM marks it failed at once.
func TestReleaseRecovers(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	app := testChart(t)
	c.berth(t, "install", "stuck", app, "-n", ns)

	interrupt := func(sig syscall.Signal) {
		t.Helper()
		cmd := c.berthCmd("upgrade", "stuck", app, "-n", ns, "--set", "blockUpgrade=true")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the upgrade is held by its pre-upgrade hook.
		waitFor(t, 30*time.Second, func() bool {
			_, _, err := c.kubectlResult([]string{"get", "job", "stuck-block", "-n", ns}, nil)
			return err == nil
		})
		cmd.Process.Signal(sig)
		cmd.Wait()
	}

	interrupt(syscall.SIGKILL)
	if got := c.history(t, ns, "stuck"); strings.Join(got, " ") != "1:deployed 2:pending-upgrade" {
		t.Fatalf("history after the kill: %v", got)
	}
	_, stderr, err := c.berthResult("upgrade", "stuck", app, "-n", ns)
	if err == nil || !strings.Contains(stderr, "another operation (install/upgrade/rollback) is in progress") {
		t.Fatalf("upgrade while the dead client's lock holds: %v\n%s", err, stderr)
	}
	// The lock expires within its lease duration; then the next upgrade goes on.
	waitFor(t, 30*time.Second, func() bool {
		_, _, err := c.berthResult("upgrade", "stuck", app, "-n", ns, "--set", "message=recovered")
		return err == nil
	})
	got := c.history(t, ns, "stuck")
	if strings.Join(got, " ") != "1:superseded 2:failed 3:deployed" {
		t.Fatalf("history after recovery: %v", got)
	}
	var entries []historyEntry
	json.Unmarshal([]byte(c.berth(t, "history", "stuck", "-n", ns, "-o", "json")), &entries)
	if !strings.Contains(entries[1].Description, "abandoned") {
		t.Errorf("abandoned revision's description: %q", entries[1].Description)
	}

	// SIGTERM: the client records the failure and frees the lock before it exits.
	c.kubectl(t, "delete", "job", "stuck-block", "-n", ns)
	interrupt(syscall.SIGTERM)
	if got := c.history(t, ns, "stuck"); got[len(got)-1] != "4:failed" {
		t.Fatalf("history after SIGTERM: %v", got)
	}
	c.kubectl(t, "delete", "job", "stuck-block", "-n", ns)
	c.berth(t, "upgrade", "stuck", app, "-n", ns)
}

// TestReleaseLargeManifest: a release whose manifest is 10 MiB installs, upgrades
// and rolls back (Helm's Secret storage fails above 1 MiB).
func TestReleaseLargeManifest(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(testChart(t))); err != nil {
		t.Fatal(err)
	}
	// 20 ConfigMaps of 512 KiB each, of hex (incompressible enough to stay large).
	big := `{{- range $i := until 20 }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: big-{{ $i }}
data:
  blob: {{ randAlphaNum 524288 | quote }}
{{- end }}
`
	if err := os.WriteFile(filepath.Join(dir, "templates", "big.yaml"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	c.berth(t, "install", "big", dir, "-n", ns)
	c.berth(t, "upgrade", "big", dir, "-n", ns, "--set", "message=two")
	c.berth(t, "rollback", "big", "1", "-n", ns)
	if got := c.history(t, ns, "big"); strings.Join(got, " ") != "1:superseded 2:superseded 3:deployed" {
		t.Fatalf("history: %v", got)
	}
	manifest := c.berth(t, "get", "manifest", "big", "-n", ns)
	if len(manifest) < 10<<20 {
		t.Fatalf("manifest of %d bytes, want over 10 MiB", len(manifest))
	}
	got := c.kubectl(t, "get", "configmaps", "-n", ns, "-o", "name", "-l", "app.kubernetes.io/managed-by=Helm")
	for i := 0; i < 20; i++ {
		if !strings.Contains(got, fmt.Sprintf("configmap/big-%d\n", i)) {
			t.Fatalf("configmap big-%d missing:\n%s", i, got)
		}
	}
}

// TestReleaseListMany: listing reads one index entry per release, so 1,000
// releases of several revisions each list correctly (make bench times 1,000
// releases of 10 revisions against Helm).
func TestReleaseListMany(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	fillReleases(t, c, ns, 1000, 3)
	out := c.berth(t, "list", "-n", ns, "-m", "0", "-o", "json")
	var releases []struct {
		Name, Revision, Status string
	}
	if err := json.Unmarshal([]byte(out), &releases); err != nil {
		t.Fatal(err)
	}
	if len(releases) != 1000 || releases[0].Revision != "3" || releases[0].Status != "deployed" {
		t.Fatalf("listed %d releases, first %+v", len(releases), releases[0])
	}
}

// fillReleases stores n releases of revisions revisions each directly through
// the release store, as berth install and upgrade would have.
func fillReleases(t testing.TB, c *cluster, ns string, n, revisions int) {
	t.Helper()
	store, err := storage.New(c.config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, namespaceObject(ns), metav1CreateOptions); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := fill(ns, n, revisions, func(rel *helmrelease.Release) error { return store.Create(ctx, rel) }); err != nil {
		t.Fatal(err)
	}
}

// fill stores, 16 at a time, n releases of revisions revisions each, the last
// deployed and the others superseded, with put.
func fill(ns string, n, revisions int, put func(*helmrelease.Release) error) error {
	var g errgroup.Group
	g.SetLimit(16)
	for i := 0; i < n; i++ {
		g.Go(func() error {
			for r := 1; r <= revisions; r++ {
				status := helmrelease.StatusSuperseded
				if r == revisions {
					status = helmrelease.StatusDeployed
				}
				rel := &helmrelease.Release{
					Name: fmt.Sprintf("rel-%04d", i), Namespace: ns, Version: r, Manifest: "kind: ConfigMap\n",
					Chart:  &chart.Chart{Metadata: &chart.Metadata{Name: "app", Version: "0.1.0", AppVersion: "1.0"}},
					Info:   &helmrelease.Info{Status: status, Description: "Upgrade complete"},
					Config: map[string]any{"i": i},
				}
				if err := put(rel); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

var metav1CreateOptions = metav1.CreateOptions{}

func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// TestReleaseAtomic: a failing upgrade is rolled back with --atomic, and the
// failed revision says why. (Nothing runs pods in this cluster: the chart's
// Deployment is left out, so that waiting can succeed.)
func TestReleaseAtomic(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	app := testChart(t)
	c.berth(t, "install", "web", app, "-n", ns, "--set", "deployment=false")
	_, stderr, err := c.berthResult("upgrade", "web", app, "-n", ns, "--set", "deployment=false,message=new,badHook=true", "--atomic", "--timeout", "20s")
	if err == nil || !strings.Contains(stderr, "has been rolled back due to atomic being set") || !strings.Contains(stderr, "pre-upgrade hooks failed") {
		t.Fatalf("atomic upgrade: %v\n%s", err, stderr)
	}
	if got := c.history(t, ns, "web"); strings.Join(got, " ") != "1:superseded 2:failed 3:deployed" {
		t.Fatalf("history: %v", got)
	}
	if got := c.kubectl(t, "get", "configmap", "web-config", "-n", ns, "-o", "jsonpath={.data.message}"); got != "hello" {
		t.Fatalf("message after the rollback: %q", got)
	}
}

// TestReleaseInspect: dry runs change nothing, diff shows what an upgrade
// would change, get and test answer as Helm's do.
func TestReleaseInspect(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	app := testChart(t)
	out := c.berth(t, "install", "web", app, "-n", ns, "--dry-run")
	if !strings.Contains(out, "STATUS: pending-install") {
		t.Fatalf("dry run:\n%s", out)
	}
	if got := c.kubectl(t, "get", "configmaps", "-n", ns, "-o", "name", "-l", "app.kubernetes.io/managed-by=Helm"); got != "" {
		t.Fatalf("dry run created %s", got)
	}
	c.berth(t, "install", "web", app, "-n", ns, "--set", "message=one")

	diff := c.berth(t, "diff", "upgrade", "web", app, "-n", ns, "--set", "message=two")
	if !strings.Contains(diff, `-  message: one`) || !strings.Contains(diff, `+  message: two`) {
		t.Fatalf("diff upgrade:\n%s", diff)
	}
	if got := c.kubectl(t, "get", "configmap", "web-config", "-n", ns, "-o", "jsonpath={.data.message}"); got != "one" {
		t.Fatalf("diff changed the object: %q", got)
	}
	if values := c.berth(t, "get", "values", "web", "-n", ns); values != "USER-SUPPLIED VALUES:\nmessage: one\n" {
		t.Fatalf("get values: %q", values)
	}
	if manifest := c.berth(t, "get", "manifest", "web", "-n", ns); !strings.Contains(manifest, "# Source: app/templates/config.yaml") {
		t.Fatalf("get manifest:\n%s", manifest)
	}
	out = c.berth(t, "test", "web", "-n", ns)
	if !strings.Contains(out, "TEST SUITE:     web-test") || !strings.Contains(out, "Phase:          Succeeded") {
		t.Fatalf("test:\n%s", out)
	}
	if status := c.berth(t, "status", "web", "-n", ns); !strings.Contains(status, "TEST SUITE:     web-test") {
		t.Fatalf("status after test:\n%s", status)
	}
	if _, stderr, err := c.berthResult("status", "nope", "-n", ns); err == nil || !strings.Contains(stderr, "not found") {
		t.Fatalf("status of an unknown release: %v %s", err, stderr)
	}
	if _, stderr, err := c.berthResult("install", "bad", app, "-n", ns, "--set", "a[x]=1"); err == nil || !strings.Contains(stderr, "failed parsing --set data") {
		t.Fatalf("bad --set: %v %s", err, stderr)
	}
}
