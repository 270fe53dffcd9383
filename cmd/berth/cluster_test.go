package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"berth.dev/berth/kubelet/runtime/runc"
	"berth.dev/berth/orchestrator/pki"
)

// The test binary doubles as berth and as etcd: tests run both as real processes,
// started from os.Args[0] with this variable naming the role.
const roleEnv = "BERTH_TEST_ROLE"

// externalEtcdEnv, set to "1", runs the shared cluster on a separately started etcd
// process instead of the embedded one (make test runs the suite both ways).
const externalEtcdEnv = "BERTH_TEST_EXTERNAL_ETCD"

func TestMain(m *testing.M) {
	// The benchmarks start containers from this process too: serve
	// libcontainer's init and the sandbox holder when re-executed as them.
	runc.Init()
	switch os.Getenv(roleEnv) {
	case "berth":
		main()
		os.Exit(0)
	case "etcd":
		etcdmain.Main(os.Args)
		os.Exit(0)
	}
	code := m.Run()
	sharedCluster.stop()
	workloads.stop()
	node.stop()
	os.Exit(code)
}

// process is a child process of the test with its output kept for failure reports.
type process struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startProcess(role string, args ...string) (*process, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	return startCmd(cmd)
}

// startCmd starts cmd, which dies with the test.
func startCmd(cmd *exec.Cmd) (*process, error) {
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, output: out, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	return p, nil
}

// signal sends sig and waits for the process to exit.
func (p *process) signal(sig syscall.Signal) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// cluster is a berth server run by the tests.
type cluster struct {
	dir        string
	port       int
	kubeconfig string
	args       []string
	server     *process
	etcd       *process
	config     *rest.Config
	client     kubernetes.Interface
	// cgroupRoot holds the pods of a cluster with an agent, bridge is its
	// pod network bridge; its Ingress controller listens on ingressHTTP and
	// ingressHTTPS.
	cgroupRoot, bridge        string
	ingressHTTP, ingressHTTPS int
}

type clusterOptions struct {
	externalEtcd bool
	// agent runs the node agent (real containers; needs root) under a cgroup
	// of the test's own, removed with everything else by stop.
	agent     bool
	extraArgs []string
}

// newCluster starts a berth server in a fresh directory.
func newCluster(opts clusterOptions) (*cluster, error) {
	dir, err := os.MkdirTemp("", "berth-test-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, port: port, kubeconfig: filepath.Join(dir, "kubeconfig.yaml")}
	c.args = []string{"server", "--data-dir", dir, "--port", strconv.Itoa(port), "--etcd-client-port", "0", "--etcd-peer-port", "0", "--registry-port", "0"}
	if opts.agent {
		suffix := fmt.Sprintf("%08x", rand.Uint32())
		c.cgroupRoot, c.bridge = "/berth-test-"+suffix, "bt"+suffix
		// A pod range of its own, so that concurrent test clusters (and a
		// berth on this machine) never route each other's pods.
		var ports [3]int
		for i := range ports {
			if ports[i], err = freePort(); err != nil {
				return nil, err
			}
		}
		c.ingressHTTP, c.ingressHTTPS = ports[1], ports[2]
		c.args = append(c.args, "--kubelet-port", "0", "--cgroup-root", c.cgroupRoot, "--pod-bridge", c.bridge,
			"--cluster-cidr", fmt.Sprintf("10.%d.0.0/16", 200+rand.IntN(50)), "--cluster-dns-port", strconv.Itoa(ports[0]),
			"--ingress-http-port", strconv.Itoa(c.ingressHTTP), "--ingress-https-port", strconv.Itoa(c.ingressHTTPS))
	} else {
		c.args = append(c.args, "--disable-agent")
	}
	if opts.externalEtcd {
		etcdArgs, err := c.startEtcd()
		if err != nil {
			c.stop()
			return nil, err
		}
		c.args = append(c.args, etcdArgs...)
	}
	c.args = append(c.args, opts.extraArgs...)
	if err := c.start(); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// startEtcd runs etcd (the same etcd berth embeds, as its own process) for the
// cluster, serving TLS and asking clients for certificates of a CA of its own,
// and returns the server flags that reach it.
func (c *cluster) startEtcd() ([]string, error) {
	client, err := freePort()
	if err != nil {
		return nil, err
	}
	peer, err := freePort()
	if err != nil {
		return nil, err
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(c.dir, "etcd-pki"))
	if err != nil {
		return nil, err
	}
	serving, err := ca.Ensure(pki.Leaf{Name: "etcd-server", CommonName: "etcd", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		return nil, err
	}
	apiserverClient, err := ca.Ensure(pki.Leaf{Name: "apiserver-etcd-client", CommonName: "kube-apiserver-etcd-client"})
	if err != nil {
		return nil, err
	}
	clientURL := fmt.Sprintf("https://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	c.etcd, err = startProcess("etcd", "--name", "external", "--data-dir", filepath.Join(c.dir, "external-etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--cert-file", serving.CertFile, "--key-file", serving.KeyFile, "--client-cert-auth", "--trusted-ca-file", ca.CertFile,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "external="+peerURL, "--log-level", "error")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", client)); err == nil {
			conn.Close()
			return []string{"--etcd-endpoints", clientURL, "--etcd-cafile", ca.CertFile,
				"--etcd-certfile", apiserverClient.CertFile, "--etcd-keyfile", apiserverClient.KeyFile}, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("external etcd did not start:\n%s", c.etcd.output)
}

// start runs the server and waits until it is ready.
func (c *cluster) start() error {
	var err error
	if c.server, err = startProcess("berth", c.args...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		if err := c.ready(ctx); err == nil {
			return nil
		}
		select {
		case <-c.server.done:
			return fmt.Errorf("berth server exited:\n%s", c.server.output)
		case <-ctx.Done():
			return fmt.Errorf("berth server not ready in time:\n%s", c.server.output)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *cluster) ready(ctx context.Context) error {
	if c.client == nil {
		config, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
		if err != nil {
			return err
		}
		config.QPS, config.Burst = 1000, 1000
		client, err := kubernetes.NewForConfig(config)
		if err != nil {
			return err
		}
		c.config, c.client = config, client
	}
	return c.client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
}

// url is where the cluster's API is served.
func (c *cluster) url() string {
	return c.config.Host
}

// joinToken is the token machines join the cluster with.
func (c *cluster) joinToken(t testing.TB) string {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(c.dir, "node-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(token))
}

// restart stops the server with sig (SIGTERM or SIGKILL) and starts it again on the
// same data directory.
func (c *cluster) restart(sig syscall.Signal) error {
	c.server.signal(sig)
	return c.start()
}

func (c *cluster) stop() {
	if c == nil {
		return
	}
	if c.server != nil {
		c.server.signal(syscall.SIGTERM)
	}
	if c.etcd != nil {
		c.etcd.signal(syscall.SIGTERM)
	}
	if c.cgroupRoot != "" {
		// Containers outlive the agent by design: end them here, with
		// berth killall in a process of its own (in the host's mount
		// namespace whatever this one's threads did).
		cmd := exec.Command(os.Args[0], "killall", "--data-dir", c.dir, "--cgroup-root", c.cgroupRoot, "--pod-bridge", c.bridge)
		cmd.Env = append(os.Environ(), roleEnv+"=berth")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "cleaning up the test node: %v\n%s", err, out)
		}
	}
	os.RemoveAll(c.dir)
}

// shared is the cluster most tests share, started on first use.
type shared struct {
	once sync.Once
	c    *cluster
	err  error
}

var sharedCluster = &shared{}

func (s *shared) get(t *testing.T) *cluster {
	t.Helper()
	s.once.Do(func() {
		s.c, s.err = newCluster(clusterOptions{externalEtcd: os.Getenv(externalEtcdEnv) == "1"})
	})
	if s.err != nil {
		t.Fatalf("starting the shared cluster: %v", s.err)
	}
	return s.c
}

func (s *shared) stop() { s.c.stop() }

// kubectl runs the real kubectl against the cluster and returns its standard
// output; the test fails if kubectl does.
func (c *cluster) kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, stderr, err := c.kubectlResult(args, nil)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// kubectlFails runs kubectl expecting it to fail and returns its standard error.
func (c *cluster) kubectlFails(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := c.kubectlResult(args, nil)
	if err == nil {
		t.Fatalf("kubectl %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return stderr
}

// kubectlStdin runs kubectl with stdin (a manifest for "-f -").
func (c *cluster) kubectlStdin(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, stderr, err := c.kubectlResult(args, strings.NewReader(stdin))
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func (c *cluster) kubectlResult(args []string, stdin *strings.Reader, env ...string) (string, string, error) {
	cmd := exec.Command("kubectl", args...)
	cmd.Env = append(os.Environ(), append([]string{"KUBECONFIG=" + c.kubeconfig}, env...)...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	return out.String(), stderr.String(), err
}

// namespace creates a namespace for one test and deletes it when the test ends.
func (c *cluster) namespace(t *testing.T) string {
	t.Helper()
	name := "t-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 56 {
		name = strings.TrimRight(name[:56], "-")
	}
	name += "-" + strconv.Itoa(rand.IntN(1e6))
	c.kubectl(t, "create", "namespace", name)
	t.Cleanup(func() { c.kubectlResult([]string{"delete", "namespace", name, "--wait=false"}, nil) })
	return name
}
