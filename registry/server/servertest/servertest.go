// Package servertest runs berth's registry in a test's process.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"berth.dev/berth/registry/server"
)

// Start runs the registry on a free loopback port, plain HTTP, with
// htpasswd when not empty, until the test ends, and returns its host:port.
func Start(t testing.TB, htpasswd string) string {
	t.Helper()
	s, err := server.New(t.Context(), server.Config{
		Root: t.TempDir(), Addr: "127.0.0.1:0", Htpasswd: htpasswd,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry: %v", err)
		}
	})
	return s.Addr().String()
}
