// Package apiservertest runs berth's API server inside a test process, on embedded
// etcd in a temporary directory, for tests of API clients (the release engine, the
// controllers) that need the real API rather than a fake. It runs no controllers:
// a deleted namespace stays Terminating. It must not be imported outside tests.
package apiservertest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"berth.dev/berth/orchestrator/apiserver"
	"berth.dev/berth/orchestrator/etcd"
	"berth.dev/berth/orchestrator/pki"
)

// Server is a running API server.
type Server struct {
	// Config reaches the server with full rights.
	Config *rest.Config
	Client kubernetes.Interface
}

// Start runs an API server until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := etcd.Start(ctx, etcd.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	_, serviceCIDR, _ := net.ParseCIDR("10.96.0.0/16")
	api, err := apiserver.New(ctx, apiserver.Config{
		BindAddress:   net.IPv4(127, 0, 0, 1),
		Port:          port,
		CA:            ca,
		EtcdEndpoints: store.Endpoints,
		ServiceCIDR:   serviceCIDR,
		NodePorts:     apiserver.DefaultNodePorts,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- api.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("API server did not stop")
		}
		store.Close()
	})
	ready, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if err := api.WaitReady(ready); err != nil {
		t.Fatalf("API server not ready: %v", err)
	}
	config := rest.CopyConfig(api.Loopback)
	config.QPS, config.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return &Server{Config: config, Client: client}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
