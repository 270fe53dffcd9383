package release

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/release"
)

// ReleaseTesting runs a release's test hooks.
type ReleaseTesting struct {
	cfg *Config

	Namespace string
	Timeout   time.Duration
}

// NewReleaseTesting returns a test run with Helm's defaults.
func NewReleaseTesting(cfg *Config) *ReleaseTesting {
	return &ReleaseTesting{cfg: cfg, Namespace: "default", Timeout: 5 * time.Minute}
}

// Run runs the tests of release name's newest revision and records their
// outcome in it.
func (t *ReleaseTesting) Run(ctx context.Context, name string) (*release.Release, error) {
	cfg := t.cfg
	lock, err := cfg.lockRelease(ctx, t.Namespace, name)
	if err != nil {
		return nil, err
	}
	defer cfg.unlock(ctx, lock)
	rel, _, err := cfg.latest(ctx, t.Namespace, name)
	if err != nil {
		return nil, err
	}
	runErr := cfg.Kube.RunHooks(ctx, rel.Hooks, release.HookTest, rel.Namespace, t.Timeout)
	finish, cancel := detached(ctx)
	defer cancel()
	if err := cfg.Store.Update(finish, rel); err != nil {
		return rel, err
	}
	if runErr != nil {
		return rel, fmt.Errorf("test failed: %w", runErr)
	}
	return rel, nil
}
