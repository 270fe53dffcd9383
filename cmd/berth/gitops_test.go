package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"berth.dev/berth/release/gitops/checkout/gittest"
)

// gitRepo is a Git repository a test commits Releases to, as a team would.
type gitRepo struct {
	*gittest.Repo
	t testing.TB
}

func newGitRepo(t testing.TB) *gitRepo {
	return &gitRepo{Repo: gittest.New(t, "main"), t: t}
}

// addChart commits the demo chart under dir at version.
func (g *gitRepo) addChart(dir, version string) {
	g.t.Helper()
	g.commitTree(helloChart(g.t), dir, func(rel, content string) string {
		if rel == "Chart.yaml" {
			return strings.Replace(content, "version: 0.1.0", "version: "+version, 1)
		}
		return content
	})
}

// addChartFrom commits the chart directory src under dir.
func (g *gitRepo) addChartFrom(src, dir string) {
	g.t.Helper()
	g.commitTree(src, dir, func(_, content string) string { return content })
}

// commitTree commits the files of directory src under dir, each as edit
// makes it.
func (g *gitRepo) commitTree(src, dir string, edit func(rel, content string) string) {
	g.t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(filepath.Join(dir, rel))] = edit(filepath.ToSlash(rel), string(b))
		return nil
	})
	if err != nil {
		g.t.Fatal(err)
	}
	g.Commit(files)
}

// berthExit runs a berth command expecting exit code want and returns its
// standard output and error.
func (c *cluster) berthExit(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, stderr, err := c.berthResult(args...)
	exit := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("berth %v: %v", args, err)
	}
	if exit != want {
		t.Fatalf("berth %v: exit %d, want %d\n%s%s", args, exit, want, out, stderr)
	}
	return out + stderr
}

// releaseYAML is a Release of the demo chart at chart/ in ns.
func releaseYAML(name, ns, message, extra string) string {
	return `apiVersion: berth.dev/v1
kind: Release
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  chart: {path: chart}
  values: {message: ` + message + `, replicaCount: 1, image: {pullPolicy: Never}}
` + extra
}

// TestGitOpsSync runs `berth sync` from a pipeline's point of view over a
// series of commits: a Release committed is installed, an unchanged one
// writes no revision, a version bump upgrades, a revert rolls forward to the
// old version, a broken commit changes nothing, dependsOn orders two
// Releases, drift is reported in warn mode and corrected in correct mode,
// and a Release removed from Git is uninstalled with --prune.
func TestGitOpsSync(t *testing.T) {
	c := node.getNode(t)
	ns := c.namespace(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // berth sync's checkouts
	g := newGitRepo(t)
	g.addChart("chart", "0.1.0")
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "one", "")})

	sync := func(wantExit int, args ...string) string {
		t.Helper()
		return c.berthExit(t, wantExit, append([]string{"sync", "--repo", g.FileURL(), "--path", "releases", "--prune"}, args...)...)
	}
	action := func(report, name string) string {
		t.Helper()
		for _, line := range strings.Split(report, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == ns && f[1] == name {
				rest := strings.Join(f[2:], " ")
				for _, a := range []string{"installed", "upgraded", "unchanged", "drift corrected", "drift detected", "failed", "stalled", "pruned", "waiting for dependencies", "would upgrade", "would install"} {
					if strings.HasPrefix(rest, a) {
						return a
					}
				}
			}
		}
		t.Fatalf("no line for %s in the report:\n%s", name, report)
		return ""
	}
	if a := action(sync(0), "app"); a != "installed" {
		t.Fatalf("first sync: %s", a)
	}
	if got := c.history(t, ns, "app"); strings.Join(got, " ") != "1:deployed" {
		t.Fatalf("history after install: %v", got)
	}
	// Nothing changed: no revision.
	if a := action(sync(0), "app"); a != "unchanged" {
		t.Errorf("second sync: %s", a)
	}
	if got := c.history(t, ns, "app"); len(got) != 1 {
		t.Errorf("an unchanged sync wrote a revision: %v", got)
	}

	// A version bump with a new message upgrades; --dry-run first says so.
	g.addChart("chart", "0.2.0")
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "two", "")})
	if a := action(sync(0, "--dry-run"), "app"); a != "would upgrade" {
		t.Errorf("dry run: %s", a)
	}
	if got := c.history(t, ns, "app"); len(got) != 1 {
		t.Errorf("a dry run wrote a revision: %v", got)
	}
	if a := action(sync(0), "app"); a != "upgraded" {
		t.Errorf("sync of the bump: %s", a)
	}
	if got := c.kubectl(t, "get", "deployment", "app", "-n", ns, "-o", `jsonpath={.spec.template.spec.containers[0].env[0].value}`); got != "two" {
		t.Errorf("message after the bump: %q", got)
	}

	// Reverting the commit rolls forward to the old chart and message.
	g.addChart("chart", "0.1.0")
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "one", "")})
	if a := action(sync(0), "app"); a != "upgraded" {
		t.Errorf("sync of the revert: %s", a)
	}
	hist := c.berth(t, "history", "app", "-n", ns)
	if !strings.Contains(hist, "3") || !strings.Contains(hist, "hello-0.1.0") || !strings.Contains(hist, "by berth gitops from commit") {
		t.Errorf("history after the revert:\n%s", hist)
	}

	// An upgrade that never gets ready is retried once, then rolled back,
	// and then left alone (Stalled) until the next change.
	g.Commit(map[string]string{"releases/app.yaml": strings.Replace(releaseYAML("app", ns, "one", "  timeout: 5s\n  upgrade: {remediation: {retries: 1, strategy: rollback}}\n"),
		"pullPolicy: Never}", "pullPolicy: Never, repository: berth.dev/test/missing}", 1)})
	if out := sync(2); action(out, "app") != "failed" || !strings.Contains(out, "attempt 1 of 2") {
		t.Errorf("first failed attempt:\n%s", out)
	}
	if out := sync(2); action(out, "app") != "stalled" || !strings.Contains(out, "remediated by rollback") {
		t.Errorf("second failed attempt:\n%s", out)
	}
	if out := sync(2); action(out, "app") != "stalled" {
		t.Errorf("a Stalled Release was tried again:\n%s", out)
	}
	wantHistory := "1:superseded 2:superseded 3:superseded 4:failed 5:failed 6:deployed"
	if got := c.history(t, ns, "app"); strings.Join(got, " ") != wantHistory {
		t.Errorf("history after the failed upgrades: %v, want %s", got, wantHistory)
	}
	if got := c.kubectl(t, "get", "releases.berth.dev", "app", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Stalled")].status}`); got != "True" {
		t.Errorf("Stalled condition: %q", got)
	}

	// A broken commit is reported and changes nothing.
	g.Commit(map[string]string{"releases/app.yaml": "apiVersion: berth.dev/v1\nkind: Release\nmetadata: {name: app\n"})
	if out := sync(1); !strings.Contains(out, "releases/app.yaml") {
		t.Errorf("the broken commit's error does not name the file:\n%s", out)
	}
	if got := c.history(t, ns, "app"); strings.Join(got, " ") != wantHistory {
		t.Errorf("a broken commit changed the release: %v", got)
	}

	// dependsOn: app waits for db, though app's file comes first. db's
	// values come from a ConfigMap and a file of the repository, in order,
	// under its own.
	c.kubectl(t, "create", "configmap", "db-values", "-n", ns, "--from-literal=values.yaml=message: from-configmap\nreplicaCount: 3\n")
	g.Commit(map[string]string{
		"releases/app.yaml": releaseYAML("app", ns, "one", "  dependsOn: [{name: db}]\n"),
		"releases/db.yaml": `apiVersion: berth.dev/v1
kind: Release
metadata: {name: db, namespace: ` + ns + `}
spec:
  chart: {path: chart}
  valuesFrom: [{kind: ConfigMap, name: db-values}, {kind: File, name: values/db.yaml}]
  values: {image: {pullPolicy: Never}}
`,
		"values/db.yaml": "replicaCount: 1\n",
	})
	out := sync(0)
	if i, j := strings.Index(out, ns+"  db "), strings.Index(out, ns+"  app "); i < 0 || j < 0 || i > j {
		t.Errorf("db is not reconciled before app:\n%s", out)
	}
	if got := c.kubectl(t, "get", "deployment", "db", "-n", ns, "-o", `jsonpath={.spec.replicas} {.spec.template.spec.containers[0].env[0].value}`); got != "1 from-configmap" {
		t.Errorf("db's values from the ConfigMap and the file: %q, want replicas 1 and the ConfigMap's message", got)
	}

	// Drift: reported in warn mode, corrected in correct mode.
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "one", "  dependsOn: [{name: db}]\n  driftDetection: {mode: warn}\n")})
	sync(0)
	c.kubectl(t, "scale", "deployment", "app", "-n", ns, "--replicas=0")
	out = sync(2)
	if a := action(out, "app"); a != "drift detected" || !strings.Contains(out, "replicas: 0") {
		t.Errorf("drift in warn mode: %s\n%s", a, out)
	}
	if got := c.kubectl(t, "get", "deployment", "app", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "0" {
		t.Errorf("warn mode changed the replicas: %s", got)
	}
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "one", "  dependsOn: [{name: db}]\n  driftDetection: {mode: correct}\n")})
	if a := action(sync(0), "app"); a != "drift corrected" {
		t.Errorf("drift in correct mode: %s", a)
	}
	if got := c.kubectl(t, "get", "deployment", "app", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "1" {
		t.Errorf("correct mode left the replicas at %s", got)
	}

	// Removed from Git: uninstalled and deleted with --prune.
	g.Commit(map[string]string{"releases/app.yaml": "", "releases/db.yaml": "", "releases/README.md": "No releases for now.\n"})
	out = sync(0)
	if action(out, "app") != "pruned" || action(out, "db") != "pruned" {
		t.Errorf("prune:\n%s", out)
	}
	if got := c.berth(t, "list", "-n", ns, "-q"); strings.TrimSpace(got) != "" {
		t.Errorf("releases left after prune: %s", got)
	}
	if got := c.kubectl(t, "get", "releases.berth.dev", "-n", ns, "-o", "name"); got != "" {
		t.Errorf("Release objects left after prune: %s", got)
	}
}

// TestGitOpsController: berth server's controller applies what a
// GitSource's commits declare and reconciles it: a commit installs, the next
// upgrades, a broken one is reported on the GitSource and changes nothing, a
// Release removed from Git is uninstalled. A commit takes effect within the
// GitSource's interval, or at once with berth reconcile.
func TestGitOpsController(t *testing.T) {
	c := node.getNode(t)
	ns := c.namespace(t)
	g := newGitRepo(t)
	g.addChart("chart", "0.1.0")
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "one", "")})
	c.kubectlStdin(t, `apiVersion: berth.dev/v1
kind: GitSource
metadata: {name: team, namespace: `+ns+`}
spec: {url: "`+g.FileURL()+`", path: releases, interval: 2s}
`, "apply", "-f", "-")

	reconcile := func(wantExit int, args ...string) string {
		t.Helper()
		return c.berthExit(t, wantExit, append([]string{"reconcile", "-n", ns, "--timeout", "2m"}, args...)...)
	}
	revision := func(want int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			got := c.history(t, ns, "app")
			if len(got) == want && strings.HasSuffix(got[want-1], ":deployed") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("release app never reached revision %d deployed: %v\n%s", want, got, c.kubectl(t, "get", "releases.berth.dev,gitsources.berth.dev", "-n", ns, "-o", "yaml"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	if out := reconcile(0, "source", "team"); !strings.Contains(out, "applied 1 Releases from commit") {
		t.Errorf("reconcile source said %q", out)
	}
	revision(1)
	c.kubectl(t, "wait", "-n", ns, "--for=condition=Ready", "releases.berth.dev/app", "--timeout=2m")
	if out := reconcile(0, "release", "app"); !strings.Contains(out, "at revision 1") {
		t.Errorf("reconcile of an unchanged Release said %q", out)
	}
	if got := c.history(t, ns, "app"); len(got) != 1 {
		t.Errorf("reconciling an unchanged Release wrote a revision: %v", got)
	}

	// Without asking: the next fetch, at the interval, finds the commit.
	g.Commit(map[string]string{"releases/app.yaml": releaseYAML("app", ns, "two", "")})
	revision(2)

	g.Commit(map[string]string{"releases/app.yaml": "kind: Release\napiVersion: berth.dev/v1\nspec: {chart: {path: nowhere}}\n"})
	if out := reconcile(2, "source", "team"); !strings.Contains(out, "releases/app.yaml") {
		t.Errorf("the broken commit's report does not name the file: %q", out)
	}
	if got := c.history(t, ns, "app"); len(got) != 2 {
		t.Errorf("a broken commit changed the release: %v", got)
	}

	g.Commit(map[string]string{"releases/app.yaml": "", "releases/README.md": "No releases for now.\n"})
	reconcile(0, "source", "team")
	deadline := time.Now().Add(2 * time.Minute)
	for c.kubectl(t, "get", "releases.berth.dev", "-n", ns, "-o", "name") != "" || strings.TrimSpace(c.berth(t, "list", "-n", ns, "-q")) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("the Release removed from Git was not uninstalled:\n%s", c.kubectl(t, "get", "releases.berth.dev", "-n", ns, "-o", "yaml"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
