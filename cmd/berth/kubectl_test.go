package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {tier: frontend}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
`

func TestKubectlApply(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)

	if out := c.kubectlStdin(t, webDeployment, "apply", "-n", ns, "-f", "-"); !strings.Contains(out, "deployment.apps/web created") {
		t.Fatalf("first apply: %q", out)
	}
	if out := c.kubectlStdin(t, webDeployment, "apply", "-n", ns, "-f", "-"); !strings.Contains(out, "deployment.apps/web unchanged") {
		t.Fatalf("re-apply of the same manifest: %q", out)
	}
	changed := strings.Replace(webDeployment, "replicas: 2", "replicas: 3", 1)
	if out := c.kubectlStdin(t, changed, "apply", "-n", ns, "-f", "-"); !strings.Contains(out, "deployment.apps/web configured") {
		t.Fatalf("apply with a change: %q", out)
	}
	if got := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas} {.metadata.generation}"); got != "3 2" {
		t.Fatalf("replicas and generation after the change = %q, want \"3 2\"", got)
	}
	// The server fills in what kubectl's three-way merge expects to read back.
	got := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o",
		"jsonpath={.spec.strategy.type} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.restartPolicy}")
	if got != "RollingUpdate 10 IfNotPresent Always" {
		t.Fatalf("defaults = %q", got)
	}

	// Server-side apply records the manager and refuses to take a field another
	// manager owns unless forced.
	c.kubectlStdin(t, changed, "apply", "--server-side", "--field-manager", "one", "-n", ns, "-f", "-")
	conflict := strings.Replace(webDeployment, "replicas: 2", "replicas: 5", 1)
	out, stderr, err := c.kubectlResult([]string{"apply", "--server-side", "--field-manager", "two", "-n", ns, "-f", "-"}, strings.NewReader(conflict))
	if err == nil || !strings.Contains(stderr, "conflict") || !strings.Contains(stderr, ".spec.replicas") {
		t.Fatalf("conflicting server-side apply: err=%v\n%s%s", err, out, stderr)
	}
	c.kubectlStdin(t, conflict, "apply", "--server-side", "--force-conflicts", "--field-manager", "two", "-n", ns, "-f", "-")
	if got := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "5" {
		t.Fatalf("replicas after forced apply = %q", got)
	}

	// Server-side dry run validates and stores nothing.
	c.kubectlStdin(t, strings.Replace(webDeployment, "name: web", "name: dry", 1), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if stderr := c.kubectlFails(t, "get", "deployment", "dry", "-n", ns); !strings.Contains(stderr, `deployments.apps "dry" not found`) {
		t.Fatalf("dry-run object was stored: %s", stderr)
	}
}

func TestKubectlStrictValidation(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	bad := strings.Replace(webDeployment, "  replicas: 2\n", "  replicas: 2\n  resources: {}\n", 1)
	out, stderr, err := c.kubectlResult([]string{"apply", "-n", ns, "-f", "-"}, strings.NewReader(bad))
	if err == nil || !strings.Contains(stderr, `strict decoding error: unknown field "spec.resources"`) {
		t.Fatalf("apply with an unknown field: err=%v\n%s%s", err, out, stderr)
	}
	if stderr := c.kubectlFails(t, "get", "deployment", "web", "-n", ns); !strings.Contains(stderr, "not found") {
		t.Fatalf("rejected object was stored: %s", stderr)
	}
}

func TestKubectlGet(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, webDeployment, "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "create", "configmap", "one", "-n", ns, "--from-literal=k=v")
	c.kubectl(t, "create", "configmap", "two", "-n", ns, "--from-literal=k=v")
	c.kubectl(t, "label", "configmap", "two", "-n", ns, "pick=me")

	table := c.kubectl(t, "get", "deployments", "-n", ns)
	for _, col := range []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web", "0/2"} {
		if !strings.Contains(table, col) {
			t.Errorf("kubectl get deployments lacks %q:\n%s", col, table)
		}
	}
	wide := c.kubectl(t, "get", "deployments", "-n", ns, "-o", "wide")
	for _, col := range []string{"CONTAINERS", "IMAGES", "SELECTOR", "nginx:1.27", "app=web"} {
		if !strings.Contains(wide, col) {
			t.Errorf("kubectl get -o wide lacks %q:\n%s", col, wide)
		}
	}
	if got := c.kubectl(t, "get", "configmaps", "-n", ns, "-l", "pick=me", "-o", "name"); got != "configmap/two\n" {
		t.Errorf("label selector: %q", got)
	}
	if got := c.kubectl(t, "get", "configmaps", "-n", ns, "--field-selector", "metadata.name=one", "-o", "name"); got != "configmap/one\n" {
		t.Errorf("field selector: %q", got)
	}
	if stderr := c.kubectlFails(t, "get", "pods", "-n", ns, "--field-selector", "spec.nope=x"); !strings.Contains(stderr, `field label not supported: spec.nope`) {
		t.Errorf("unsupported field selector: %s", stderr)
	}
	all := c.kubectl(t, "get", "configmaps", "-A")
	if !strings.Contains(all, "NAMESPACE") || !strings.Contains(all, ns) {
		t.Errorf("get -A:\n%s", all)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(c.kubectl(t, "get", "configmap", "one", "-n", ns, "-o", "json")), &obj); err != nil {
		t.Fatal(err)
	}
	if obj["kind"] != "ConfigMap" || obj["apiVersion"] != "v1" {
		t.Errorf("-o json kind/apiVersion: %v %v", obj["kind"], obj["apiVersion"])
	}
	meta := obj["metadata"].(map[string]any)
	if meta["uid"] == "" || meta["creationTimestamp"] == nil || meta["resourceVersion"] == "" {
		t.Errorf("server-set metadata missing: %v", meta)
	}
	if y := c.kubectl(t, "get", "configmap", "one", "-n", ns, "-o", "yaml"); !strings.Contains(y, "kind: ConfigMap") || !strings.Contains(y, "k: v") {
		t.Errorf("-o yaml:\n%s", y)
	}
	getAll := c.kubectl(t, "get", "all", "-n", ns)
	if !strings.Contains(getAll, "deployment.apps/web") {
		t.Errorf("get all:\n%s", getAll)
	}
	if strings.Contains(getAll, "configmap") {
		t.Errorf("get all lists configmaps, which are not in the all category:\n%s", getAll)
	}
}

func TestKubectlWatch(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	c.kubectl(t, "create", "configmap", "before", "-n", ns)
	cmd := exec.Command("kubectl", "get", "configmaps", "-n", ns, "-w", "-o", "name")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// kubectl lists first and watches from the list's resourceVersion, so nothing
	// created after the list shows up can be missed.
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "configmap/before") })
	c.kubectl(t, "create", "configmap", "after", "-n", ns)
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "configmap/after") })
}

func TestKubectlModify(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, webDeployment, "apply", "-n", ns, "-f", "-")

	c.kubectl(t, "label", "deployment", "web", "-n", ns, "env=test")
	c.kubectl(t, "annotate", "deployment", "web", "-n", ns, "owner=team-a")
	if got := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.metadata.labels.env} {.metadata.annotations.owner}"); got != "test team-a" {
		t.Errorf("label and annotate: %q", got)
	}

	c.kubectl(t, "patch", "deployment", "web", "-n", ns, "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}`)
	c.kubectl(t, "patch", "deployment", "web", "-n", ns, "--type", "merge", "-p", `{"metadata":{"labels":{"merged":"yes"}}}`)
	c.kubectl(t, "patch", "deployment", "web", "-n", ns, "--type", "json", "-p", `[{"op":"replace","path":"/spec/minReadySeconds","value":5}]`)
	got := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o",
		"jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.metadata.labels.merged} {.spec.minReadySeconds}")
	if got != "nginx:1.28 80 yes 5" {
		t.Errorf("after strategic, merge and json patches: %q", got)
	}

	if out := c.kubectl(t, "scale", "deployment", "web", "-n", ns, "--replicas", "4"); !strings.Contains(out, "deployment.apps/web scaled") {
		t.Errorf("scale: %q", out)
	}
	if got := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "4" {
		t.Errorf("replicas after scale = %q", got)
	}

	// kubectl edit, with an editor that rewrites the image.
	editor := filepath.Join(t.TempDir(), "editor.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/nginx:1.28/nginx:1.29/' \"$1\"\n"), 0o755)
	if _, stderr, err := c.kubectlResult([]string{"edit", "deployment", "web", "-n", ns}, nil, "EDITOR="+editor, "KUBE_EDITOR="+editor); err != nil {
		t.Fatalf("kubectl edit: %v\n%s", err, stderr)
	}
	if got := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "nginx:1.29" {
		t.Errorf("image after edit = %q", got)
	}

	desc := c.kubectl(t, "describe", "deployment", "web", "-n", ns)
	for _, want := range []string{"Name:", "web", "Selector:", "app=web", "Replicas:", "4 desired", "StrategyType:", "RollingUpdate", "nginx:1.29"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe lacks %q:\n%s", want, desc)
		}
	}
}

func TestKubectlDelete(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	for _, name := range []string{"a", "b", "c"} {
		c.kubectl(t, "create", "configmap", name, "-n", ns)
	}
	c.kubectl(t, "label", "configmap", "a", "b", "-n", ns, "group=x")
	if out := c.kubectl(t, "delete", "configmaps", "-n", ns, "-l", "group=x"); !strings.Contains(out, `configmap "a" deleted`) || !strings.Contains(out, `configmap "b" deleted`) {
		t.Errorf("delete -l: %q", out)
	}
	if got := c.kubectl(t, "get", "configmaps", "-n", ns, "-o", "name", "--field-selector", "metadata.name!=kube-root-ca.crt"); got != "configmap/c\n" {
		t.Errorf("left after delete -l: %q", got)
	}

	// Deleting a namespace deletes everything in it.
	doomed := c.namespace(t)
	c.kubectlStdin(t, webDeployment, "apply", "-n", doomed, "-f", "-")
	c.kubectl(t, "create", "secret", "generic", "s", "-n", doomed, "--from-literal=a=b")
	if out := c.kubectl(t, "delete", "namespace", doomed, "--timeout=60s"); !strings.Contains(out, `namespace "`+doomed+`" deleted`) {
		t.Errorf("delete namespace: %q", out)
	}
	if stderr := c.kubectlFails(t, "get", "namespace", doomed); !strings.Contains(stderr, "not found") {
		t.Errorf("namespace still there: %s", stderr)
	}
	if got := c.kubectl(t, "get", "deployments,secrets", "-n", doomed, "-o", "name"); got != "" {
		t.Errorf("content survived its namespace: %q", got)
	}
}

func TestKubectlDiscovery(t *testing.T) {
	c := sharedCluster.get(t)
	resources := c.kubectl(t, "api-resources")
	for _, line := range []string{
		"pods                              po           v1                                true         Pod",
		"deployments                       deploy       apps/v1                           true         Deployment",
		"customresourcedefinitions         crd,crds     apiextensions.k8s.io/v1           false        CustomResourceDefinition",
	} {
		fields := strings.Fields(line)
		found := false
		for _, got := range strings.Split(resources, "\n") {
			if strings.Join(strings.Fields(got), " ") == strings.Join(fields, " ") {
				found = true
			}
		}
		if !found {
			t.Errorf("api-resources lacks %q:\n%s", strings.Join(fields, " "), resources)
		}
	}
	versions := c.kubectl(t, "api-versions")
	for _, gv := range []string{"v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1", "networking.k8s.io/v1",
		"discovery.k8s.io/v1", "coordination.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
		"rbac.authorization.k8s.io/v1", "apiextensions.k8s.io/v1"} {
		if !strings.Contains("\n"+versions, "\n"+gv+"\n") {
			t.Errorf("api-versions lacks %s:\n%s", gv, versions)
		}
	}
	explain := c.kubectl(t, "explain", "deployment")
	for _, want := range []string{"GROUP:      apps", "KIND:       Deployment", "VERSION:    v1", "spec\t<DeploymentSpec> -required-"} {
		if !strings.Contains(explain, want) {
			t.Errorf("explain deployment lacks %q:\n%s", want, explain)
		}
	}
	if out := c.kubectl(t, "explain", "deployment.spec.replicas"); !strings.Contains(out, "replicas\t<integer>") && !strings.Contains(out, "FIELD: replicas <integer>") {
		t.Errorf("explain deployment.spec.replicas:\n%s", out)
	}
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
