package release

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/release"

	"berth.dev/berth/release/storage"
)

// Rollback returns a release to an earlier revision, as a new revision.
type Rollback struct {
	cfg *Config

	Namespace     string
	Revision      int // 0: the one before the current
	DryRun        bool
	Wait          bool
	WaitForJobs   bool
	Timeout       time.Duration
	Force         bool
	CleanupOnFail bool
	NoHooks       bool
	MaxHistory    int
	// locked: the caller (an atomic upgrade) holds the release's lock.
	locked bool
}

// NewRollback returns a rollback with Helm's defaults.
func NewRollback(cfg *Config) *Rollback {
	return &Rollback{cfg: cfg, Namespace: "default", Timeout: 5 * time.Minute, MaxHistory: 10}
}

// Run rolls release name back.
func (r *Rollback) Run(ctx context.Context, name string) (*release.Release, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	cfg := r.cfg
	if !r.locked && !r.DryRun {
		lock, err := cfg.lockRelease(ctx, r.Namespace, name)
		if err != nil {
			return nil, err
		}
		defer cfg.unlock(ctx, lock)
	}
	last, history, err := cfg.latest(ctx, r.Namespace, name)
	if err != nil {
		return nil, err
	}
	if last.Info.Status.IsPending() {
		return nil, fmt.Errorf("release %q: %w", name, errPending)
	}
	target := r.Revision
	if target == 0 {
		target = last.Version - 1
		if d := storage.LastDeployed(history); d != nil && d.Revision != last.Version {
			target = d.Revision // the newest failed: back to what last worked
		}
	}
	if target < 1 || target > last.Version {
		return nil, fmt.Errorf("release has no %d version", target)
	}
	previous, err := cfg.Store.Get(ctx, r.Namespace, name, target)
	if err != nil {
		return nil, fmt.Errorf("release has no %d version", target)
	}
	current := last
	if d := storage.LastDeployed(history); d != nil && d.Revision != last.Version {
		if current, err = cfg.Store.Get(ctx, r.Namespace, name, d.Revision); err != nil {
			return nil, err
		}
	}
	rel := cfg.newRelease(name, r.Namespace, last.Version+1, previous.Chart, previous.Config, nil, release.StatusPendingRollback, fmt.Sprintf("Rollback to %d", target))
	rel.Manifest, rel.Hooks, rel.Info.Notes = previous.Manifest, previous.Hooks, previous.Info.Notes
	rel.Info.FirstDeployed = current.Info.FirstDeployed
	if r.DryRun {
		return rel, nil
	}
	if err := cfg.Store.Create(ctx, rel); err != nil {
		return nil, err
	}
	err = cfg.deploy(ctx, deployment{
		rel: rel, current: current, pre: release.HookPreRollback, post: release.HookPostRollback,
		noHooks: r.NoHooks, wait: r.Wait, waitJobs: r.WaitForJobs, timeout: r.Timeout, force: r.Force,
	})
	finish, cancel := detached(ctx)
	defer cancel()
	if err != nil {
		rel.SetStatus(release.StatusFailed, fmt.Sprintf("Rollback %q failed: %s", name, summary(err)))
		if uerr := cfg.Store.Update(finish, rel); uerr != nil {
			err = fmt.Errorf("%w; recording the failure also failed: %v", err, uerr)
		}
		if r.CleanupOnFail {
			if cerr := cfg.cleanupNew(finish, rel, current); cerr != nil {
				err = fmt.Errorf("%w; cleanup on fail also failed: %v", err, cerr)
			}
		}
		return rel, err
	}
	if err := cfg.supersede(finish, history, rel.Version); err != nil {
		return rel, err
	}
	rel.Info.Status = release.StatusDeployed
	if err := cfg.Store.Update(finish, rel); err != nil {
		return rel, err
	}
	return rel, cfg.pruneHistory(finish, r.Namespace, name, r.MaxHistory)
}
