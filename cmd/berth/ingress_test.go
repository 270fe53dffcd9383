package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/orchestrator/pki"
)

// TestKubeletIngress: the node's built-in Ingress controller routes two hosts
// to two Services of real pods, over HTTP and over HTTPS with a certificate
// from a Secret, answers 404 for a host no rule has, and gives the Ingress the
// default class and the node's address.
func TestKubeletIngress(t *testing.T) {
	t.Parallel()
	c := node.getNode(t)
	ns := c.namespace(t)

	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Ensure(pki.Leaf{Name: "one", CommonName: "one.example.com", DNSNames: []string{"one.example.com"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	crt, err := os.ReadFile(leaf.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(leaf.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "one-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var manifest string
	for _, name := range []string{"one", "two"} {
		manifest += fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %[1]s, labels: {app: %[1]s}}
spec:
  containers:
  - name: web
    image: %[2]s
    imagePullPolicy: Never
    env: [{name: MESSAGE, value: this is %[1]s}]
    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
`, name, helloImage)
	}
	manifest += `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: hosts}
spec:
  tls: [{hosts: [one.example.com], secretName: one-tls}]
  rules:
  - host: one.example.com
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: one, port: {name: http}}}}]
  - host: two.example.com
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: two, port: {number: 80}}}}]
`
	c.kubectlStdin(t, manifest, "apply", "-n", ns, "-f", "-")
	waitPod(t, c, ns, "one", time.Minute, "Ready", podReady)
	waitPod(t, c, ns, "two", time.Minute, "Ready", podReady)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// Every name is this node.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			port := strconv.Itoa(c.ingressHTTP)
			if _, p, _ := net.SplitHostPort(addr); p == "443" {
				port = strconv.Itoa(c.ingressHTTPS)
			}
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
		TLSClientConfig: &tls.Config{RootCAs: roots},
	}}
	get := func(url string) (int, string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	for _, tc := range []struct {
		url, want string
		code      int
	}{
		{"http://one.example.com/", "this is one\n", http.StatusOK},
		{"http://two.example.com/some/path", "this is two\n", http.StatusOK},
		{"https://one.example.com/", "this is one\n", http.StatusOK},
		{"http://three.example.com/", "", http.StatusNotFound},
	} {
		// The controller follows the Ingress and the endpoints within its
		// sync interval.
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, body, err := get(tc.url)
			if err == nil && code == tc.code && (tc.want == "" || body == tc.want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s through the Ingress: %d %q (%v), want %d %q", tc.url, code, body, err, tc.code, tc.want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	nodeIP := nodeInternalIP(t, c)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.kubectl(t, "get", "ingress", "-n", ns, "hosts", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
		if got == nodeIP {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ingress status address %q, want the node's %s", got, nodeIP)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The Ingress named no class: admission gave it the default one.
	if class := c.kubectl(t, "get", "ingress", "-n", ns, "hosts", "-o", "jsonpath={.spec.ingressClassName}"); class != "berth" {
		t.Errorf("the Ingress's class is %q, want the default berth", class)
	}
	if class := c.kubectl(t, "get", "ingressclass", "berth", "-o", `jsonpath={.spec.controller} {.metadata.annotations.ingressclass\.kubernetes\.io/is-default-class}`); class != "berth.dev/ingress true" {
		t.Errorf("IngressClass berth: %q, want the default class of berth.dev/ingress", class)
	}
}
