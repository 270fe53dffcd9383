package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const crontabCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer, minimum: 1}
`

const crontab = `apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: nightly
spec:
  cronSpec: "0 3 * * *"
  replicas: 2
`

// TestCustomResources: charts ship CRDs; their custom resources must be served
// like built-in ones as soon as the CRD is established.
func TestCustomResources(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, crontabCRD, "apply", "-f", "-")
	t.Cleanup(func() {
		// Wait until the definition is gone, then refresh kubectl's discovery
		// cache, which would otherwise still expand "all" to crontabs for
		// the tests that follow.
		c.kubectlResult([]string{"delete", "crd", "crontabs.stable.example.com", "--timeout=60s"}, nil)
		c.kubectlResult([]string{"api-resources"}, nil)
	})
	c.kubectl(t, "wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=30s")

	// Discovery knows the new group in both its forms, as kubectl and older
	// clients read them.
	waitFor(t, 20*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"api-resources", "--api-group", "stable.example.com"}, nil)
		return strings.Contains(out, "crontabs") && strings.Contains(out, "ct")
	})
	var groups struct {
		Groups []struct{ Name string } `json:"groups"`
	}
	waitFor(t, 20*time.Second, func() bool {
		raw, _, _ := c.kubectlResult([]string{"get", "--raw", "/apis"}, nil)
		json.Unmarshal([]byte(raw), &groups)
		for _, g := range groups.Groups {
			if g.Name == "stable.example.com" {
				return true
			}
		}
		return false
	})

	// kubectl's strict validation reaches custom resources through OpenAPI too.
	if out := c.kubectlStdin(t, crontab, "apply", "-n", ns, "-f", "-"); !strings.Contains(out, "crontab.stable.example.com/nightly created") {
		t.Fatalf("creating a custom resource: %q", out)
	}
	bad := strings.Replace(crontab, "replicas: 2", "replicas: 2\n  unknownField: x", 1)
	out, stderr, err := c.kubectlResult([]string{"apply", "-n", ns, "-f", "-"}, strings.NewReader(bad))
	if err == nil || !strings.Contains(stderr, `unknown field "spec.unknownField"`) {
		t.Fatalf("unknown field in a custom resource: err=%v\n%s%s", err, out, stderr)
	}
	zero := strings.Replace(crontab, "replicas: 2", "replicas: 0", 1)
	out, stderr, err = c.kubectlResult([]string{"apply", "-n", ns, "-f", "-"}, strings.NewReader(zero))
	if err == nil || !strings.Contains(stderr, "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1") {
		t.Fatalf("schema violation: err=%v\n%s%s", err, out, stderr)
	}

	table := c.kubectl(t, "get", "ct", "-n", ns)
	if !strings.Contains(table, "SPEC") || !strings.Contains(table, "0 3 * * *") {
		t.Errorf("printer columns of the CRD:\n%s", table)
	}
	if all := c.kubectl(t, "get", "all", "-n", ns); !strings.Contains(all, "crontab.stable.example.com/nightly") {
		t.Errorf("get all lacks the custom resource in category all:\n%s", all)
	}
	c.kubectl(t, "patch", "crontab", "nightly", "-n", ns, "--type", "merge", "-p", `{"spec":{"replicas":3}}`)
	if got := c.kubectl(t, "get", "crontab", "nightly", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "3" {
		t.Errorf("replicas after patch = %q", got)
	}
	if out := c.kubectl(t, "explain", "crontab.spec"); !strings.Contains(out, "cronSpec") {
		t.Errorf("explain crontab.spec:\n%s", out)
	}
	c.kubectl(t, "delete", "crontab", "nightly", "-n", ns)
	if got := c.kubectl(t, "get", "crontabs", "-n", ns, "-o", "name"); got != "" {
		t.Errorf("left after delete: %q", got)
	}
}
