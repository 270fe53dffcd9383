// Package etcd owns berth's store: an etcd member embedded in the process and kept
// under the data directory, or the endpoints of an external etcd cluster. It must not
// know what is stored: the API server owns the keys and their encoding.
package etcd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config says where the store is.
type Config struct {
	// Endpoints of an external etcd cluster; when empty, an embedded member runs.
	Endpoints []string
	// DataDir keeps the embedded member's data (DataDir/etcd).
	DataDir string
	// ClientPort and PeerPort are the embedded member's loopback ports; 0 picks free ones.
	ClientPort, PeerPort int
}

// Store is a running store.
type Store struct {
	// Endpoints are the client URLs to reach it.
	Endpoints []string
	embedded  *embed.Etcd
}

// readyTimeout bounds how long an embedded member may take to start; a data
// directory that needs longer is broken, not slow.
const readyTimeout = time.Minute

// Start returns the external store, or starts the embedded member and returns once
// it serves.
func Start(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) > 0 {
		return &Store{Endpoints: cfg.Endpoints}, nil
	}
	ec := embed.NewConfig()
	ec.Name = "berth"
	ec.Dir = filepath.Join(cfg.DataDir, "etcd")
	ec.LogLevel = "error"
	client, err := loopbackURL(cfg.ClientPort)
	if err != nil {
		return nil, err
	}
	peer, err := loopbackURL(cfg.PeerPort)
	if err != nil {
		return nil, err
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	// The API server compacts on its own schedule, as upstream's does.
	ec.AutoCompactionRetention = "0"
	// Metrics and the v2 gateway stay off: nothing but the API server talks to it.
	ec.ListenMetricsUrls = nil

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", ec.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(readyTimeout):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s did not become ready within %s", ec.Dir, readyTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Store{Endpoints: []string{"http://" + e.Clients[0].Addr().String()}, embedded: e}, nil
}

// Close stops the embedded member, if any, after it has written everything it
// acknowledged.
func (s *Store) Close() {
	if s.embedded != nil {
		s.embedded.Close()
	}
}

func loopbackURL(port int) (url.URL, error) {
	if port < 0 || port > 65535 {
		return url.URL{}, fmt.Errorf("etcd port %d is out of range", port)
	}
	return url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}, nil
}
