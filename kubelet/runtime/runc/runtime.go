package runc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"berth.dev/berth/kubelet/runtime"
)

// Config configures a Runtime.
type Config struct {
	// Root is the state directory (e.g. /run/berth/runtime); it must
	// outlive the process for containers to be re-adopted.
	Root string
	// CgroupParent is the cgroup under which each sandbox gets its pod
	// cgroup (e.g. /berth/pods).
	CgroupParent string
	// LogMaxBytes and LogMaxFiles rotate container logs (defaults 10 MiB, 5).
	LogMaxBytes int64
	LogMaxFiles int
	// Logger receives what the runtime does; slog.Default when nil.
	Logger *slog.Logger
}

// Runtime runs sandboxes and containers with libcontainer. Create it with New.
type Runtime struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	containers map[string]*container
	sandboxes  map[string]*sandbox
}

var _ runtime.Runtime = (*Runtime)(nil)

// Directories under Config.Root.
const (
	libcontainerDir = "libcontainer" // libcontainer's own state, one dir per container
	containersDir   = "containers"   // our per-container metadata, fifos, exit status
	sandboxesDir    = "sandboxes"    // per-sandbox metadata and /dev/shm
)

// New returns a runtime over cfg.Root, re-adopting the sandboxes and
// containers found there: running ones keep running, their logs are copied
// again and their exit is watched.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if !filepath.IsAbs(cfg.Root) || !filepath.IsAbs(cfg.CgroupParent) {
		return nil, fmt.Errorf("runtime config: Root %q and CgroupParent %q must be absolute paths", cfg.Root, cfg.CgroupParent)
	}
	if cfg.LogMaxBytes == 0 {
		cfg.LogMaxBytes = 10 << 20
	}
	if cfg.LogMaxFiles == 0 {
		cfg.LogMaxFiles = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runtime{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "runtime"),
		containers: map[string]*container{},
		sandboxes:  map[string]*sandbox{},
	}
	for _, d := range []string{libcontainerDir, containersDir, sandboxesDir} {
		if err := os.MkdirAll(filepath.Join(cfg.Root, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating runtime state dir: %w", err)
		}
	}
	if err := r.adoptSandboxes(ctx); err != nil {
		return nil, err
	}
	if err := r.adoptContainers(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Close stops watching and copying logs; containers and sandboxes keep
// running, for a later New to re-adopt.
func (r *Runtime) Close() {
	r.mu.Lock()
	ctrs := make([]*container, 0, len(r.containers))
	for _, c := range r.containers {
		ctrs = append(ctrs, c)
	}
	r.mu.Unlock()
	for _, c := range ctrs {
		c.detach()
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// readDirNames lists the entries of dir.
func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}
