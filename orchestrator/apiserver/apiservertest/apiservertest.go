// Package apiservertest runs berth's API server inside a test process, on embedded
// etcd in a temporary directory, for tests of API clients (the release engine, the
// controllers) that need the real API rather than a fake. It runs no controllers:
// a deleted namespace stays Terminating. It must not be imported outside tests.
package apiservertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"berth.dev/berth/orchestrator/apiserver"
	"berth.dev/berth/orchestrator/etcd"
	"berth.dev/berth/orchestrator/metrics"
	"berth.dev/berth/orchestrator/pki"
)

// Server is a running API server.
type Server struct {
	// Config reaches the server with full rights.
	Config *rest.Config
	Client kubernetes.Interface
	// Metrics is what the resource metrics API (metrics.k8s.io) serves: tests
	// report usage into it.
	Metrics *metrics.Store
	// CA is the cluster CA: tests issue kubelet serving certificates from it,
	// which the server trusts when it streams logs or exec sessions.
	CA *pki.CA
	// Handler is the server's whole handler chain, for serving it without
	// TLS: benchmarks of what TLS costs. Config's token authenticates on it.
	Handler http.Handler
}

// Start runs an API server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, stop, err := start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// Main runs one API server for every test of a package: call it from TestMain.
// setup prepares the server (installs definitions, say) before the tests run.
func Main(m *testing.M, setup func(*Server) error) int {
	dir, err := os.MkdirTemp("", "apiservertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, stop, err := start(dir)
	if err == nil {
		err = setup(s)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the API server:", err)
		if stop != nil {
			stop()
		}
		return 1
	}
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

func start(dir string) (*Server, func() error, error) {
	ctx, cancel := context.WithCancel(context.Background())
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		cancel()
		return nil, nil, err
	}
	store, err := etcd.Start(ctx, etcd.Config{DataDir: dir})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	fail := func(err error) (*Server, func() error, error) {
		cancel()
		store.Close()
		return nil, nil, err
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	_, serviceCIDR, _ := net.ParseCIDR("10.96.0.0/16")
	usage, err := metrics.NewStore()
	if err != nil {
		return fail(err)
	}
	api, err := apiserver.New(ctx, apiserver.Config{
		BindAddress:   net.IPv4(127, 0, 0, 1),
		Port:          port,
		CA:            ca,
		EtcdEndpoints: store.Endpoints,
		ServiceCIDR:   serviceCIDR,
		NodePorts:     apiserver.DefaultNodePorts,
		Metrics:       usage,
	})
	if err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- api.Run(ctx) }()
	stop := func() error {
		cancel()
		defer store.Close()
		select {
		case <-done:
			return nil
		case <-time.After(30 * time.Second):
			return fmt.Errorf("API server did not stop")
		}
	}
	ready, readyDone := context.WithTimeout(ctx, time.Minute)
	defer readyDone()
	if err := api.WaitReady(ready); err != nil {
		stop()
		return nil, nil, fmt.Errorf("API server not ready: %w", err)
	}
	config := rest.CopyConfig(api.SecureLoopback)
	config.QPS, config.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return &Server{Config: config, Client: client, Metrics: usage, CA: ca, Handler: api.Handler()}, stop, nil
}

// Kubeconfig writes a kubeconfig reaching the server with full rights, for
// tests that run the real kubectl, and returns its path.
func (s *Server) Kubeconfig(t testing.TB) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["berth"] = &clientcmdapi.Cluster{Server: s.Config.Host, CertificateAuthorityData: s.Config.CAData, TLSServerName: s.Config.ServerName}
	cfg.AuthInfos["berth"] = &clientcmdapi.AuthInfo{Token: s.Config.BearerToken}
	cfg.Contexts["berth"] = &clientcmdapi.Context{Cluster: "berth", AuthInfo: "berth"}
	cfg.CurrentContext = "berth"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
