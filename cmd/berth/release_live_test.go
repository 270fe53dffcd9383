package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// liveStatus is `berth status -o json` as a pipeline reads it.
type liveStatus struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Info    struct {
		Status string `json:"status"`
	} `json:"info"`
	Resources []struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Namespace  string `json:"namespace"`
		Name       string `json:"name"`
		Status     string `json:"status"`
		Message    string `json:"message"`
	} `json:"resources"`
}

// status returns the status of each object of the release, by "Kind name".
func (s liveStatus) status() map[string]string {
	out := map[string]string{}
	for _, r := range s.Resources {
		out[r.Kind+" "+r.Name] = r.Status
	}
	return out
}

// liveStatusOf polls `berth status -o json` until ok accepts it, and fails the
// test naming what it last saw after a minute.
func liveStatusOf(t *testing.T, c *cluster, ns, name string, ok func(liveStatus) error) liveStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var s liveStatus
		out := c.berth(t, "status", name, "-n", ns, "-o", "json")
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("status -o json: %v\n%s", err, out)
		}
		err := ok(s)
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s: %v\n%s", name, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// wantStatuses accepts a status whose objects have the given statuses, every
// one of them.
func wantStatuses(want map[string]string) func(liveStatus) error {
	return func(s liveStatus) error {
		got := s.status()
		if len(got) != len(want) {
			return fmt.Errorf("objects %v, want %v", got, want)
		}
		for obj, st := range want {
			if got[obj] != st {
				return fmt.Errorf("%s is %q, want %q (all: %v)", obj, got[obj], st, got)
			}
		}
		return nil
	}
}

// TestReleaseLiveStatus: berth status shows the live status of each object of
// a release, in its table and its JSON: Current once ready, NotFound once
// deleted, InProgress while the pods cannot start.
func TestReleaseLiveStatus(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	chart := helloChart(t)
	c.berth(t, "install", "web", chart, "-n", ns, "--wait", "--timeout", "2m", "--set", "ingress.enabled=true,image.pullPolicy=Never")
	c.berth(t, "install", "broken", chart, "-n", ns, "--set", "replicaCount=1,ingress.enabled=true,ingress.host=broken.local,image.repository=berth.dev/test/missing,image.pullPolicy=Never")

	s := liveStatusOf(t, c, ns, "web", wantStatuses(map[string]string{
		"Ingress web": "Current", "Service web": "Current", "Deployment web": "Current",
	}))
	if s.Name != "web" || s.Version != 1 || s.Info.Status != "deployed" {
		t.Errorf("release fields of status -o json: name %q version %d status %q", s.Name, s.Version, s.Info.Status)
	}
	for _, r := range s.Resources {
		if r.Namespace != ns || r.Message == "" || (r.Kind == "Deployment" && r.APIVersion != "apps/v1") {
			t.Errorf("resource %+v: want namespace %s, a message and the manifest's apiVersion", r, ns)
		}
	}
	if out := c.berth(t, "status", "web", "-n", ns, "-o", "yaml"); !strings.Contains(out, "resources:\n- apiVersion: v1\n") {
		t.Errorf("status -o yaml lacks the resources:\n%s", out)
	}

	c.kubectl(t, "delete", "ingress", "web", "-n", ns)
	table := c.berth(t, "status", "web", "-n", ns)
	for _, want := range []string{
		`(?m)^STATUS: deployed$`,
		`(?m)^RESOURCES:\nKIND\s+NAMESPACE\s+NAME\s+STATUS\s+MESSAGE\s*$`,
		`(?m)^Ingress\s+` + ns + `\s+web\s+NotFound\s+not found\s*$`,
		`(?m)^Deployment\s+` + ns + `\s+web\s+Current\s+\S`,
	} {
		if !regexp.MustCompile(want).MatchString(table) {
			t.Errorf("status table does not match %s:\n%s", want, table)
		}
	}

	// The broken release's pods wait for an image that is not there.
	deadline := time.Now().Add(time.Minute)
	for c.kubectl(t, "get", "pods", "-n", ns, "-l", "app.kubernetes.io/instance=broken", "-o", "jsonpath={..state.waiting.reason}") != "ErrImageNeverPull" {
		if time.Now().After(deadline) {
			t.Fatal("the broken release's pod never waited with ErrImageNeverPull")
		}
		time.Sleep(500 * time.Millisecond)
	}
	liveStatusOf(t, c, ns, "broken", wantStatuses(map[string]string{
		"Ingress broken": "Current", "Service broken": "InProgress", "Deployment broken": "InProgress",
	}))
}

// TestReleaseLiveDrift: berth diff release shows what was changed or deleted
// behind the release's back, and an upgrade with the same chart and values puts
// it all back.
func TestReleaseLiveDrift(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	chart := helloChart(t)
	c.berth(t, "install", "web", chart, "-n", ns, "--wait", "--timeout", "2m", "--set", "ingress.enabled=true,image.pullPolicy=Never")
	noDrift(t, c, ns, "web")

	c.kubectl(t, "scale", "deployment", "web", "-n", ns, "--replicas=0")
	c.kubectl(t, "label", "deployment", "web", "-n", ns, "app.kubernetes.io/instance=drifted", "--overwrite")
	c.kubectl(t, "patch", "ingress", "web", "-n", ns, "--type=json", "-p", `[{"op":"replace","path":"/spec/rules/0/host","value":"drifted.local"}]`)
	c.kubectl(t, "delete", "service", "web", "-n", ns)
	diff := c.berth(t, "diff", "release", "web", "-n", ns)
	for _, want := range []string{
		"\n-  replicas: 0\n", "\n+  replicas: 2\n",
		"\n-    app.kubernetes.io/instance: drifted\n", "\n+    app.kubernetes.io/instance: web\n",
		"\n-  - host: drifted.local\n", "\n+  - host: hello.local\n",
		"--- /dev/null\n+++ applied v1 Service " + ns + "/web\n",
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff release lacks %q:\n%s", want, diff)
		}
	}
	out, stderr, err := c.berthResult("diff", "release", "web", "-n", ns, "--detailed-exitcode")
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != int(diffChangedExitCode) || !strings.Contains(out, "+  replicas: 2\n") {
		t.Errorf("diff release --detailed-exitcode with drift: %v, want exit code %d and the diff\n%s%s", err, diffChangedExitCode, out, stderr)
	}

	c.berth(t, "upgrade", "web", chart, "-n", ns, "--wait", "--timeout", "2m")
	noDrift(t, c, ns, "web")
	for obj, field := range map[string]struct{ path, want string }{
		"deployment/web": {`{.spec.replicas} {.metadata.labels.app\.kubernetes\.io/instance}`, "2 web"},
		"ingress/web":    {`{.spec.rules[0].host}`, "hello.local"},
		"service/web":    {`{.spec.ports[0].name}`, "http"},
	} {
		got, want := c.kubectl(t, "get", obj, "-n", ns, "-o", "jsonpath="+field.path), field.want
		if got != want {
			t.Errorf("%s after the upgrade: %q, want %q", obj, got, want)
		}
	}
}

// noDrift waits for berth diff release --detailed-exitcode to show nothing and
// exit 0. A controller still writing an object's status between the diff's
// read and its dry run shows as a change for a moment, so it asks again for
// up to half a minute.
func noDrift(t *testing.T, c *cluster, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, stderr, err := c.berthResult("diff", "release", name, "-n", ns, "--detailed-exitcode")
		if err == nil && out == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("diff release %s: %v, want no drift:\n%s%s", name, err, out, stderr)
		}
		time.Sleep(time.Second)
	}
}

// TestReleaseLiveUninstallWait: uninstall --wait returns once the release's
// objects and what they own (ReplicaSets, Pods) are gone.
func TestReleaseLiveUninstallWait(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.berth(t, "install", "web", helloChart(t), "-n", ns, "--set", "ingress.enabled=true,image.pullPolicy=Never", "--wait", "--timeout", "2m")
	c.berth(t, "uninstall", "web", "-n", ns, "--wait", "--timeout", "2m")
	if left := c.kubectl(t, "get", "deployments,replicasets,pods,services,ingresses", "-n", ns, "-l", "app.kubernetes.io/instance=web", "-o", "name"); left != "" {
		t.Fatalf("left after uninstall --wait returned:\n%s", left)
	}
}
