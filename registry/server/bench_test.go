package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// dockerRegistry is Debian's build of Distribution 2.8, the registry berth is
// measured against.
const dockerRegistry = "/usr/bin/docker-registry"

// Benchmark image: benchLayers layers of benchLayerSize random bytes each
// (200 MiB), pushed and pulled benchRounds times per registry.
const (
	benchLayers    = 4
	benchLayerSize = 50 << 20
	benchRounds    = 5
)

// BenchmarkRegistry pushes a 200 MiB image to berth's registry (in process)
// and to Debian's docker-registry (Distribution 2.8, as a process), each on
// loopback with its own storage directory, and pulls it back, with the same
// oras-go client settings for both. Rounds alternate between the registries,
// so that noise hits both alike; each round uses a fresh repository, so
// nothing is mounted or skipped.
func BenchmarkRegistry(b *testing.B) {
	if _, err := os.Stat(dockerRegistry); err != nil {
		b.Skipf("%s is missing (apt-get install -y docker-registry): %v", dockerRegistry, err)
	}
	ctx := b.Context()
	img, size := benchImage(b)
	hosts := map[string]string{
		"berth":           startBerthForBench(b),
		"docker-registry": startDockerRegistry(b),
	}
	names := []string{"berth", "docker-registry"}

	push := map[string][]float64{}
	pull := map[string][]float64{}
	for i := range benchRounds {
		for _, name := range names { // alternate, so that drift hits both alike
			repo := benchRepo(b, hosts[name], fmt.Sprintf("bench/round%d", i))
			start := time.Now()
			if _, err := oras.Copy(ctx, img, "bench", repo, "latest", oras.DefaultCopyOptions); err != nil {
				b.Fatalf("%s: push: %v", name, err)
			}
			push[name] = append(push[name], mibPerSec(size, time.Since(start)))

			sink := &discardTarget{}
			start = time.Now()
			if _, err := oras.Copy(ctx, repo, "latest", sink, "", oras.DefaultCopyOptions); err != nil {
				b.Fatalf("%s: pull: %v", name, err)
			}
			pull[name] = append(pull[name], mibPerSec(size, time.Since(start)))
			if sink.n.Load() != size {
				b.Fatalf("%s: pulled %d bytes, want %d", name, sink.n.Load(), size)
			}
		}
	}

	fmt.Printf("\n%-45s %12s %16s %12s\n", fmt.Sprintf("MiB/s, %d MiB image (median of %d rounds)", size>>20, benchRounds), "berth", "docker-registry", "berth/d-r")
	for _, row := range []struct {
		name string
		m    map[string][]float64
	}{{"push", push}, {"pull", pull}} {
		bm, dm := medianOf(row.m["berth"]), medianOf(row.m["docker-registry"])
		fmt.Printf("%-45s %12.0f %16.0f %12.2f\n", row.name, bm, dm, bm/dm)
	}
	fmt.Println("\ntarget: berth at least parity (ratio >= 1.0)")
}

// benchImage builds the benchmark image in memory: a config, benchLayers
// layers of incompressible data and a manifest tagged "bench". It returns the
// store and the bytes a push or pull moves.
func benchImage(b *testing.B) (*memory.Store, int64) {
	ctx := b.Context()
	store := memory.New()
	add := func(mediaType string, data []byte) v1.Descriptor {
		desc := content.NewDescriptorFromBytes(mediaType, data)
		if err := store.Push(ctx, desc, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		return desc
	}
	config := add(v1.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	size := config.Size
	var layers []v1.Descriptor
	for range benchLayers {
		data := make([]byte, benchLayerSize)
		_, _ = rand.Read(data)
		layers = append(layers, add(v1.MediaTypeImageLayerGzip, data))
		size += benchLayerSize
	}
	m, err := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    config,
		Layers:    layers,
	})
	if err != nil {
		b.Fatal(err)
	}
	root := add(v1.MediaTypeImageManifest, m)
	if err := store.Tag(ctx, root, "bench"); err != nil {
		b.Fatal(err)
	}
	return store, size + root.Size
}

// startBerthForBench runs berth's registry in process until the benchmark
// ends and returns its host:port. Its logs are dropped, as a quiet
// production registry's are.
func startBerthForBench(b *testing.B) string {
	s, err := New(b.Context(), Config{Root: b.TempDir(), Addr: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("berth registry: %v", err)
		}
	})
	host := s.Addr().String()
	waitReady(b, host)
	return host
}

// startDockerRegistry runs docker-registry on a free loopback port with
// filesystem storage in a temporary directory until the benchmark ends, and
// returns its host:port. Its access log is off and it logs warnings only, to
// match berth's registry.
func startDockerRegistry(b *testing.B) string {
	dir := b.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	host := ln.Addr().String()
	_ = ln.Close()
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "storage"), host)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(dockerRegistry, "serve", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if b.Failed() {
			b.Logf("docker-registry output:\n%s", logs.String())
		}
	})
	waitReady(b, host)
	return host
}

// waitReady waits for a registry at host to answer /v2/.
func waitReady(b *testing.B, host string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("registry at %s not ready after 10s: %v", host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchRepo is an oras client for name at host, with the same settings for
// every registry: plain HTTP, a transport of its own, no auth.
func benchRepo(b *testing.B, host, name string) *remote.Repository {
	repo, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		b.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	return repo
}

// discardTarget is a pull destination that verifies and drops what it
// receives, counting the bytes; it holds nothing, so every blob is fetched.
type discardTarget struct {
	n atomic.Int64 // bytes received; oras.Copy pushes concurrently
}

func (*discardTarget) Fetch(context.Context, v1.Descriptor) (io.ReadCloser, error) {
	return nil, errdef.ErrNotFound
}

func (*discardTarget) Exists(context.Context, v1.Descriptor) (bool, error) { return false, nil }

func (*discardTarget) Resolve(context.Context, string) (v1.Descriptor, error) {
	return v1.Descriptor{}, errdef.ErrNotFound
}

func (*discardTarget) Tag(context.Context, v1.Descriptor, string) error { return nil }

func (d *discardTarget) Push(_ context.Context, desc v1.Descriptor, r io.Reader) error {
	vr := content.NewVerifyReader(r, desc)
	n, err := io.Copy(io.Discard, vr)
	if err != nil {
		return err
	}
	if err := vr.Verify(); err != nil {
		return fmt.Errorf("%s: %w", desc.Digest, err)
	}
	d.n.Add(n)
	return nil
}

func mibPerSec(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
