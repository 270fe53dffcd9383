package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// user is someone with a kubeconfig of their own for the test cluster.
type user struct {
	c          *cluster
	name       string
	kubeconfig string
}

// kubectl runs kubectl as u and returns its output and whether it succeeded.
func (u user) kubectl(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	out, stderr, err := u.c.kubectlResult(args, nil, "KUBECONFIG="+u.kubeconfig)
	return out + stderr, err == nil
}

// openssl runs openssl in dir.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// certificateUser makes a user the classic way: a key, a CSR with CN=name and
// O=group, signed with the cluster CA's key by openssl, and a kubeconfig made
// with kubectl config set-cluster, set-credentials and set-context.
func certificateUser(t *testing.T, c *cluster, name, group, namespace string) user {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(c.dir, "tls")
	openssl(t, dir, "genrsa", "-out", name+".key", "2048")
	openssl(t, dir, "req", "-new", "-key", name+".key", "-out", name+".csr", "-subj", "/CN="+name+"/O="+group)
	openssl(t, dir, "x509", "-req", "-in", name+".csr", "-CA", filepath.Join(ca, "ca.crt"), "-CAkey", filepath.Join(ca, "ca.key"),
		"-CAcreateserial", "-CAserial", filepath.Join(dir, "ca.srl"), "-out", name+".crt", "-days", "30")
	return kubeconfigUser(t, c, name, namespace, dir, "--client-certificate="+filepath.Join(dir, name+".crt"), "--client-key="+filepath.Join(dir, name+".key"))
}

// kubeconfigUser writes a kubeconfig for name with the credentials flags of
// kubectl config set-credentials.
func kubeconfigUser(t *testing.T, c *cluster, name, namespace, dir string, credentials ...string) user {
	t.Helper()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	server := fmt.Sprintf("https://127.0.0.1:%d", c.port)
	for _, args := range [][]string{
		{"config", "set-cluster", "berth", "--server=" + server, "--certificate-authority=" + filepath.Join(c.dir, "tls", "ca.crt")},
		append([]string{"config", "set-credentials", name}, credentials...),
		{"config", "set-context", name, "--cluster=berth", "--user=" + name, "--namespace=" + namespace},
		{"config", "use-context", name},
	} {
		c.kubectl(t, append(args, "--kubeconfig="+kubeconfig)...)
	}
	return user{c: c, name: name, kubeconfig: kubeconfig}
}

// TestSecurity checks who may do what: requests without credentials are
// refused, users made with the cluster CA's key (the classic walkthrough) or
// through the CertificateSigningRequest API are who their certificates say,
// and RBAC grants them exactly what their roles say.
func TestSecurity(t *testing.T) {
	c := sharedCluster.get(t)

	t.Run("NoCredentials", func(t *testing.T) {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(filepath.Join(c.dir, "tls", "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		for path, want := range map[string]int{
			"/healthz": 200, "/livez": 200, "/readyz": 200,
			"/version": 401, "/api": 401, "/api/v1/namespaces/default/secrets": 401, "/apis/berth.dev/v1": 401, "/metrics": 401,
		} {
			resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d%s", c.port, path))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET %s without credentials: %d, want %d", path, resp.StatusCode, want)
			}
		}
		bad := kubeconfigUser(t, c, "bad", "default", t.TempDir(), "--token=abcdef.0123456789abcdef")
		if out, ok := bad.kubectl(t, "get", "pods"); ok || !strings.Contains(out, "You must be logged in to the server") {
			t.Errorf("kubectl get pods with a wrong token: %s", out)
		}
	})

	t.Run("NamespacedRole", func(t *testing.T) {
		dev, prod := c.namespace(t), c.namespace(t)
		jane := certificateUser(t, c, "jane", "dev", dev)
		if out, _ := jane.kubectl(t, "auth", "whoami"); !strings.Contains(out, "jane") || !strings.Contains(out, "[dev system:authenticated]") {
			t.Errorf("kubectl auth whoami as jane:\n%s", out)
		}
		want := fmt.Sprintf(`User "jane" cannot list resource "pods" in API group "" in the namespace "%s"`, dev)
		if out, ok := jane.kubectl(t, "get", "pods"); ok || !strings.Contains(out, want) {
			t.Errorf("jane lists pods before any role: %s\nwant %s", out, want)
		}

		c.kubectl(t, "create", "role", "pod-reader", "-n", dev, "--verb=get,list,watch", "--resource=pods,pods/log")
		// Names restrict what is done to an object, never creation (the
		// name is not in the request's path), as upstream.
		c.kubectl(t, "create", "role", "config-writer", "-n", dev, "--verb=get,update,patch,delete", "--resource=configmaps", "--resource-name=app")
		c.kubectl(t, "create", "configmap", "app", "-n", dev, "--from-literal=k=v")
		c.kubectl(t, "create", "configmap", "other", "-n", dev, "--from-literal=k=v")
		c.kubectl(t, "create", "rolebinding", "jane-reads-pods", "-n", dev, "--role=pod-reader", "--user=jane")
		c.kubectl(t, "create", "rolebinding", "dev-writes-config", "-n", dev, "--role=config-writer", "--group=dev")
		// The same role in prod, bound to someone else.
		c.kubectl(t, "create", "role", "pod-reader", "-n", prod, "--verb=get,list,watch", "--resource=pods")
		c.kubectl(t, "create", "rolebinding", "joe-reads-pods", "-n", prod, "--role=pod-reader", "--user=joe")

		for _, tc := range []struct {
			verb, resource, namespace string
			allowed                   bool
		}{
			{"get", "pods", dev, true},
			{"list", "pods", dev, true},
			{"watch", "pods", dev, true},
			{"get", "pods --subresource=log", dev, true},
			{"create", "pods", dev, false},
			{"delete", "pods", dev, false},
			{"create", "pods --subresource=exec", dev, false},
			{"list", "secrets", dev, false},
			{"list", "deployments.apps", dev, false},
			{"update", "configmaps/app", dev, true}, // by the group binding, on that name only
			{"delete", "configmaps/app", dev, true},
			{"create", "configmaps", dev, false},
			{"update", "configmaps/other", dev, false},
			{"get", "configmaps/app", dev, true},
			{"get", "configmaps/other", dev, false},
			{"list", "configmaps", dev, false},
			{"list", "pods", prod, false},
			{"get", "pods", prod, false},
			{"list", "pods", "default", false},
			{"list", "nodes", "", false},
			{"create", "namespaces", "", false},
			{"create", "roles.rbac.authorization.k8s.io", dev, false},
		} {
			args := append([]string{"auth", "can-i", tc.verb}, strings.Fields(tc.resource)...)
			if tc.namespace != "" {
				args = append(args, "-n", tc.namespace)
			}
			out, _ := jane.kubectl(t, args...)
			if got := strings.TrimSpace(out) == "yes"; got != tc.allowed {
				t.Errorf("jane: kubectl %s: %q, want allowed=%v", strings.Join(args, " "), strings.TrimSpace(out), tc.allowed)
			}
			// The admin asks the same question about jane: the same answer.
			asked, _, _ := c.kubectlResult(append(args, "--as=jane", "--as-group=dev"), nil)
			if got := strings.TrimSpace(asked) == "yes"; got != tc.allowed {
				t.Errorf("admin: kubectl %s --as=jane: %q, want allowed=%v", strings.Join(args, " "), strings.TrimSpace(asked), tc.allowed)
			}
		}

		// What can-i says is what the server does.
		if out, ok := jane.kubectl(t, "get", "pods"); !ok {
			t.Errorf("jane lists pods in %s: %s", dev, out)
		}
		if out, ok := jane.kubectl(t, "get", "pods", "-n", prod); ok || !strings.Contains(out, fmt.Sprintf(`User "jane" cannot list resource "pods" in API group "" in the namespace "%s"`, prod)) {
			t.Errorf("jane lists pods in %s: %s", prod, out)
		}
		if out, ok := jane.kubectl(t, "patch", "configmap", "app", "-p", `{"data":{"k":"w"}}`); !ok {
			t.Errorf("jane patches configmap app: %s", out)
		}
		if out, ok := jane.kubectl(t, "patch", "configmap", "other", "-p", `{"data":{"k":"w"}}`); ok || !strings.Contains(out, `User "jane" cannot get resource "configmaps" in API group "" in the namespace "`+dev+`"`) {
			t.Errorf("jane patches configmap other: %s", out)
		}
		if out, ok := jane.kubectl(t, "create", "configmap", "new", "--from-literal=k=v"); ok || !strings.Contains(out, `User "jane" cannot create resource "configmaps" in API group "" in the namespace "`+dev+`"`) {
			t.Errorf("jane creates a configmap: %s", out)
		}
		if out, ok := jane.kubectl(t, "get", "secrets"); ok || !strings.Contains(out, `cannot list resource "secrets"`) {
			t.Errorf("jane lists secrets: %s", out)
		}

		list, _ := jane.kubectl(t, "auth", "can-i", "--list")
		if !strings.Contains(list, "pods ") || !strings.Contains(list, "[get list watch]") || strings.Contains(list, "secrets") {
			t.Errorf("kubectl auth can-i --list as jane:\n%s", list)
		}

		// jane may not give herself more than she has.
		c.kubectl(t, "create", "rolebinding", "jane-manages-rbac", "-n", dev, "--clusterrole=admin", "--user=jane")
		c.kubectl(t, "wait", "--for=jsonpath={.rules[0].verbs}", "clusterrole/admin", "--timeout=30s")
		if out, ok := jane.kubectl(t, "create", "rolebinding", "jane-is-root", "--clusterrole=cluster-admin", "--user=jane"); ok ||
			!strings.Contains(out, `user "jane" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held`) {
			t.Errorf("jane binds cluster-admin: %s", out)
		}
		if out, ok := jane.kubectl(t, "create", "role", "node-reader", "--verb=get", "--resource=nodes"); ok || !strings.Contains(out, "is attempting to grant RBAC permissions not currently held") {
			t.Errorf("jane creates a role granting nodes: %s", out)
		}
		if out, ok := jane.kubectl(t, "create", "role", "secret-reader", "--verb=get", "--resource=secrets"); !ok {
			t.Errorf("jane creates a role within her rights: %s", out)
		}
	})

	t.Run("CertificateSigningRequest", func(t *testing.T) {
		dir := t.TempDir()
		request := func(name, subject string) string {
			openssl(t, dir, "genrsa", "-out", name+".key", "2048")
			openssl(t, dir, "req", "-new", "-key", name+".key", "-out", name+".csr", "-subj", subject)
			pemData, err := os.ReadFile(filepath.Join(dir, name+".csr"))
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: %s
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: ["client auth"]
`, name, base64.StdEncoding.EncodeToString(pemData))
		}
		name := fmt.Sprintf("joe-%d", rand.IntN(1e6))
		c.kubectlStdin(t, request(name, "/CN=joe/O=qa"), "apply", "-f", "-")
		t.Cleanup(func() { c.kubectlResult([]string{"delete", "csr", name}, nil) })
		if out := c.kubectl(t, "get", "csr", name); !strings.Contains(out, "kubernetes.io/kube-apiserver-client") || !strings.Contains(out, "system:admin") || !strings.Contains(out, "Pending") {
			t.Errorf("kubectl get csr %s:\n%s", name, out)
		}

		// Approving takes the right to approve for the signer.
		jane := certificateUser(t, c, "jane", "dev", "default")
		if out, ok := jane.kubectl(t, "certificate", "approve", name); ok || !strings.Contains(out, "forbidden") {
			t.Errorf("jane approves %s: %s", name, out)
		}
		if out := c.kubectl(t, "certificate", "approve", name); !strings.Contains(out, "approved") {
			t.Errorf("kubectl certificate approve %s: %s", name, out)
		}
		c.kubectl(t, "wait", "--for=jsonpath={.status.certificate}", "csr/"+name, "--timeout=60s")
		if out := c.kubectl(t, "get", "csr", name); !strings.Contains(out, "Approved,Issued") {
			t.Errorf("kubectl get csr %s after approval:\n%s", name, out)
		}
		issued := c.kubectl(t, "get", "csr", name, "-o", "jsonpath={.status.certificate}")
		certPEM, err := base64.StdEncoding.DecodeString(issued)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "joe.crt"), certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		joe := kubeconfigUser(t, c, "joe", "default", dir, "--client-certificate="+filepath.Join(dir, "joe.crt"), "--client-key="+filepath.Join(dir, name+".key"))
		if out, _ := joe.kubectl(t, "auth", "whoami"); !strings.Contains(out, "joe") || !strings.Contains(out, "[qa system:authenticated]") {
			t.Errorf("kubectl auth whoami with the issued certificate:\n%s", out)
		}

		// Nobody gets system:masters through the API.
		out, stderr, err := c.kubectlResult([]string{"apply", "-f", "-"}, strings.NewReader(request("root-"+name, "/CN=root/O=system:masters")))
		if err == nil || !strings.Contains(stderr, "system:masters") {
			t.Errorf("a CSR for system:masters: %v\n%s%s", err, out, stderr)
		}
	})

	t.Run("ReleasesInOwnNamespace", func(t *testing.T) {
		dev, prod := c.namespace(t), c.namespace(t)
		bob := certificateUser(t, c, "bob", "devs", dev)
		c.kubectl(t, "create", "rolebinding", "bob-edits", "-n", dev, "--clusterrole=edit", "--user=bob")
		// edit gathers its rules from the aggregated roles, berth's release
		// records among them.
		c.kubectl(t, "wait", "--for=jsonpath={.rules[0].verbs}", "clusterrole/edit", "--timeout=30s")
		as := func(args ...string) (string, error) {
			out, stderr, err := c.berthResult(append(args, "--kubeconfig", bob.kubeconfig)...)
			return out + stderr, err
		}
		chart := testChart(t)
		for _, args := range [][]string{
			{"install", "app", chart, "-n", dev},
			{"upgrade", "app", chart, "-n", dev, "--set", "replicas=2"},
			{"rollback", "app", "1", "-n", dev},
			{"history", "app", "-n", dev},
			{"status", "app", "-n", dev},
			{"list", "-n", dev},
			{"get", "values", "app", "-n", dev},
			{"uninstall", "app", "-n", dev},
		} {
			if out, err := as(args...); err != nil {
				t.Fatalf("bob: berth %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		// berth sync too, with the GitOps resources the server defined.
		repo := t.TempDir()
		if err := os.CopyFS(filepath.Join(repo, "chart"), os.DirFS(chart)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "release.yaml"), []byte(`apiVersion: berth.dev/v1
kind: Release
metadata: {name: synced, namespace: `+dev+`}
spec:
  chart: {path: chart}
  values: {deployment: false}
`), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := as("sync", "--repo", repo); err != nil || !strings.Contains(out, "synced") {
			t.Errorf("bob: berth sync: %v\n%s", err, out)
		}
		if out, err := as("status", "synced", "-n", dev); err != nil || !strings.Contains(out, "STATUS: deployed") {
			t.Errorf("bob: the synced release: %v\n%s", err, out)
		}

		out, err := as("install", "app", chart, "-n", prod)
		if err == nil || !strings.Contains(out, `User "bob" cannot`) || !strings.Contains(out, `in the namespace "`+prod+`"`) {
			t.Errorf("bob installs in %s: %v\n%s", prod, err, out)
		}
		if got := c.kubectl(t, "get", "all", "-n", prod, "-o", "name"); strings.TrimSpace(got) != "" {
			t.Errorf("a refused install left objects in %s:\n%s", prod, got)
		}
	})

	t.Run("PodSecurity", func(t *testing.T) {
		ns := c.namespace(t)
		c.kubectl(t, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline", "pod-security.kubernetes.io/warn=restricted")
		privileged := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: privileged, namespace: %s}
spec:
  containers:
  - name: c
    image: busybox
    securityContext: {privileged: true}
`, ns)
		out, stderr, err := c.kubectlResult([]string{"apply", "-f", "-"}, strings.NewReader(privileged))
		if err == nil || !strings.Contains(stderr, `pods "privileged" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`) {
			t.Errorf("a privileged pod in a baseline namespace: %v\n%s%s", err, out, stderr)
		}
		plain := strings.Replace(strings.Replace(privileged, "privileged", "plain", 1), "    securityContext: {privileged: true}\n", "", 1)
		out, stderr, err = c.kubectlResult([]string{"apply", "-f", "-"}, strings.NewReader(plain))
		if err != nil || !strings.Contains(stderr, `Warning: would violate PodSecurity "restricted:latest"`) {
			t.Errorf("a plain pod in a baseline namespace warning of restricted: %v\n%s%s", err, out, stderr)
		}
	})

	t.Run("JoinTokens", func(t *testing.T) {
		join := strings.TrimSpace(c.berth(t, "token", "create", "--ttl", "1h", "--description", "for worker-7"))
		hash, bootstrap, ok := strings.Cut(join, "::")
		if !ok || hash != strings.SplitN(c.joinToken(t), "::", 2)[0] {
			t.Fatalf("berth token create printed %q, want the cluster's CA hash (as in node-token) and a bootstrap token", join)
		}
		id, _, _ := strings.Cut(bootstrap, ".")
		list := c.berth(t, "token", "list")
		if !strings.Contains(list, bootstrap) || !strings.Contains(list, "for worker-7") || !strings.Contains(list, "system:bootstrappers:berth:default-node-token") ||
			!strings.Contains(list, "<forever>") {
			t.Errorf("berth token list lacks the new token (1h) or the server's (forever):\n%s", list)
		}
		// The token authenticates as a bootstrapper, which may ask for a
		// node certificate and do nothing else.
		holder := kubeconfigUser(t, c, "joiner", "default", t.TempDir(), "--token="+bootstrap)
		if out, _ := holder.kubectl(t, "auth", "whoami"); !strings.Contains(out, "system:bootstrap:"+id) || !strings.Contains(out, "system:bootstrappers") {
			t.Errorf("kubectl auth whoami with the join token:\n%s", out)
		}
		for args, want := range map[string]string{
			"auth can-i create certificatesigningrequests": "yes",
			"auth can-i list secrets -n kube-system":       "no",
			"auth can-i get nodes":                         "no",
		} {
			// kubectl warns on stderr that the resources are cluster-wide.
			out, _ := holder.kubectl(t, strings.Fields(args)...)
			if answer, _, _ := strings.Cut(out, "\n"); answer != want {
				t.Errorf("kubectl %s with the join token: %q, want %q", args, out, want)
			}
		}
		if out := c.berth(t, "token", "delete", join); !strings.Contains(out, id) {
			t.Errorf("berth token delete: %s", out)
		}
		// Tokens are believed for a few seconds once checked (as upstream).
		err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			out, ok := holder.kubectl(t, "auth", "whoami")
			return !ok && strings.Contains(out, "You must be logged in to the server"), nil
		})
		if err != nil {
			t.Errorf("a deleted join token still authenticates")
		}
		if _, stderr, err := c.berthResult("token", "delete", id); err == nil || !strings.Contains(stderr, "not found") {
			t.Errorf("deleting a deleted token: %v %s", err, stderr)
		}
	})
}
