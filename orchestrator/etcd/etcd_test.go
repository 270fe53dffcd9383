package etcd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func connect(t *testing.T, store *Store) *clientv3.Client {
	t.Helper()
	client, err := clientv3.New(clientv3.Config{Endpoints: store.Endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("connecting to %v: %v", store.Endpoints, err)
	}
	return client
}

func TestEmbeddedKeepsDataAcrossRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dataDir := t.TempDir()

	store, err := Start(ctx, Config{DataDir: dataDir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if len(store.Endpoints) != 1 || !strings.HasPrefix(store.Endpoints[0], "http://127.0.0.1:") || strings.HasSuffix(store.Endpoints[0], ":0") {
		t.Errorf("Endpoints = %v, want one loopback URL with the port picked", store.Endpoints)
	}
	client := connect(t, store)
	if _, err := client.Put(ctx, "/registry/test", "kept"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	client.Close()
	store.Close()

	if _, err := os.Stat(filepath.Join(dataDir, "etcd", "member")); err != nil {
		t.Errorf("no member directory under DataDir/etcd: %v", err)
	}

	store, err = Start(ctx, Config{DataDir: dataDir})
	if err != nil {
		t.Fatalf("Start again on the same data: %v", err)
	}
	t.Cleanup(store.Close)
	client = connect(t, store)
	t.Cleanup(func() { client.Close() })
	resp, err := client.Get(ctx, "/registry/test")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "kept" {
		t.Errorf("after a restart /registry/test = %v, want \"kept\"", resp.Kvs)
	}
}

func TestStart(t *testing.T) {
	cases := []struct {
		name          string
		cfg           Config
		wantEndpoints []string
		wantErr       string
	}{
		{
			name:          "external endpoints start nothing",
			cfg:           Config{Endpoints: []string{"https://etcd-0:2379", "https://etcd-1:2379"}, DataDir: "/nonexistent", ClientPort: -1},
			wantEndpoints: []string{"https://etcd-0:2379", "https://etcd-1:2379"},
		},
		{name: "negative client port", cfg: Config{ClientPort: -1}, wantErr: "etcd port -1 is out of range"},
		{name: "negative peer port", cfg: Config{PeerPort: -1}, wantErr: "etcd port -1 is out of range"},
		{name: "client port above 65535", cfg: Config{ClientPort: 65536}, wantErr: "etcd port 65536 is out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.cfg.DataDir == "" {
				c.cfg.DataDir = t.TempDir()
			}
			store, err := Start(context.Background(), c.cfg)
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("Start = %v, want error %q", err, c.wantErr)
				}
				if entries, _ := os.ReadDir(c.cfg.DataDir); len(entries) != 0 {
					t.Errorf("a refused start left %d entries in DataDir", len(entries))
				}
				return
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			defer store.Close()
			if !slices.Equal(store.Endpoints, c.wantEndpoints) {
				t.Errorf("Endpoints = %v, want %v", store.Endpoints, c.wantEndpoints)
			}
			if store.embedded != nil {
				t.Error("an embedded member started although endpoints were given")
			}
		})
	}
}

func TestStartHonoursCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store, err := Start(ctx, Config{DataDir: t.TempDir()})
	if err == nil {
		// The member may have been ready before the select saw the context.
		store.Close()
		t.Skip("the member became ready before the canceled context was noticed")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start = %v, want %v", err, context.Canceled)
	}
}
