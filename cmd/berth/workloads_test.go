package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// workloads is the cluster of the workload tests: the scheduler, every
// controller and three hollow nodes (4 cpu each, in three zones), with a short
// node-monitor grace period so that node loss shows in seconds.
var workloads = &shared{}

func (s *shared) getWorkloads(t *testing.T) *cluster {
	t.Helper()
	s.once.Do(func() {
		s.c, s.err = newCluster(clusterOptions{extraArgs: []string{
			"--hollow-nodes", "3", "--hollow-pod-start-delay", "200ms",
			"--node-monitor-grace-period", "8s", "--horizontal-pod-autoscaler-sync-period", "2s",
		}})
	})
	if s.err != nil {
		t.Fatalf("starting the workloads cluster: %v", s.err)
	}
	return s.c
}

func deploymentManifest(name string, replicas int, image, strategy string, extra string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  strategy:
%[4]s
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
%[5]s
    spec:
      containers:
      - name: app
        image: %[3]s
        resources:
          requests: {cpu: 100m}
`, name, replicas, image, strategy, extra)
}

const rolling = `    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}`

// availableWatcher counts, from a watch on the Deployment, the lowest number of
// available replicas it ever reported.
func watchLowestAvailable(t *testing.T, c *cluster, ns, name string) (stop func() int32) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := c.client.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	lowest := int32(1 << 30)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if d, ok := ev.Object.(*appsv1.Deployment); ok && (ev.Type == watch.Modified || ev.Type == watch.Added) {
				mu.Lock()
				lowest = min(lowest, d.Status.AvailableReplicas)
				mu.Unlock()
			}
		}
	}()
	return func() int32 {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return lowest
	}
}

func TestWorkloadRollingUpdate(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, deploymentManifest("web", 4, "nginx:1.27", rolling, ""), "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")

	stop := watchLowestAvailable(t, c, ns, "web")
	c.kubectl(t, "set", "image", "deployment/web", "app=nginx:1.28", "-n", ns)
	c.kubectl(t, "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
	if lowest := stop(); lowest < 3 {
		t.Fatalf("available replicas fell to %d during the rollout, below replicas - maxUnavailable = 3", lowest)
	}
	history := c.kubectl(t, "rollout", "history", "deployment/web", "-n", ns)
	if !strings.Contains(history, "REVISION") || !strings.Contains(history, "1 ") || !strings.Contains(history, "2 ") {
		t.Fatalf("rollout history:\n%s", history)
	}
	if got := c.kubectl(t, "get", "replicasets", "-n", ns, "-o", "name"); strings.Count(got, "replicaset.apps/web-") != 2 {
		t.Fatalf("replica sets after one rollout: %s", got)
	}

	c.kubectl(t, "rollout", "undo", "deployment/web", "-n", ns)
	c.kubectl(t, "rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
	if img := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "nginx:1.27" {
		t.Fatalf("image after undo: %q", img)
	}
	pods := c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=web", "-o", "jsonpath={range .items[*]}{.spec.containers[0].image} {.status.phase}{\"\\n\"}{end}")
	if strings.Count(pods, "nginx:1.27 Running") != 4 || strings.Contains(pods, "nginx:1.28 Running") {
		t.Fatalf("pods after undo:\n%s", pods)
	}
}

func TestWorkloadRecreate(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, deploymentManifest("db", 2, "postgres:16", "    type: Recreate", ""), "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/db", "-n", ns, "--timeout=60s")
	// Watch pods: no new pod may exist while an old one does.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := c.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=db"})
	if err != nil {
		t.Fatal(err)
	}
	overlap := make(chan string, 1)
	go func() {
		live := map[string]string{} // pod → image
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				select {
				case overlap <- fmt.Sprintf("the watch failed: %v", ev.Object):
				default:
				}
				return
			}
			if ev.Type == watch.Deleted {
				delete(live, p.Name)
				continue
			}
			live[p.Name] = p.Spec.Containers[0].Image
			images := map[string]bool{}
			for _, img := range live {
				images[img] = true
			}
			if len(images) > 1 {
				select {
				case overlap <- "old and new pods existed together under Recreate: " + fmt.Sprint(live):
				default:
				}
			}
		}
	}()
	c.kubectl(t, "set", "image", "deployment/db", "app=postgres:17", "-n", ns)
	c.kubectl(t, "rollout", "status", "deployment/db", "-n", ns, "--timeout=60s")
	select {
	case failure := <-overlap:
		t.Fatal(failure)
	default:
	}
}

func TestWorkloadStuckRollout(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	manifest := strings.Replace(deploymentManifest("stuck", 2, "app:1", rolling, ""), "spec:\n  replicas", "spec:\n  progressDeadlineSeconds: 3\n  replicas", 1)
	c.kubectlStdin(t, manifest, "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/stuck", "-n", ns, "--timeout=60s")
	// The new pods never become ready.
	c.kubectl(t, "patch", "deployment", "stuck", "-n", ns, "-p",
		`{"spec":{"template":{"metadata":{"annotations":{"hollow.berth.dev/ready":"false"}},"spec":{"containers":[{"name":"app","image":"app:2"}]}}}}`)
	_, stderr, err := c.kubectlResult([]string{"rollout", "status", "deployment/stuck", "-n", ns, "--timeout=60s"}, nil)
	if err == nil || !strings.Contains(stderr, `deployment "stuck" exceeded its progress deadline`) {
		t.Fatalf("rollout status of a stuck rollout: %v\n%s", err, stderr)
	}
	reason := c.kubectl(t, "get", "deployment", "stuck", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Progressing")].reason}`)
	if reason != "ProgressDeadlineExceeded" {
		t.Fatalf("Progressing reason %q", reason)
	}
}

func TestWorkloadInsufficientCPU(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, `apiVersion: v1
kind: Pod
metadata: {name: big}
spec:
  containers:
  - name: app
    image: app
    resources: {requests: {cpu: "100"}}
`, "apply", "-n", ns, "-f", "-")
	want := "0/3 nodes are available: 3 Insufficient cpu."
	waitFor(t, 30*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "events", "-n", ns, "--field-selector", "reason=FailedScheduling", "-o", "jsonpath={.items[*].message}"}, nil)
		return strings.Contains(out, want)
	})
	if phase := c.kubectl(t, "get", "pod", "big", "-n", ns, "-o", "jsonpath={.status.phase}"); phase != "Pending" {
		t.Fatalf("phase %q", phase)
	}
	cond := c.kubectl(t, "get", "pod", "big", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="PodScheduled")].status} {.status.conditions[?(@.type=="PodScheduled")].reason}`)
	if cond != "False Unschedulable" {
		t.Fatalf("PodScheduled condition: %q", cond)
	}
	if out := c.kubectl(t, "describe", "pod", "big", "-n", ns); !strings.Contains(out, "FailedScheduling") || !strings.Contains(out, want) {
		t.Fatalf("describe pod:\n%s", out)
	}
}

func TestWorkloadQuotaBlocksScaleUp(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, quotaManifest, "apply", "-n", ns, "-f", "-")
	waitFor(t, 20*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "resourcequota", "compute-resources", "-n", ns, "-o", "jsonpath={.status.hard.pods}"}, nil)
		return out == "1"
	})
	c.kubectlStdin(t, deploymentManifest("web", 3, "nginx", rolling, ""), "apply", "-n", ns, "-f", "-")
	waitFor(t, 30*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "events", "-n", ns, "--field-selector", "reason=FailedCreate", "-o", "jsonpath={.items[*].message}"}, nil)
		return strings.Contains(out, "is forbidden: exceeded quota: compute-resources, requested: pods=1, used: pods=1, limited: pods=1")
	})
	if ready := c.kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.status.replicas}"); ready != "1" {
		t.Fatalf("replicas under a quota of one pod: %q", ready)
	}
}

func TestWorkloadSchedulingRules(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	antiAffinity := `      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: spread}}
            topologyKey: kubernetes.io/hostname`
	manifest := strings.Replace(deploymentManifest("spread", 3, "app", rolling, ""), "    spec:\n      containers:", "    spec:\n"+antiAffinity+"\n      containers:", 1)
	c.kubectlStdin(t, manifest, "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/spread", "-n", ns, "--timeout=60s")
	nodes := c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=spread", "-o", "jsonpath={.items[*].spec.nodeName}")
	seen := map[string]bool{}
	for _, n := range strings.Fields(nodes) {
		seen[n] = true
	}
	if len(seen) != 3 {
		t.Fatalf("anti-affine pods on nodes %q, want three different ones", nodes)
	}

	// A tainted node gets no pods that do not tolerate the taint.
	c.kubectl(t, "taint", "node", "hollow-2", "dedicated=db:NoSchedule")
	t.Cleanup(func() { c.kubectlResult([]string{"taint", "node", "hollow-2", "dedicated-"}, nil) })
	c.kubectlStdin(t, deploymentManifest("plain", 6, "app", rolling, ""), "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/plain", "-n", ns, "--timeout=60s")
	if nodes := c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=plain", "-o", "jsonpath={.items[*].spec.nodeName}"); strings.Contains(nodes, "hollow-2") {
		t.Fatalf("pods on the tainted node: %s", nodes)
	}
}

func TestWorkloadDaemonSetAndStatefulSet(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: agent}]
`, "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
	nodes := strings.Fields(c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}"))
	if len(nodes) != 3 || nodes[0] == nodes[1] || nodes[1] == nodes[2] || nodes[0] == nodes[2] {
		t.Fatalf("daemon pods on %v, want one on each of the three nodes", nodes)
	}

	// Watch the pods from before the StatefulSet exists: OrderedReady creates
	// web-1 only once web-0 is Ready, and web-2 once web-1 is.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := c.client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=sts"})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	seen := make(chan struct{})
	go func() {
		ready := map[string]bool{}
		added := map[string]bool{}
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				return // the watch failed: the wait below times out and says what was seen
			}
			if !added[p.Name] {
				added[p.Name] = true
				var readyNow []string
				for n := range ready {
					readyNow = append(readyNow, n)
				}
				order = append(order, fmt.Sprintf("%s(after %d ready)", p.Name, len(readyNow)))
			}
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					ready[p.Name] = true
				}
			}
			if len(ready) == 3 {
				close(seen)
				return
			}
		}
	}()
	c.kubectlStdin(t, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  replicas: 3
  serviceName: web
  selector: {matchLabels: {app: sts}}
  template:
    metadata: {labels: {app: sts}}
    spec:
      containers: [{name: web, image: web}]
`, "apply", "-n", ns, "-f", "-")
	select {
	case <-seen:
	case <-time.After(60 * time.Second):
		t.Fatalf("stateful pods not all ready; created %v", order)
	}
	if want := "web-0(after 0 ready) web-1(after 1 ready) web-2(after 2 ready)"; strings.Join(order, " ") != want {
		t.Fatalf("stateful pods created %v, want %s", order, want)
	}
}

func TestWorkloadJobs(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, `apiVersion: batch/v1
kind: Job
metadata: {name: ok}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: failing}
spec:
  backoffLimit: 1
  template:
    metadata:
      annotations: {hollow.berth.dev/exit-code: "1", hollow.berth.dev/run-seconds: "0.2"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
`, "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "wait", "--for=condition=Complete", "job/ok", "-n", ns, "--timeout=60s")
	c.kubectl(t, "wait", "--for=condition=Failed", "job/failing", "-n", ns, "--timeout=90s")
	got := c.kubectl(t, "get", "job", "failing", "-n", ns, "-o", `jsonpath={.status.failed} {.status.conditions[?(@.type=="Failed")].reason}`)
	if got != "2 BackoffLimitExceeded" {
		t.Fatalf("failing job: %q", got)
	}

}

// TestWorkloadCronJob waits for the next minute: it runs alongside the other slow
// test, the autoscaler's, once the rest are done.
func TestWorkloadCronJob(t *testing.T) {
	t.Parallel()
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, `apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox}]
`, "apply", "-n", ns, "-f", "-")
	// The schedule fires at the next minute.
	waitFor(t, 90*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "jobs", "-n", ns, "-o", "name"}, nil)
		return strings.Contains(out, "job.batch/tick-")
	})
}

func TestWorkloadCascadingDeletion(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, deploymentManifest("gone", 2, "app", rolling, ""), "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/gone", "-n", ns, "--timeout=60s")
	c.kubectl(t, "delete", "deployment", "gone", "-n", ns)
	waitFor(t, 30*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "replicasets,pods", "-n", ns, "-o", "name"}, nil)
		return out == ""
	})

	c.kubectlStdin(t, deploymentManifest("kept", 2, "app", rolling, ""), "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/kept", "-n", ns, "--timeout=60s")
	c.kubectl(t, "delete", "deployment", "kept", "-n", ns, "--cascade=orphan")
	waitFor(t, 30*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "replicasets", "-n", ns, "-o", "jsonpath={.items[*].metadata.ownerReferences}"}, nil)
		return out == ""
	})
	if pods := c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=kept", "-o", "name"); strings.Count(pods, "pod/") != 2 {
		t.Fatalf("orphaned pods: %s", pods)
	}
}

func TestWorkloadNodeLoss(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	tolerate := `      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}`
	manifest := strings.Replace(deploymentManifest("moving", 3, "app", rolling, ""), "    spec:\n      containers:", "    spec:\n"+tolerate+"\n      containers:", 1)
	c.kubectlStdin(t, manifest, "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/moving", "-n", ns, "--timeout=60s")
	victim := strings.Fields(c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=moving", "-o", "jsonpath={.items[*].spec.nodeName}"))[0]

	c.kubectl(t, "annotate", "node", victim, "hollow.berth.dev/heartbeat=stop")
	defer func() {
		c.kubectlResult([]string{"annotate", "node", victim, "hollow.berth.dev/heartbeat-"}, nil)
		waitFor(t, 60*time.Second, func() bool {
			out, _, _ := c.kubectlResult([]string{"get", "node", victim, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`}, nil)
			return out == "True"
		})
	}()
	waitFor(t, 60*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "node", victim, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}`}, nil)
		return out == "Unknown NodeStatusUnknown"
	})
	if out := c.kubectl(t, "get", "node", victim); !strings.Contains(out, "NotReady") {
		t.Fatalf("kubectl get node:\n%s", out)
	}
	if msg := c.kubectl(t, "get", "node", victim, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].message}`); msg != "Kubelet stopped posting node status." {
		t.Fatalf("Ready message %q", msg)
	}
	if taints := c.kubectl(t, "get", "node", victim, "-o", "jsonpath={.spec.taints[*].key}"); !strings.Contains(taints, "node.kubernetes.io/unreachable") {
		t.Fatalf("taints %q", taints)
	}
	// Its pods are evicted after their toleration and recreated elsewhere.
	waitFor(t, 60*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "pods", "-n", ns, "-l", "app=moving", "--field-selector", "status.phase=Running", "-o", "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.deletionTimestamp}{\"\\n\"}{end}"}, nil)
		live := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 1 && f[0] != victim {
				live++
			}
		}
		return live == 3
	})
}

func TestWorkloadDrain(t *testing.T) {
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, deploymentManifest("guarded", 3, "app", rolling, "")+`---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: guarded}}
`, "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "deployment/guarded", "-n", ns, "--timeout=60s")
	waitFor(t, 30*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "pdb", "guarded", "-n", ns, "-o", "jsonpath={.status.disruptionsAllowed}"}, nil)
		return out == "1"
	})
	node := strings.Fields(c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=guarded", "-o", "jsonpath={.items[*].spec.nodeName}"))[0]
	c.kubectl(t, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s")
	defer c.kubectl(t, "uncordon", node)
	if out := c.kubectl(t, "get", "node", node); !strings.Contains(out, "SchedulingDisabled") {
		t.Fatalf("drained node:\n%s", out)
	}
	if pods := c.kubectl(t, "get", "pods", "-A", "--field-selector", "spec.nodeName="+node+",status.phase=Running", "-o", "name"); strings.Contains(pods, ns) {
		t.Fatalf("pods left on the drained node: %s", pods)
	}
	c.kubectl(t, "rollout", "status", "deployment/guarded", "-n", ns, "--timeout=60s")
}

// TestWorkloadHorizontalPodAutoscaler scales a Deployment out while its pods use more
// cpu than the target, and in again once they use less, reading the figures the
// hollow nodes report through metrics.k8s.io (which kubectl top shows too).
func TestWorkloadHorizontalPodAutoscaler(t *testing.T) {
	t.Parallel()
	c := workloads.getWorkloads(t)
	ns := c.namespace(t)
	busy := `      annotations: {hollow.berth.dev/cpu-usage: 90m}`
	c.kubectlStdin(t, deploymentManifest("busy", 1, "app", rolling, busy)+`---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: busy}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: busy}
  minReplicas: 1
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 0}
`, "apply", "-n", ns, "-f", "-")
	// 90m of a 100m request is 180% of the 50% target: 1 → 2 → 4, capped at 4.
	waitFor(t, 90*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "hpa", "busy", "-n", ns, "-o", "jsonpath={.status.desiredReplicas}"}, nil)
		return out == "4"
	})
	c.kubectl(t, "rollout", "status", "deployment/busy", "-n", ns, "--timeout=60s")
	waitFor(t, 30*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"top", "pods", "-n", ns, "--no-headers"}, nil)
		return strings.Count(out, "90m") == 4
	})
	events := c.kubectl(t, "get", "events", "-n", ns, "--field-selector", "reason=SuccessfulRescale", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "New size: 4; reason: cpu resource utilization (percentage of request) above target") {
		t.Fatalf("rescale events: %s", events)
	}
	if out := c.kubectl(t, "top", "nodes", "--no-headers"); strings.Count(out, "hollow-") != 3 {
		t.Fatalf("kubectl top nodes:\n%s", out)
	}

	// 10m is 10% of the request: back to the minimum.
	c.kubectl(t, "patch", "deployment", "busy", "-n", ns, "-p", `{"spec":{"template":{"metadata":{"annotations":{"hollow.berth.dev/cpu-usage":"10m"}}}}}`)
	waitFor(t, 90*time.Second, func() bool {
		out, _, _ := c.kubectlResult([]string{"get", "deployment", "busy", "-n", ns, "-o", "jsonpath={.spec.replicas}"}, nil)
		return out == "1"
	})
	events = c.kubectl(t, "get", "events", "-n", ns, "--field-selector", "reason=SuccessfulRescale", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "New size: 1; reason: All metrics below target") {
		t.Fatalf("rescale events: %s", events)
	}
}
