package ingress

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

// testLog discards logs unless the tests run with -v.
func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testBackend is an HTTP server standing in for a pod. It answers with its
// name, what it read of the body, and what it saw of the request in
// X-Seen-* headers. Requests to /slow wait until release is closed.
type testBackend struct {
	name    string
	srv     *httptest.Server
	hits    atomic.Int64
	arrived chan struct{} // gets a value when a /slow request arrives
	release chan struct{}
}

func newBackend(t *testing.T, name string) *testBackend {
	t.Helper()
	b := &testBackend{name: name, arrived: make(chan struct{}, 10), release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			b.arrived <- struct{}{}
			<-b.release
		}
		h := w.Header()
		h.Set("X-Backend", name)
		h.Set("X-Seen-Host", r.Host)
		h.Set("X-Seen-Path", r.URL.RequestURI())
		h.Set("X-Seen-Forwarded-For", r.Header.Get("X-Forwarded-For"))
		h.Set("X-Seen-Forwarded-Host", r.Header.Get("X-Forwarded-Host"))
		h.Set("X-Seen-Forwarded-Proto", r.Header.Get("X-Forwarded-Proto"))
		io.WriteString(w, name+":"+string(body))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// port is the backend's port on 127.0.0.1.
func (b *testBackend) port() int32 {
	return int32(b.srv.Listener.Addr().(*net.TCPAddr).Port)
}

// service is a Service with one TCP port named "http", port 80.
func service(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
}

// slice is an EndpointSlice of Service svc with its port named portName
// being port.
func slice(ns, name, svc, portName string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	tcp := corev1.ProtocolTCP
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr(portName), Port: ptr(port), Protocol: &tcp}},
	}
}

func endpoint(ip string, ready bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)}}
}

// backendSlice is an EndpointSlice of svc (port "http") with b as its one
// endpoint.
func backendSlice(ns, svc string, b *testBackend, ready bool) *discoveryv1.EndpointSlice {
	return slice(ns, svc+"-"+b.name, svc, "http", b.port(), endpoint("127.0.0.1", ready))
}

// serviceWith is a Service named svc in default with b as its one ready
// endpoint.
func serviceWith(svc string, b *testBackend) []runtime.Object {
	return []runtime.Object{service("default", svc), backendSlice("default", svc, b, true)}
}

// ingress is an Ingress of class berth in default, changed by opts.
func ingress(name string, opts ...func(*networkingv1.Ingress)) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec:       networkingv1.IngressSpec{IngressClassName: ptr(DefaultClassName)},
	}
	for _, o := range opts {
		o(ing)
	}
	return ing
}

func withClass(class string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		if class == "" {
			ing.Spec.IngressClassName = nil
		} else {
			ing.Spec.IngressClassName = ptr(class)
		}
	}
}

func withLegacyClass(class string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		ing.Spec.IngressClassName = nil
		ing.Annotations = map[string]string{legacyClassAnnotation: class}
	}
}

func withCreated(sec int64) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) { ing.CreationTimestamp = metav1.Unix(sec, 0) }
}

func withRule(host string, paths ...networkingv1.HTTPIngressPath) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{
			Host:             host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
		})
	}
}

func withDefault(svc string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) { ing.Spec.DefaultBackend = svcBackend(svc, int32(80)) }
}

func withTLS(secret string, hosts ...string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		ing.Spec.TLS = append(ing.Spec.TLS, networkingv1.IngressTLS{Hosts: hosts, SecretName: secret})
	}
}

// svcBackend is a backend by Service port: an int32 number or a string name.
func svcBackend[P int32 | string](svc string, port P) *networkingv1.IngressBackend {
	var p networkingv1.ServiceBackendPort
	switch v := any(port).(type) {
	case int32:
		p.Number = v
	case string:
		p.Name = v
	}
	return &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc, Port: p}}
}

func path(pathType networkingv1.PathType, p, svc string) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: p, PathType: ptr(pathType), Backend: *svcBackend(svc, int32(80))}
}

func prefix(p, svc string) networkingv1.HTTPIngressPath {
	return path(networkingv1.PathTypePrefix, p, svc)
}

// started is a Controller whose Run is running.
type started struct {
	*Controller
	client *fake.Clientset
	cancel context.CancelFunc
	done   chan error
}

// start runs a Controller over a fake clientset holding objs, on
// 127.0.0.1 ports; mut changes its Config first. The test's cleanup stops
// it and fails the test if Run fails.
func start(t *testing.T, mut func(*Config), objs ...runtime.Object) *started {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	cfg := Config{
		HTTPAddr:        "127.0.0.1:0",
		HTTPSAddr:       "127.0.0.1:0",
		Client:          client,
		MinSyncInterval: 10 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
		Log:             testLog(),
	}
	if mut != nil {
		mut(&cfg)
	}
	c, err := New(cfg, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	s := &started{Controller: c, client: client, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("Run did not return after its context was cancelled")
		}
		factory.Shutdown()
	})
	return s
}

// response is what a request through the controller got.
type response struct {
	status  int
	backend string // X-Backend, "" if no backend answered
	body    string
	header  http.Header
	tls     *tls.ConnectionState
}

// client returns an HTTP client for requests through the controller; tlsConf
// is for HTTPS.
func client(t *testing.T, tlsConf *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// do sends a request to the controller's HTTP address (or HTTPS, if
// scheme is https) with Host host, failing the test if it cannot.
func (s *started) do(t *testing.T, c *http.Client, method, scheme, host, target, body string) response {
	t.Helper()
	r, err := s.try(c, method, scheme, host, target, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is do for goroutines other than the test's.
func (s *started) try(c *http.Client, method, scheme, host, target, body string) (response, error) {
	addr := s.HTTPAddr()
	if scheme == "https" {
		addr = s.HTTPSAddr()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, scheme+"://"+addr.String()+target, rd)
	if err != nil {
		return response{}, err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s%s: %w", method, host, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s%s: reading the body: %w", method, host, target, err)
	}
	return response{status: resp.StatusCode, backend: resp.Header.Get("X-Backend"), body: string(b), header: resp.Header, tls: resp.TLS}, nil
}

// get sends a GET over plain HTTP.
func (s *started) get(t *testing.T, host, target string) response {
	t.Helper()
	return s.do(t, client(t, nil), http.MethodGet, "http", host, target, "")
}

// eventually polls cond every 10ms until it returns nil, failing the test
// with its last error after 10s.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) {
			last = cond()
			return last == nil, nil
		})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, last)
	}
}

// testCA is a certificate authority for test certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

var serials atomic.Int64

// secret is a kubernetes.io/tls Secret with a certificate for hosts signed
// by ca.
func (ca *testCA) secret(t *testing.T, ns, name string, hosts ...string) *corev1.Secret {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials.Add(1) + 1),
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}
}
