package main

import (
	"strings"
	"testing"
	"time"
)

// These tests hold berth to what the seed tutorials show users (see the seed
// scenarios): the parts that need only the API.

func TestSeedClusterObjects(t *testing.T) {
	c := sharedCluster.get(t)
	namespaces := c.kubectl(t, "get", "namespaces", "-o", "name")
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if !strings.Contains(namespaces, "namespace/"+ns+"\n") {
			t.Errorf("namespace %s missing:\n%s", ns, namespaces)
		}
	}
	svc := c.kubectl(t, "get", "service", "kubernetes", "-n", "default")
	fields := strings.Fields(strings.Split(svc, "\n")[1])
	if len(fields) < 5 || fields[0] != "kubernetes" || fields[1] != "ClusterIP" || fields[2] != "10.43.0.1" || fields[4] != "443/TCP" {
		t.Errorf("kubernetes service:\n%s", svc)
	}
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		stderr := c.kubectlFails(t, "delete", "namespace", ns)
		if want := `namespaces "` + ns + `" is forbidden: this namespace may not be deleted`; !strings.Contains(stderr, want) {
			t.Errorf("deleting %s: %s\nwant %q", ns, stderr, want)
		}
	}
	if got := c.kubectl(t, "get", "namespace", "kube-system", "-o", "jsonpath={.status.phase}"); got != "Active" {
		t.Errorf("kube-system is %q after the refused delete", got)
	}
}

const quotaManifest = `apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute-resources
spec:
  hard:
    pods: "1"
`

const podManifest = `apiVersion: v1
kind: Pod
metadata:
  name: NAME
spec:
  containers:
  - name: c
    image: busybox
`

func TestSeedQuotaExceeded(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, quotaManifest, "apply", "-n", ns, "-f", "-")
	// Quotas take effect once the controller has published what they allow.
	waitFor(t, 20*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "resourcequota", "compute-resources", "-n", ns, "-o", "jsonpath={.status.hard.pods}"}, nil)
		return out == "1"
	})
	c.kubectlStdin(t, strings.Replace(podManifest, "NAME", "first", 1), "apply", "-n", ns, "-f", "-")
	out, stderr, err := c.kubectlResult([]string{"apply", "-n", ns, "-f", "-"}, strings.NewReader(strings.Replace(podManifest, "NAME", "second", 1)))
	want := `pods "second" is forbidden: exceeded quota: compute-resources, requested: pods=1, used: pods=1, limited: pods=1`
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("second pod: err=%v\n%s%s\nwant %q", err, out, stderr, want)
	}
	if used := c.kubectl(t, "get", "resourcequota", "compute-resources", "-n", ns, "-o", "jsonpath={.status.used.pods}"); used != "1" {
		t.Errorf("quota used = %q", used)
	}
	if out := c.kubectl(t, "describe", "quota", "compute-resources", "-n", ns); !strings.Contains(out, "pods") || !strings.Contains(out, "1     1") {
		t.Errorf("describe quota:\n%s", out)
	}
}

const limitRangeManifest = `apiVersion: v1
kind: LimitRange
metadata:
  name: mem-limit-range
spec:
  limits:
  - type: Container
    max:
      memory: 100Mi
    default:
      memory: 50Mi
    defaultRequest:
      memory: 20Mi
`

func TestSeedLimitRange(t *testing.T) {
	c := sharedCluster.get(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, limitRangeManifest, "apply", "-n", ns, "-f", "-")
	big := strings.Replace(podManifest, "NAME", "big", 1) + "    resources:\n      limits:\n        memory: 5Gi\n"
	out, stderr, err := c.kubectlResult([]string{"apply", "-n", ns, "-f", "-"}, strings.NewReader(big))
	want := `pods "big" is forbidden: maximum memory usage per Container is 100Mi, but limit is 5Gi`
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("pod over the limit: err=%v\n%s%s\nwant %q", err, out, stderr, want)
	}
	// A pod that says nothing gets the range's defaults.
	c.kubectlStdin(t, strings.Replace(podManifest, "NAME", "small", 1), "apply", "-n", ns, "-f", "-")
	got := c.kubectl(t, "get", "pod", "small", "-n", ns, "-o", "jsonpath={.spec.containers[0].resources.limits.memory} {.spec.containers[0].resources.requests.memory}")
	if got != "50Mi 20Mi" {
		t.Errorf("defaulted limits and requests = %q, want \"50Mi 20Mi\"", got)
	}
}
