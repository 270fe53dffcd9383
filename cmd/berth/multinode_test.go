package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/kubelet/images/imagetest"
	"berth.dev/berth/kubelet/noderoutes"
)

// segment is one network segment on this machine: a bridge in the test's
// network namespace that the test nodes' namespaces join, each as a
// machine on a LAN would.
type segment struct {
	name   string // of the bridge, and the prefix of everything else
	prefix [3]byte
	bridge *netlink.Bridge
}

// address is the segment's address host; 1 is the bridge's, the nodes'
// default route.
func (s *segment) address(host byte) net.IP {
	return net.IPv4(s.prefix[0], s.prefix[1], s.prefix[2], host)
}

func newSegment(t *testing.T) *segment {
	t.Helper()
	s := &segment{name: fmt.Sprintf("bs%08x", rand.Uint32()), prefix: [3]byte{10, 199, byte(rand.IntN(250))}}
	s.bridge = &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: s.name}}
	if err := netlink.LinkAdd(s.bridge); err != nil {
		t.Fatalf("adding bridge %s: %v", s.name, err)
	}
	t.Cleanup(func() {
		if err := netlink.LinkDel(s.bridge); err != nil {
			t.Errorf("deleting bridge %s: %v", s.name, err)
		}
	})
	if err := netlink.AddrAdd(s.bridge, &netlink.Addr{IPNet: &net.IPNet{IP: s.address(1), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(s.bridge); err != nil {
		t.Fatal(err)
	}
	return s
}

// testNode is a `berth agent` in a network namespace of its own on a
// segment.
type testNode struct {
	name, netns, dir, cgroupRoot string
	agent                        *process
	killall                      func() error
}

// join makes network namespace NAME-host with "eth0" at the segment's
// address host, and returns its path.
func (s *segment) join(t *testing.T, host byte) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", s.name, host)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// This thread is in the wrong namespace: let it die with the goroutine.
		t.Fatalf("returning to the test's network namespace: %v", serr)
	}
	orig.Close()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("creating network namespace %s: %v", name, err)
	}
	defer ns.Close()
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("deleting network namespace %s: %v", name, err)
		}
	})
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("%s-%d", s.name, host), MasterIndex: s.bridge.Index}, PeerName: "eth0", PeerNamespace: netlink.NsFd(ns)}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("adding veth to %s: %v", name, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Delete()
	for _, l := range []string{"lo", "eth0"} {
		link, err := h.LinkByName(l)
		if err != nil {
			t.Fatal(err)
		}
		if l == "eth0" {
			if err := h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: s.address(host), Mask: net.CIDRMask(24, 32)}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.RouteAdd(&netlink.Route{Gw: s.address(1)}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join("/run/netns", name)
}

// startNode runs `berth agent` for c in a namespace of the segment, with the
// images of layouts imported first.
func (s *segment) startNode(t *testing.T, c *cluster, name string, host byte, layouts []string) *testNode {
	t.Helper()
	n := &testNode{name: name, netns: s.join(t, host), dir: t.TempDir(), cgroupRoot: fmt.Sprintf("/%s-%d", s.name, host)}
	berth := func(args ...string) *exec.Cmd {
		cmd := exec.Command("nsenter", append([]string{"--net=" + n.netns, os.Args[0]}, args...)...)
		cmd.Env = append(os.Environ(), roleEnv+"=berth")
		return cmd
	}
	if out, err := berth(append([]string{"image", "import", "--data-dir", n.dir}, layouts...)...).CombinedOutput(); err != nil {
		t.Fatalf("berth image import: %v\n%s", err, out)
	}
	agentArgs := []string{"--data-dir", n.dir, "--cgroup-root", n.cgroupRoot, "--pod-bridge", "berth0"}
	n.killall = func() error {
		if out, err := berth(append([]string{"killall"}, agentArgs...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("berth killall on node %s: %v\n%s", name, err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		if n.agent != nil {
			n.agent.signal(syscall.SIGTERM)
		}
		// Containers outlive their agent by design.
		if err := n.killall(); err != nil {
			t.Error(err)
		}
		if t.Failed() && n.agent != nil {
			t.Logf("agent %s:\n%s", name, n.agent.output)
		}
	})
	cmd := berth(append([]string{"agent", "--server", c.url(), "--token", c.joinToken(t), "--node-name", name}, agentArgs...)...)
	var err error
	if n.agent, err = startCmd(cmd); err != nil {
		t.Fatal(err)
	}
	return n
}

// leftovers lists what of the node is left on the machine: links other than
// its own two, nftables tables, routes to other nodes' pods, cgroups and
// mounts.
func (n *testNode) leftovers(t *testing.T) []string {
	t.Helper()
	ns, err := netns.GetFromPath(n.netns)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Delete()
	var left []string
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if name := l.Attrs().Name; name != "lo" && name != "eth0" {
			left = append(left, "link "+name)
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: noderoutes.Protocol}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		left = append(left, "route "+r.String())
	}
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		left = append(left, "nftables table "+tb.Name)
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
	for _, h := range append([]string{"/sys/fs/cgroup/cgroup.procs"}, hierarchies...) {
		if cg := filepath.Join(filepath.Dir(h), n.cgroupRoot); dirExists(cg) {
			left = append(left, "cgroup "+cg)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], n.dir+"/") {
			left = append(left, "mount "+f[4])
		}
	}
	return left
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// TestKubeletMultiNode runs a control plane without a node of its own and two
// agents, each in a network namespace of its own on one segment, as two
// machines on a LAN: pods on one node reach pods on the other by address and
// through a Service by name (kube-proxy and cluster DNS on each node); after a
// node's agent crashes, berth killall leaves nothing of it behind.
func TestKubeletMultiNode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs containers and network namespaces: needs root")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Fatal("nsenter (util-linux) runs the test nodes in their namespaces:", err)
	}
	seg := newSegment(t)
	c, err := newCluster(clusterOptions{extraArgs: []string{"--bind-address", seg.address(1).String(),
		"--cluster-cidr", fmt.Sprintf("10.%d.0.0/16", 150+rand.IntN(40))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)

	src := t.TempDir()
	hello, busybox := filepath.Join(src, "hello"), filepath.Join(src, "busybox")
	if _, err := imagetest.BuildProgram(context.Background(), "hello", helloImage, hello); err != nil {
		t.Fatal(err)
	}
	if _, err := imagetest.Busybox(context.Background(), imagetest.HostBusybox, busyboxImage, busybox); err != nil {
		t.Fatal(err)
	}
	// A machine with a wrong token, or one for another cluster, does not
	// join.
	token := c.joinToken(t)
	hash, _, _ := strings.Cut(token, "::")
	for _, tc := range []struct{ token, want string }{
		{hash + "::abcdef.0123456789abcdef", "the server refused the join token"},
		{"K10" + strings.Repeat("0", 64) + "::" + strings.SplitN(token, "::", 2)[1], "holds no CA with key hash"},
	} {
		cmd := exec.Command(os.Args[0], "agent", "--server", c.url(), "--token", tc.token, "--node-name", "intruder", "--data-dir", t.TempDir())
		cmd.Env = append(os.Environ(), roleEnv+"=berth")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("berth agent --token %s: %v, want %q:\n%s", tc.token, err, tc.want, out)
		}
	}
	if out, _, _ := c.kubectlResult([]string{"get", "node", "intruder"}, nil); out != "" {
		t.Errorf("a refused machine has a Node:\n%s", out)
	}

	nodeA := seg.startNode(t, c, "node-a", 2, []string{busybox})
	nodeB := seg.startNode(t, c, "node-b", 3, []string{hello})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		if err == nil {
			for _, n := range nodes.Items {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && len(n.Spec.PodCIDRs) > 0 {
						ready++
					}
				}
			}
		}
		if ready == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("two Ready nodes not seen (%v):\n%s", err, c.kubectl(t, "get", "nodes", "-o", "wide"))
		case <-time.After(200 * time.Millisecond):
		}
	}

	ns := c.namespace(t)
	c.kubectl(t, "create", "secret", "generic", "for-a", "-n", ns, "--from-literal=WHO=a")
	c.kubectl(t, "create", "secret", "generic", "for-b", "-n", ns, "--from-literal=MESSAGE=hello from node-b")
	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node-b
  containers:
  - name: web
    image: %s
    imagePullPolicy: Never
    envFrom: [{secretRef: {name: for-b}}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`, helloImage), "apply", "-n", ns, "-f", "-")
	web := waitPod(t, c, ns, "web", time.Minute, "Ready", podReady)

	c.kubectlStdin(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node-a
  restartPolicy: Never
  containers:
  - name: client
    image: %s
    imagePullPolicy: Never
    envFrom: [{secretRef: {name: for-a}}]
    command: [sh, -c, 'timeout 10 wget -qO- http://%s:8080/ | grep -x "hello from node-b" && timeout 10 wget -qO- http://web/ | grep -x "hello from node-b"']
`, busyboxImage, web.Status.PodIP), "apply", "-n", ns, "-f", "-")
	client := waitPod(t, c, ns, "client", time.Minute, "finished", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if client.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("the client on node-a did not reach the pod on node-b (%s) by address and through its Service: %s\n%s", web.Status.PodIP, client.Status.Phase, podEvents(t, c, ns, "client"))
	}
	// The joined node's kubelet serves with a certificate the cluster
	// signed, so the API server reaches it for logs.
	if logs := c.kubectl(t, "logs", "-n", ns, "client"); strings.Count(logs, "hello from node-b") != 2 {
		t.Errorf("kubectl logs of the client on node-a: %q", logs)
	}

	// Each node has its own identity, and with it only what its pods need.
	for _, tc := range []struct {
		node *testNode
		args []string
		want string // "" for success
	}{
		{nodeA, []string{"get", "secret", "for-a"}, ""},
		{nodeA, []string{"get", "secret", "for-b"}, `User "system:node:node-a" cannot get resource "secrets"`},
		{nodeB, []string{"get", "secret", "for-b"}, ""},
		{nodeB, []string{"get", "secret", "for-a"}, `User "system:node:node-b" cannot get resource "secrets"`},
		{nodeA, []string{"get", "secrets"}, `cannot list resource "secrets"`},
		{nodeA, []string{"get", "pods"}, ""},
		{nodeA, []string{"label", "node", "node-b", "hacked=yes"}, `node "node-a" is not allowed to modify node "node-b"`},
		{nodeA, []string{"delete", "pod", "web", "--wait=false"}, `node "node-a" can only delete pods with spec.nodeName set to itself`},
		{nodeA, []string{"create", "namespace", "mine"}, `User "system:node:node-a" cannot create resource "namespaces"`},
	} {
		kubeconfig := filepath.Join(tc.node.dir, "agent", "identity", "kubelet.kubeconfig")
		out, stderr, err := c.kubectlResult(append(tc.args, "-n", ns), nil, "KUBECONFIG="+kubeconfig)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: kubectl %s: %v\n%s", tc.node.name, strings.Join(tc.args, " "), err, stderr)
		case tc.want != "" && (err == nil || !strings.Contains(stderr, tc.want)):
			t.Errorf("%s: kubectl %s: %v, want %q\n%s%s", tc.node.name, strings.Join(tc.args, " "), err, tc.want, out, stderr)
		}
	}

	// A node whose agent crashed keeps its pods running; berth killall
	// ends them and removes everything the node made.
	c.kubectl(t, "run", "-n", ns, "sleeper", "--image", busyboxImage, "--image-pull-policy", "Never",
		"--overrides", `{"spec": {"nodeName": "node-a"}}`, "--", "sleep", "3600")
	waitPod(t, c, ns, "sleeper", time.Minute, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	nodeA.agent.signal(syscall.SIGKILL)
	if left := nodeA.leftovers(t); len(left) == 0 {
		t.Fatal("a node running pods left nothing to clean up: the check sees nothing")
	}
	if err := nodeA.killall(); err != nil {
		t.Fatal(err)
	}
	if left := nodeA.leftovers(t); len(left) > 0 {
		t.Errorf("after berth killall, node-a left:\n%s", strings.Join(left, "\n"))
	}
}
