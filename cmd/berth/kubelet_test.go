package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/kubelet/images/imagetest"
)

// The images the kubelet tests run, imported into the node's store before any
// test starts (imagePullPolicy Never: the tests need no registry).
const (
	helloImage   = "berth.dev/test/hello:1"
	crashImage   = "berth.dev/test/crash:1"
	hogImage     = "berth.dev/test/hog:1"
	busyboxImage = "berth.dev/test/busybox:1"
)

// node is the cluster of the kubelet tests: a server with its agent, running
// real containers (root only).
var node = &shared{}

func (s *shared) getNode(t *testing.T) *cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the kubelet tests run containers and need root")
	}
	s.once.Do(func() {
		s.c, s.err = newCluster(clusterOptions{agent: true})
		if s.err == nil {
			s.err = importTestImages(s.c.dir)
		}
		if s.err == nil {
			s.err = waitNodeReady(s.c, time.Time{})
		}
	})
	if s.err != nil {
		t.Fatalf("starting the node cluster: %v", s.err)
	}
	return s.c
}

// importTestImages builds the test images and imports them with `berth image
// import`, as a user would.
func importTestImages(dataDir string) error {
	ctx := context.Background()
	src := filepath.Join(dataDir, "image-layouts")
	var paths []string
	for name, ref := range map[string]string{"hello": helloImage, "crash": crashImage, "hog": hogImage} {
		out := filepath.Join(src, name)
		if _, err := imagetest.BuildProgram(ctx, name, ref, out); err != nil {
			return err
		}
		paths = append(paths, out)
	}
	out := filepath.Join(src, "busybox")
	if _, err := imagetest.Busybox(ctx, imagetest.HostBusybox, busyboxImage, out); err != nil {
		return err
	}
	paths = append(paths, out)
	cmd := exec.Command(os.Args[0], append([]string{"image", "import", "--data-dir", dataDir}, paths...)...)
	cmd.Env = append(os.Environ(), roleEnv+"=berth")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("berth image import: %v\n%s", err, b)
	}
	return nil
}

// waitNodeReady waits for the node to report Ready at or after since, with
// its kubelet answering at the port the Node names (a restarted agent
// listens on a new one; the old process's last heartbeat may fall in the
// same second as since).
func waitNodeReady(c *cluster, since time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil && len(nodes.Items) == 1 {
			n := &nodes.Items[0]
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && !cond.LastHeartbeatTime.Time.Before(since.Truncate(time.Second)) && kubeletAnswers(n) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no Ready node (%v):\n%s", err, c.server.output)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// kubeletAnswers says whether the node's kubelet accepts connections at
// the address and port its Node gives.
func kubeletAnswers(n *corev1.Node) bool {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(a.Address, strconv.Itoa(int(n.Status.DaemonEndpoints.KubeletEndpoint.Port))), time.Second)
		if err == nil {
			conn.Close()
			return true
		}
	}
	return false
}

// waitPod polls the pod until ok says yes, failing the test after timeout
// with the pod's description.
func waitPod(t *testing.T, c *cluster, ns, name string, timeout time.Duration, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pod, err := c.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && ok(pod) {
			return pod
		}
		if time.Now().After(deadline) {
			out, _, _ := c.kubectlResult([]string{"describe", "pod", "-n", ns, name}, nil)
			t.Fatalf("pod %s/%s: %s not seen in %s (%v):\n%s", ns, name, what, timeout, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitingWith is true of a pod whose container waits for reason.
func waitingWith(container, reason string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		cs := containerStatus(p, container)
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == reason
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// grepLines is the lines of text that hold any of words.
func grepLines(text string, words ...string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				b.WriteString(line + "\n")
				break
			}
		}
	}
	return b.String()
}

// nodeInternalIP is the InternalIP of the cluster's one node.
func nodeInternalIP(t *testing.T, c *cluster) string {
	t.Helper()
	nodes, err := c.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v", err)
	}
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatalf("node %s has no InternalIP", nodes.Items[0].Name)
	return ""
}

// events are the messages of the pod's events, "Reason: message" each.
func podEvents(t *testing.T, c *cluster, ns, name string) string {
	t.Helper()
	list, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range list.Items {
		fmt.Fprintf(&b, "%s: %s\n", e.Reason, e.Message)
	}
	return b.String()
}

func waitEvent(t *testing.T, c *cluster, ns, name, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := podEvents(t, c, ns, name)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s: no event %q in %s; events:\n%s", ns, name, want, timeout, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// portForward runs kubectl port-forward to target's port and returns the
// local address; it ends with the test.
func portForward(t *testing.T, c *cluster, ns, target string, port int) string {
	t.Helper()
	cmd := exec.Command("kubectl", "port-forward", "-n", ns, target, fmt.Sprintf(":%d", port))
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("kubectl port-forward: %q %v\n%s", line, err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	return m[1]
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func writeChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestKubeletRestartKeepsContainers restarts the whole server: the running
// container is re-adopted, not restarted, and still answers exec. It runs
// first, before the parallel tests, since it stops the server.
func TestKubeletRestartKeepsContainers(t *testing.T) {
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectl(t, "run", "-n", ns, "keeper", "--image", busyboxImage, "--image-pull-policy", "Never", "--", "sh", "-c", "echo up; exec sleep 3600")
	before := waitPod(t, c, ns, "keeper", time.Minute, "Ready", podReady)
	id := containerStatus(before, "keeper").ContainerID

	restarted := time.Now()
	if err := c.restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The kubelet listens on a new port (tests pick free ones): wait for the
	// node to say so before reaching it.
	if err := waitNodeReady(c, restarted); err != nil {
		t.Fatal(err)
	}
	after := waitPod(t, c, ns, "keeper", time.Minute, "Ready after the restart", podReady)
	cs := containerStatus(after, "keeper")
	if cs.ContainerID != id || cs.RestartCount != 0 {
		t.Fatalf("after the restart: container %s restarts %d, want %s with 0", cs.ContainerID, cs.RestartCount, id)
	}
	if got := c.kubectl(t, "exec", "-n", ns, "keeper", "--", "sh", "-c", "echo $((40+2))"); strings.TrimSpace(got) != "42" {
		t.Fatalf("exec after the restart: %q", got)
	}
	if got := c.kubectl(t, "logs", "-n", ns, "keeper"); got != "up\n" {
		t.Fatalf("logs after the restart: %q", got)
	}
	stamped := c.kubectl(t, "logs", "-n", ns, "keeper", "--timestamps", "--tail", "1")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z up\n$`).MatchString(stamped) {
		t.Fatalf("logs --timestamps --tail 1: %q", stamped)
	}
}

// TestKubeletChartServesHTTP installs a chart whose Deployment runs the hello
// web server, reaches it through kubectl port-forward, and reads its logs.
func TestKubeletChartServesHTTP(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	chart := writeChart(t, map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: web\nversion: 0.1.0\n",
		"values.yaml": fmt.Sprintf("image: %s\nmessage: hello from the chart\n", helloImage),
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 2
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
        imagePullPolicy: Never
        env:
        - name: MESSAGE
          value: {{ .Values.message | quote }}
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 1
`,
	})
	c.berth(t, "install", "web", chart, "--namespace", ns, "--wait", "--timeout", "2m")
	c.kubectl(t, "rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
	addr := portForward(t, c, ns, "deployment/web", 8080)
	if got := httpGet(t, "http://"+addr+"/"); got != "hello from the chart\n" {
		t.Fatalf("GET / through port-forward: %q", got)
	}
	if got := c.kubectl(t, "logs", "-n", ns, "deployment/web"); !strings.Contains(got, "hello from the chart") {
		t.Fatalf("kubectl logs: %q", got)
	}
	pods := c.kubectl(t, "get", "pods", "-n", ns, "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}")
	events := podEvents(t, c, ns, pods)
	for _, want := range []string{
		"Scheduled: Successfully assigned " + ns + "/" + pods,
		`Pulled: Container image "` + helloImage + `" already present on machine`,
		"Created: Created container: web",
		"Started: Started container web",
	} {
		if !strings.Contains(events, want) {
			t.Errorf("no event %q in:\n%s", want, events)
		}
	}
}

// TestKubeletExec runs commands in a container through kubectl exec, with
// their output, exit codes and stdin.
func TestKubeletExec(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectl(t, "run", "-n", ns, "shell", "--image", busyboxImage, "--image-pull-policy", "Never", "--env", "GREETING=hi", "--", "sleep", "3600")
	waitPod(t, c, ns, "shell", time.Minute, "Ready", podReady)
	if got := c.kubectl(t, "exec", "-n", ns, "shell", "--", "sh", "-c", "echo $GREETING $(hostname)"); got != "hi shell\n" {
		t.Fatalf("exec: %q", got)
	}
	_, stderr, err := c.kubectlResult([]string{"exec", "-n", ns, "shell", "--", "sh", "-c", "exit 3"}, nil)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("exec exiting 3: %v %s", err, stderr)
	}
	out, _, err := c.kubectlResult([]string{"exec", "-i", "-n", ns, "shell", "--", "tr", "a-z", "A-Z"}, strings.NewReader("shout\n"))
	if err != nil || out != "SHOUT\n" {
		t.Fatalf("exec -i: %q %v", out, err)
	}
	if got := c.kubectl(t, "exec", "-n", ns, "shell", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"); got != ns {
		t.Fatalf("service account namespace file: %q", got)
	}

	// kubectl cp goes through exec and tar, both ways.
	local := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(local, []byte("copied\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "cp", local, ns+"/shell:/tmp/note.txt")
	if got := c.kubectl(t, "exec", "-n", ns, "shell", "--", "cat", "/tmp/note.txt"); got != "copied\n" {
		t.Fatalf("file copied in: %q", got)
	}
	back := filepath.Join(t.TempDir(), "back.txt")
	c.kubectl(t, "cp", ns+"/shell:/tmp/note.txt", back)
	if got, err := os.ReadFile(back); err != nil || string(got) != "copied\n" {
		t.Fatalf("file copied out: %q %v", got, err)
	}
}

// TestKubeletLivenessRestart: a failing liveness probe restarts the
// container, with upstream's events.
func TestKubeletLivenessRestart(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: sick}
spec:
  containers:
  - name: web
    image: %s
    imagePullPolicy: Never
    env: [{name: UNHEALTHY_AFTER, value: 2s}]
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
      failureThreshold: 2
`, helloImage), "apply", "-n", ns, "-f", "-")
	pod := waitPod(t, c, ns, "sick", time.Minute, "a restart", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "web")
		return cs != nil && cs.RestartCount >= 1
	})
	last := containerStatus(pod, "web").LastTerminationState.Terminated
	if last == nil || last.ExitCode != 0 || last.Reason != "Completed" {
		t.Errorf("lastState after a liveness restart: %+v (hello exits 0 on SIGTERM)", last)
	}
	waitEvent(t, c, ns, "sick", "Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500", 10*time.Second)
	waitEvent(t, c, ns, "sick", "Killing: Container web failed liveness probe, will be restarted", 10*time.Second)
}

// TestKubeletCrashLoopBackOff: a crashing container backs off, each time
// longer, and its previous log stays readable.
func TestKubeletCrashLoopBackOff(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectl(t, "run", "-n", ns, "crasher", "--image", crashImage, "--image-pull-policy", "Never")
	pod := waitPod(t, c, ns, "crasher", time.Minute, "CrashLoopBackOff", waitingWith("crasher", "CrashLoopBackOff"))
	cs := containerStatus(pod, "crasher")
	if !strings.HasPrefix(cs.State.Waiting.Message, "back-off 10s restarting failed container=crasher pod=crasher_"+ns) {
		t.Errorf("first back-off message: %q", cs.State.Waiting.Message)
	}
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 || last.Reason != "Error" {
		t.Errorf("lastState: %+v", last)
	}
	if got := c.kubectl(t, "logs", "-n", ns, "crasher", "--previous"); got != "crashing with exit code 1\n" {
		t.Errorf("logs --previous: %q", got)
	}
	waitPod(t, c, ns, "crasher", time.Minute, "a longer back-off", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "crasher")
		return cs != nil && cs.State.Waiting != nil && strings.HasPrefix(cs.State.Waiting.Message, "back-off 20s")
	})
	waitEvent(t, c, ns, "crasher", "BackOff: Back-off restarting failed container crasher in pod crasher_"+ns, 5*time.Second)
	if got := c.kubectl(t, "get", "pod", "-n", ns, "crasher"); !strings.Contains(got, "CrashLoopBackOff") {
		t.Errorf("kubectl get pod:\n%s", got)
	}
}

// TestKubeletOOMKilled: a container over its memory limit is killed by the
// kernel and reported OOMKilled with exit code 137.
func TestKubeletOOMKilled(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: %s
    imagePullPolicy: Never
    resources:
      limits: {memory: 32Mi}
`, hogImage), "apply", "-n", ns, "-f", "-")
	pod := waitPod(t, c, ns, "hog", time.Minute, "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	term := containerStatus(pod, "hog").State.Terminated
	if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Fatalf("terminated state: %+v", term)
	}
}

// TestKubeletGracefulTermination: deleting a pod runs its preStop hook, then
// SIGTERM reaches the container, and every trace of the pod goes.
func TestKubeletGracefulTermination(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	hostDir := t.TempDir()
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: polite}
spec:
  terminationGracePeriodSeconds: 20
  volumes:
  - name: out
    hostPath: {path: %s}
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: [sh, -c, 'trap "echo term >> /out/order; exit 0" TERM; echo started >> /out/order; while true; do sleep 0.1; done']
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, 'echo prestop >> /out/order']}
`, hostDir, busyboxImage), "apply", "-n", ns, "-f", "-")
	pod := waitPod(t, c, ns, "polite", time.Minute, "Ready", podReady)
	if out, stderr, err := c.kubectlResult([]string{"delete", "pod", "-n", ns, "polite", "--timeout=60s"}, nil); err != nil {
		t.Fatalf("kubectl delete pod: %v\n%s%s\nthe server's log of the pod:\n%s", err, out, stderr, grepLines(c.server.output.String(), string(pod.UID), "polite"))
	}
	got, err := os.ReadFile(filepath.Join(hostDir, "order"))
	if err != nil || string(got) != "started\nprestop\nterm\n" {
		t.Fatalf("order of events in the container: %q %v", got, err)
	}
	agentDir := agentDir(c.dir)
	for _, leftover := range []string{
		filepath.Join(agentDir, "pods", string(pod.UID)),
		filepath.Join(agentDir, "logs", ns+"_polite_"+string(pod.UID)),
	} {
		if _, err := os.Stat(leftover); !os.IsNotExist(err) {
			t.Errorf("%s is left after the pod was deleted (%v)", leftover, err)
		}
	}
}

// TestKubeletMissingConfigMapAndSecret: a pod whose env names a missing
// ConfigMap waits with CreateContainerConfigError, one whose volume names a
// missing Secret waits with FailedMount; both start once the object appears.
func TestKubeletMissingConfigMapAndSecret(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: needs-config}
spec:
  containers:
  - name: main
    image: %[1]s
    imagePullPolicy: Never
    command: [sh, -c, 'echo level=$SPECIAL_LEVEL; exec sleep 3600']
    env:
    - name: SPECIAL_LEVEL
      valueFrom: {configMapKeyRef: {name: special-config, key: special.how}}
---
apiVersion: v1
kind: Pod
metadata: {name: needs-secret}
spec:
  volumes:
  - name: foo
    secret: {secretName: myothersecret}
  containers:
  - name: main
    image: %[1]s
    imagePullPolicy: Never
    command: [sh, -c, 'echo password=$(cat /etc/foo/password); exec sleep 3600']
    volumeMounts: [{name: foo, mountPath: /etc/foo, readOnly: true}]
`, busyboxImage), "apply", "-n", ns, "-f", "-")
	pod := waitPod(t, c, ns, "needs-config", time.Minute, "CreateContainerConfigError", waitingWith("main", "CreateContainerConfigError"))
	if msg := containerStatus(pod, "main").State.Waiting.Message; msg != `configmap "special-config" not found` {
		t.Errorf("CreateContainerConfigError message: %q", msg)
	}
	waitEvent(t, c, ns, "needs-secret", `FailedMount: MountVolume.SetUp failed for volume "foo" : secret "myothersecret" not found`, time.Minute)
	pod = waitPod(t, c, ns, "needs-secret", 5*time.Second, "ContainerCreating", waitingWith("main", "ContainerCreating"))

	c.kubectl(t, "create", "configmap", "-n", ns, "special-config", "--from-literal=special.how=very")
	c.kubectl(t, "create", "secret", "generic", "-n", ns, "myothersecret", "--from-literal=password=s3cret")
	waitPod(t, c, ns, "needs-config", time.Minute, "Ready once the ConfigMap exists", podReady)
	waitPod(t, c, ns, "needs-secret", time.Minute, "Ready once the Secret exists", podReady)
	if got := c.kubectl(t, "logs", "-n", ns, "needs-config"); got != "level=very\n" {
		t.Errorf("logs: %q", got)
	}
	if got := c.kubectl(t, "logs", "-n", ns, "needs-secret"); got != "password=s3cret\n" {
		t.Errorf("logs: %q", got)
	}
}

// TestKubeletHostileImageContained: an image whose layer writes through a
// symlink to a host path writes inside its own root file system, never on
// the host.
func TestKubeletHostileImageContained(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	victim := filepath.Join(t.TempDir(), "victim")
	layout := filepath.Join(t.TempDir(), "hostile")
	_, err := imagetest.WriteLayout(layout, "berth.dev/test/hostile:1", imageConfig("/bin/true"),
		[]imagetest.File{{Name: "escape", Symlink: filepath.Dir(victim)}, {Name: "escape/victim", Body: []byte("pwned")}})
	if err != nil {
		t.Fatal(err)
	}
	c.berth(t, "image", "import", "--data-dir", c.dir, layout)
	c.kubectl(t, "run", "-n", ns, "hostile", "--image", "berth.dev/test/hostile:1", "--image-pull-policy", "Never")
	// The layer unpacks, its link resolved inside the root file system as
	// containerd resolves it; the image has no /bin/true, so the container
	// then fails to start.
	waitPod(t, c, ns, "hostile", time.Minute, "a failed start", func(p *corev1.Pod) bool {
		st := containerStatus(p, "hostile")
		return st != nil && (st.State.Terminated != nil || st.LastTerminationState.Terminated != nil ||
			st.State.Waiting != nil && st.State.Waiting.Reason != "ContainerCreating")
	})
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("the hostile layer wrote %s (%v)", victim, err)
	}
}

// TestKubeletPersistentVolumeClaim: data written to a claim of the built-in
// local-path class survives the pod being deleted and created again.
func TestKubeletPersistentVolumeClaim(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	manifest := func(cmd string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  restartPolicy: Never
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: [sh, -c, %q]
    volumeMounts: [{name: data, mountPath: /data}]
`, busyboxImage, cmd)
	}
	c.kubectlStdin(t, `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`, "apply", "-n", ns, "-f", "-")
	c.kubectlStdin(t, manifest("echo kept > /data/file"), "apply", "-n", ns, "-f", "-")
	waitPod(t, c, ns, "writer", time.Minute, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	c.kubectl(t, "delete", "pod", "-n", ns, "writer", "--timeout=60s")
	c.kubectlStdin(t, manifest("cat /data/file"), "apply", "-n", ns, "-f", "-")
	waitPod(t, c, ns, "writer", time.Minute, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if got := c.kubectl(t, "logs", "-n", ns, "writer"); got != "kept\n" {
		t.Fatalf("the claim's data after the pod was recreated: %q", got)
	}
	pvc := c.kubectl(t, "get", "pvc", "-n", ns, "data", "-o", "jsonpath={.status.phase} {.spec.storageClassName}")
	if pvc != "Bound local-path" {
		t.Fatalf("claim: %q", pvc)
	}
}

func imageConfig(entrypoint ...string) ocispec.ImageConfig {
	return ocispec.ImageConfig{Entrypoint: entrypoint}
}

// TestKubeletNode: the agent's Node looks as users expect in kubectl get
// nodes -o wide and kubectl describe node.
func TestKubeletNode(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	wide := c.kubectl(t, "get", "nodes", "-o", "wide")
	for _, want := range []string{"STATUS", "Ready", "control-plane", "INTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "berth://"} {
		if !strings.Contains(wide, want) {
			t.Errorf("kubectl get nodes -o wide lacks %q:\n%s", want, wide)
		}
	}
	name := c.kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
	describe := c.kubectl(t, "describe", "node", name)
	for _, want := range []string{
		"KubeletReady", "kubelet is posting ready status",
		"KubeletHasSufficientMemory", "KubeletHasNoDiskPressure", "KubeletHasSufficientPID",
		"Capacity:", `pods:\s+110`, "Allocatable:", `Container Runtime Version:\s+berth://`, `Kubelet Version:\s+v1\.`,
	} {
		if !regexp.MustCompile(want).MatchString(describe) {
			t.Errorf("kubectl describe node lacks %q:\n%s", want, describe)
		}
	}
	if lease := c.kubectl(t, "get", "lease", "-n", "kube-node-lease", name, "-o", "jsonpath={.spec.holderIdentity} {.spec.leaseDurationSeconds}"); lease != name+" 40" {
		t.Errorf("node lease: %q", lease)
	}
}

// TestKubeletImageChange: a new image on a running pod restarts its
// container with it, as upstream does whatever the restart policy.
func TestKubeletImageChange(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.berth(t, "image", "import", "--data-dir", c.dir, "--name", "berth.dev/test/busybox:2", filepath.Join(c.dir, "image-layouts", "busybox"))
	// sleep, as PID 1, ignores SIGTERM: a short grace period keeps the test short.
	c.kubectl(t, "run", "-n", ns, "box", "--image", busyboxImage, "--image-pull-policy", "Never", "--restart", "Never",
		"--overrides", `{"spec":{"terminationGracePeriodSeconds":1}}`, "--", "sleep", "3600")
	waitPod(t, c, ns, "box", time.Minute, "Ready", podReady)
	c.kubectl(t, "set", "image", "-n", ns, "pod/box", "box=berth.dev/test/busybox:2")
	pod := waitPod(t, c, ns, "box", time.Minute, "running the new image", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "box")
		return cs != nil && cs.Image == "berth.dev/test/busybox:2" && cs.RestartCount == 1 && cs.State.Running != nil
	})
	if pod.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running", pod.Status.Phase)
	}
	waitEvent(t, c, ns, "box", "Killing: Container box definition changed, will be restarted", 10*time.Second)
}

// TestKubeletPodNetwork: pods get addresses from the node's pod range and
// reach each other by them.
func TestKubeletPodNetwork(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: server}
spec:
  containers:
  - name: web
    image: %[1]s
    imagePullPolicy: Never
    env: [{name: MESSAGE, value: hello over the pod network}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - name: shell
    image: %[2]s
    imagePullPolicy: Never
    command: [sleep, "3600"]
`, helloImage, busyboxImage), "apply", "-n", ns, "-f", "-")
	server := waitPod(t, c, ns, "server", time.Minute, "Ready", podReady)
	client := waitPod(t, c, ns, "client", time.Minute, "Ready", podReady)
	node, err := c.client.CoreV1().Nodes().Get(context.Background(), server.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, podCIDR, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil {
		t.Fatalf("node pod CIDR %q: %v", node.Spec.PodCIDR, err)
	}
	for _, p := range []*corev1.Pod{server, client} {
		if ip := net.ParseIP(p.Status.PodIP); ip == nil || !podCIDR.Contains(ip) || len(p.Status.PodIPs) == 0 {
			t.Fatalf("pod %s has IP %q (%v), want one in the node's %s", p.Name, p.Status.PodIP, p.Status.PodIPs, podCIDR)
		}
	}
	if server.Status.PodIP == client.Status.PodIP {
		t.Fatalf("both pods have %s", server.Status.PodIP)
	}
	got := c.kubectl(t, "exec", "-n", ns, "client", "--", "wget", "-qO-", "http://"+server.Status.PodIP+":8080/")
	if got != "hello over the pod network\n" {
		t.Fatalf("client → server by pod IP: %q", got)
	}
	// The pod's own name resolves to its address through /etc/hosts.
	if hosts := c.kubectl(t, "exec", "-n", ns, "client", "--", "cat", "/etc/hosts"); !strings.Contains(hosts, client.Status.PodIP+"\tclient") {
		t.Fatalf("/etc/hosts lacks the pod's address:\n%s", hosts)
	}
	if wide := c.kubectl(t, "get", "pod", "-n", ns, "server", "-o", "wide"); !strings.Contains(wide, server.Status.PodIP) {
		t.Fatalf("kubectl get pod -o wide lacks the IP:\n%s", wide)
	}
}

// TestKubeletServices: a ClusterIP spreads over three replicas from a pod and
// a replica that turns unready leaves it, a NodePort answers on the node's
// address and on 127.0.0.1 from the host, a LoadBalancer Service gets the
// node's address and answers there, a Service's name resolves through the
// cluster DNS, and a Service without endpoints refuses at once.
func TestKubeletServices(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: %[1]s
        imagePullPolicy: Never
        env:
        - name: MESSAGE
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - name: shell
    image: %[2]s
    imagePullPolicy: Never
    command: [sleep, "3600"]
`, helloImage, busyboxImage), "apply", "-n", ns, "-f", "-")
	c.kubectl(t, "rollout", "status", "-n", ns, "deployment/web", "--timeout=60s")
	waitPod(t, c, ns, "client", time.Minute, "Ready", podReady)
	svc, err := c.client.CoreV1().Services(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Every replica answers through the ClusterIP.
	// (busybox 1.35's wget -T crashes: timeout bounds it instead.)
	script := fmt.Sprintf("for i in $(seq 40); do timeout 5 wget -qO- http://%s/; done", svc.Spec.ClusterIP)
	out := c.kubectl(t, "exec", "-n", ns, "client", "--", "sh", "-c", script)
	seen := map[string]int{}
	for _, line := range strings.Fields(out) {
		seen[line]++
	}
	if len(seen) != 3 {
		t.Fatalf("40 requests to the ClusterIP reached %d pods, want all 3: %v", len(seen), seen)
	}

	// A replica that turns unready leaves the endpoints, and so the
	// ClusterIP's traffic, within its probe period and a proxy sync.
	pods, err := c.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("web pods: %v", err)
	}
	victim := pods.Items[0]
	c.kubectl(t, "exec", "-n", ns, "client", "--", "wget", "-qO-", "http://"+net.JoinHostPort(victim.Status.PodIP, "8080")+"/fail")
	waitPod(t, c, ns, victim.Name, 30*time.Second, "not Ready", func(p *corev1.Pod) bool { return !podReady(p) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen = map[string]int{}
		for _, line := range strings.Fields(c.kubectl(t, "exec", "-n", ns, "client", "--", "sh", "-c", script)) {
			seen[line]++
		}
		if seen[victim.Name] == 0 && len(seen) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("40 requests to the ClusterIP after %s turned unready reached %v, want the two others only", victim.Name, seen)
		}
	}
	if out := c.kubectl(t, "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web", "-o",
		"jsonpath={range .items[*].endpoints[?(@.targetRef.name=='"+victim.Name+"')]}{.conditions.ready}{end}"); out != "false" {
		t.Errorf("the unready pod's endpoint has ready %q, want false", out)
	}

	// The NodePort answers on the node's address and on 127.0.0.1, from the
	// host.
	nodeIP := nodeInternalIP(t, c)
	for _, host := range []string{nodeIP, "127.0.0.1"} {
		got := httpGet(t, fmt.Sprintf("http://%s/", net.JoinHostPort(host, fmt.Sprint(svc.Spec.Ports[0].NodePort))))
		if !strings.HasPrefix(got, "web-") {
			t.Fatalf("NodePort on %s answered %q", host, got)
		}
	}

	// A LoadBalancer Service gets the node's address, and answers there on
	// its own port.
	lbPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c.kubectl(t, "expose", "deployment", "web", "-n", ns, "--name", "lb", "--type", "LoadBalancer", "--port", strconv.Itoa(lbPort), "--target-port", "8080")
	deadline = time.Now().Add(10 * time.Second)
	for {
		ip := c.kubectl(t, "get", "service", "-n", ns, "lb", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		if ip == nodeIP {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LoadBalancer Service has ingress %q, want the node's %s", ip, nodeIP)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lbURL := fmt.Sprintf("http://%s/", net.JoinHostPort(nodeIP, strconv.Itoa(lbPort)))
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(lbURL)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.HasPrefix(string(b), "web-") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s (the LoadBalancer's address): %v", lbURL, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The Service's name resolves through the cluster DNS, in full and
	// through the pod's search domains.
	// (busybox's nslookup also tries the other search domains and exits 1
	// when any of them is NXDOMAIN, as they are: the answer is what counts.)
	for _, name := range []string{"web." + ns + ".svc.cluster.local", "web"} {
		out, _, _ := c.kubectlResult([]string{"exec", "-n", ns, "client", "--", "nslookup", name}, nil)
		if !strings.Contains(out, "Name:\tweb."+ns+".svc.cluster.local\nAddress: "+svc.Spec.ClusterIP+"\n") {
			t.Errorf("nslookup %s from a pod:\n%s", name, out)
		}
	}

	// No endpoints: refused, not left to time out.
	nobody, err := c.client.CoreV1().Services(ns).Get(context.Background(), "nobody", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, stderr, err := c.kubectlResult([]string{"exec", "-n", ns, "client", "--", "timeout", "10", "wget", "-qO-", "http://" + nobody.Spec.ClusterIP + "/"}, nil)
	if err == nil || !strings.Contains(out+stderr, "Connection refused") {
		t.Fatalf("a Service without endpoints: want Connection refused, got %v: %s%s", err, out, stderr)
	}
}

// TestKubeletSandboxChanged: when a pod's sandbox dies, the kubelet says so,
// re-creates it, runs the init containers again and restarts the containers.
func TestKubeletSandboxChanged(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)
	hostDir := t.TempDir()
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: phoenix}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: out
    hostPath: {path: %[1]s}
  initContainers:
  - name: init
    image: %[2]s
    imagePullPolicy: Never
    command: [sh, -c, 'echo init >> /out/runs']
    volumeMounts: [{name: out, mountPath: /out}]
  containers:
  - name: main
    image: %[2]s
    imagePullPolicy: Never
    command: [sleep, "3600"]
`, hostDir, busyboxImage), "apply", "-n", ns, "-f", "-")
	waitPod(t, c, ns, "phoenix", time.Minute, "Ready", podReady)
	holder := sandboxHolder(t, "phoenix")
	if err := syscall.Kill(holder, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, ns, "phoenix", "SandboxChanged: Pod sandbox changed, it will be killed and re-created.", time.Minute)
	waitPod(t, c, ns, "phoenix", time.Minute, "Ready in a new sandbox", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "main")
		return podReady(p) && cs != nil && cs.RestartCount >= 1
	})
	if runs, err := os.ReadFile(filepath.Join(hostDir, "runs")); err != nil || string(runs) != "init\ninit\n" {
		t.Fatalf("init container runs: %q %v, want one per sandbox", runs, err)
	}
	// The first sandbox's container still tells how it ended.
	if got := c.kubectl(t, "get", "pod", "-n", ns, "phoenix", "-o", "jsonpath={.status.containerStatuses[0].lastState.terminated.exitCode}"); got != "137" {
		t.Errorf("lastState of the container killed with its sandbox: exit code %q, want 137", got)
	}
}

// sandboxHolder is the PID of the process holding the namespaces of the pod
// whose hostname is name.
func sandboxHolder(t *testing.T, name string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err == nil && strings.HasSuffix(string(cmdline), "\x00runtime-pause\x00"+name+"\x00") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no sandbox holder for %s", name)
	return 0
}
