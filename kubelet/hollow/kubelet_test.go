package hollow

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"

	"berth.dev/berth/kubelet/server"
	"berth.dev/berth/orchestrator/apiserver"
	"berth.dev/berth/orchestrator/pki"
)

// TestKubectlThroughHollowKubelet runs the real kubectl's logs, exec and
// port-forward through the API server to the hollow nodes' kubelet server.
func TestKubectlThroughHollowKubelet(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serving, err := api.CA.ServingTLS(pki.Leaf{Name: "hollow-kubelet", CommonName: "hollow-kubelet", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := New(Config{Client: api.Client, Count: 1, Prefix: "k-", StartDelay: 50 * time.Millisecond, RenewInterval: time.Second,
		Kubelet: &server.Config{Addr: "127.0.0.1:0", TLS: serving, ClientNames: []string{apiserver.KubeletClientName}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- nodes.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ns := "kubectl-streams"
	if _, err := api.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "solo", Namespace: ns}, Spec: corev1.PodSpec{NodeName: "k-0",
			Containers: []corev1.Container{{Name: "app", Image: "busybox", Env: []corev1.EnvVar{{Name: "GREETING", Value: "hello"}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "pair", Namespace: ns}, Spec: corev1.PodSpec{NodeName: "k-0",
			Containers: []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}}},
	} {
		if _, err := api.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"solo", "pair"} {
		waitFor(t, name+" Running", func() bool {
			p, err := api.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning
		})
	}
	node, err := api.Client.CoreV1().Nodes().Get(ctx, "k-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if port := node.Status.DaemonEndpoints.KubeletEndpoint.Port; int(port) != nodes.kubelet.Addr().Port || node.Status.Addresses[0].Address != "127.0.0.1" {
		t.Fatalf("node k-0 reports kubelet at %s port %d; the server listens on %s", node.Status.Addresses[0].Address, port, nodes.kubelet.Addr())
	}

	config := api.Kubeconfig(t)
	// run runs kubectl, returning what it printed on stdout and on stderr
	// apart: kubectl's WebSocket client may log a harmless race on stderr.
	run := func(stdin string, args ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", config, "-n", ns, "--request-timeout", "20s"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	t.Run("logs", func(t *testing.T) {
		out, _, err := run("", "logs", "solo")
		if err != nil || !strings.HasPrefix(out, "hollow container app of pod kubectl-streams/solo started\n") {
			t.Fatalf("kubectl logs solo: %v\n%s", err, out)
		}
		out, _, err = run("", "logs", "pair", "-c", "b", "--timestamps", "--tail", "1")
		if err != nil || len(strings.Split(strings.TrimSpace(out), "\n")) != 1 || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+Z hollow container b of pod kubectl-streams/pair`).MatchString(out) {
			t.Fatalf("kubectl logs pair -c b --timestamps --tail 1: %v\n%s", err, out)
		}
		out, _, err = run("", "logs", "solo", "--limit-bytes", "9")
		if err != nil || out != "hollow co" {
			t.Fatalf("kubectl logs solo --limit-bytes 9: %v\n%q", err, out)
		}
		_, out, err = run("", "logs", "solo", "-c", "nope")
		if err == nil || !strings.Contains(out, "container nope is not valid for pod solo") {
			t.Fatalf("kubectl logs solo -c nope: %v\n%s", err, out)
		}
		_, out, err = run("", "logs", "solo", "--tail", "-2")
		if err == nil {
			t.Fatalf("kubectl logs --tail -2 was accepted:\n%s", out)
		}
	})

	t.Run("API errors", func(t *testing.T) {
		for _, c := range []struct{ path, want string }{
			{"/pair/log", "Error from server (BadRequest): a container name must be specified for pod pair, choose one of: [a b]"},
			{"/solo/log?sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z", "The PodLogOptions \"solo\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"},
			{"/solo/log?tailLines=x", "Error from server (BadRequest)"},
			{"/nope/log", `Error from server (NotFound): pods "nope" not found`},
		} {
			_, out, err := run("", "get", "--raw", "/api/v1/namespaces/"+ns+"/pods"+c.path)
			if err == nil || !strings.Contains(out, c.want) {
				t.Errorf("GET %s: %v\n%s\nwant %q", c.path, err, out, c.want)
			}
		}
		doc, _, err := run("", "get", "--raw", "/openapi/v3/api/v1")
		for _, path := range []string{"/api/v1/namespaces/{namespace}/pods/{name}/log", "/api/v1/namespaces/{namespace}/pods/{name}/exec", "/api/v1/namespaces/{namespace}/pods/{name}/portforward"} {
			if err != nil || !strings.Contains(doc, `"`+path+`"`) {
				t.Errorf("OpenAPI v3 of api/v1 lacks %s: %v", path, err)
			}
		}
		unbound := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unbound", Namespace: ns}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := api.Client.CoreV1().Pods(ns).Create(ctx, unbound, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if out, err := api.Client.CoreV1().Pods(ns).GetLogs("unbound", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || len(out) != 0 {
			t.Errorf("logs of a pod on no node: %q, %v; want nothing", out, err)
		}
		_, out, err := run("", "exec", "unbound", "--", "echo", "hi")
		if err == nil || !strings.Contains(out, "pod unbound does not have a host assigned") {
			t.Errorf("kubectl exec into a pod on no node: %v\n%s", err, out)
		}
	})

	t.Run("logs -f --tail", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // at least one tick written
		follow, stop := context.WithTimeout(ctx, 15*time.Second)
		defer stop()
		cmd := exec.CommandContext(follow, kubectl, "--kubeconfig", config, "-n", ns, "logs", "-f", "--tail", "1", "solo")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer stop()
		lines := bufio.NewScanner(stdout)
		tick := regexp.MustCompile(`^hollow container app of pod kubectl-streams/solo: tick (\d+)$`)
		var got []string
		for len(got) < 3 && lines.Scan() {
			got = append(got, lines.Text())
		}
		var first int
		for i, l := range got {
			m := tick.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("line %d of kubectl logs -f --tail 1 is %q; all: %q", i, l, got)
			}
			var n int
			fmt.Sscan(m[1], &n)
			if i == 0 {
				first = n
			} else if n != first+i {
				t.Fatalf("kubectl logs -f --tail 1 lines %q do not follow each other", got)
			}
		}
		if len(got) < 3 {
			t.Fatalf("kubectl logs -f --tail 1 gave %q before ending: the stream was not followed", got)
		}
	})

	t.Run("exec", func(t *testing.T) {
		for _, c := range []struct {
			stdin      string
			args       []string
			want, errs string
			code       int
		}{
			{args: []string{"exec", "solo", "--", "echo", "hi"}, want: "hi\n"},
			{args: []string{"exec", "solo", "--", "hostname"}, want: "solo\n"},
			{args: []string{"exec", "solo", "--", "env"}, want: "HOSTNAME=solo\nGREETING=hello\n"},
			{stdin: "ping\npong\n", args: []string{"exec", "-i", "solo", "--", "cat"}, want: "ping\npong\n"},
			{args: []string{"exec", "pair", "-c", "b", "--", "echo", "from", "b"}, want: "from b\n"},
			{args: []string{"exec", "solo", "--", "false"}, code: 1},
			{stdin: "attached\n", args: []string{"attach", "-i", "solo"}, want: "attached\n"},
			{args: []string{"exec", "solo", "--", "rm", "-rf", "/"}, errs: "hollow: rm -rf /: command not found", code: 127},
		} {
			out, errs, err := run(c.stdin, c.args...)
			code := 0
			if exit, ok := err.(*exec.ExitError); ok {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("kubectl %s: %v", strings.Join(c.args, " "), err)
			}
			if code != c.code || out != c.want || !strings.Contains(errs, c.errs) {
				t.Errorf("kubectl %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q", strings.Join(c.args, " "), code, out, errs, c.code, c.want, c.errs)
			}
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		pf, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		cmd := exec.CommandContext(pf, kubectl, "--kubeconfig", config, "-n", ns, "port-forward", "pod/solo", ":8080")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer stop()
		forwarding := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$`)
		lines := bufio.NewScanner(stdout)
		var port string
		for port == "" && lines.Scan() {
			if m := forwarding.FindStringSubmatch(lines.Text()); m != nil {
				port = m[1]
			}
		}
		if port == "" {
			t.Fatal("kubectl port-forward never said where it listens")
		}
		go io.Copy(io.Discard, stdout)
		for _, msg := range []string{"hello through the tunnel", "and again"} {
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
				t.Fatalf("port-forwarded echo: %q, %v; want %q", got, err, msg)
			}
			conn.Close()
		}
	})

	t.Run("SPDY through the API server", func(t *testing.T) {
		// Clients older than kubectl 1.30, and kubectl when WebSockets fail,
		// upgrade to SPDY: the API server then proxies the connection as it is.
		rc := api.Client.CoreV1().RESTClient()
		execURL := rc.Post().Resource("pods").Namespace(ns).Name("pair").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "a", Command: []string{"echo", "over", "spdy"}, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
		e, err := remotecommand.NewSPDYExecutor(api.Config, "POST", execURL)
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr strings.Builder
		if err := e.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil || stdout.String() != "over spdy\n" {
			t.Fatalf("SPDY exec: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
		}

		transport, upgrader, err := spdy.RoundTripperFor(api.Config)
		if err != nil {
			t.Fatal(err)
		}
		pfURL := rc.Post().Resource("pods").Namespace(ns).Name("solo").SubResource("portforward").URL()
		dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", pfURL)
		pfCtx, stop := context.WithCancel(ctx)
		defer stop()
		ready := make(chan struct{})
		fw, err := portforward.NewOnAddressesWithContext(pfCtx, dialer, []string{"127.0.0.1"}, []string{"0:9000"}, ready, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		forwarded := make(chan error, 1)
		go func() { forwarded <- fw.ForwardPorts() }()
		select {
		case <-ready:
		case err := <-forwarded:
			t.Fatalf("SPDY port-forward ended: %v", err)
		}
		ports, err := fw.GetPorts()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, "spdy echo")
		got := make([]byte, len("spdy echo"))
		if _, err := io.ReadFull(conn, got); err != nil || string(got) != "spdy echo" {
			t.Fatalf("SPDY port-forward echo: %q, %v", got, err)
		}
		stop()
		<-forwarded
	})
}
