package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"

	"berth.dev/berth/release/kube"
	"berth.dev/berth/release/storage"
)

// Upgrade moves a release to a new chart or new values.
type Upgrade struct {
	cfg *Config

	Namespace string
	// Install installs the release if it does not exist (upgrade --install).
	Install         bool
	CreateNamespace bool
	DryRun          DryRun
	Wait            bool
	WaitForJobs     bool
	Timeout         time.Duration
	Atomic          bool
	CleanupOnFail   bool
	Force           bool
	NoHooks         bool
	SkipCRDs        bool
	// InstallCRDs installs the chart's CRDs that do not exist yet before
	// upgrading, and ReplaceCRDs also updates those that do; Helm's
	// upgrade does neither.
	InstallCRDs, ReplaceCRDs bool
	SubNotes                 bool
	ReuseValues              bool
	ResetValues              bool
	ResetThenReuseValues     bool
	MaxHistory               int
	Description              string
	PostRenderer             postrender.PostRenderer
}

// NewUpgrade returns an upgrade with Helm's defaults.
func NewUpgrade(cfg *Config) *Upgrade {
	return &Upgrade{cfg: cfg, Namespace: "default", Timeout: 5 * time.Minute, MaxHistory: 10}
}

// Run upgrades release name to ch with the user's values.
func (u *Upgrade) Run(ctx context.Context, name string, ch *helmchart.Chart, vals map[string]any) (*release.Release, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	if err := checkDependencies(ch); err != nil {
		return nil, err
	}
	cfg := u.cfg
	if u.Install {
		if _, err := cfg.Store.History(ctx, u.Namespace, name); errors.Is(err, storage.ErrNotFound) {
			return u.install(ctx, name, ch, vals)
		}
	}
	if u.Atomic {
		u.Wait = true
	}
	var lock *storage.Lock
	if u.DryRun == DryRunNone {
		var err error
		if lock, err = cfg.lockRelease(ctx, u.Namespace, name); err != nil {
			return nil, err
		}
		defer cfg.unlock(ctx, lock)
	}
	last, history, err := cfg.latest(ctx, u.Namespace, name)
	if err != nil {
		return nil, err
	}
	if last.Info.Status.IsPending() {
		return nil, fmt.Errorf("release %q: %w", name, errPending)
	}
	if last.Info.Status == release.StatusUninstalled {
		return nil, fmt.Errorf("release %q has been uninstalled; install it again with --replace or upgrade --install", name)
	}
	current := last
	if last.Info.Status != release.StatusDeployed {
		if d := storage.LastDeployed(history); d != nil {
			if current, err = cfg.Store.Get(ctx, u.Namespace, name, d.Revision); err != nil {
				return nil, err
			}
		}
	}
	vals, err = u.values(ch, current, vals)
	if err != nil {
		return nil, err
	}
	revision := last.Version + 1
	rendered, err := cfg.render(ctx, ch, vals, name, u.Namespace, revision, true, u.DryRun == DryRunClient, renderExtras{u.SubNotes, u.PostRenderer})
	if err != nil {
		return nil, err
	}
	rel := cfg.newRelease(name, u.Namespace, revision, ch, vals, rendered, release.StatusPendingUpgrade, "Preparing upgrade")
	rel.Info.FirstDeployed = current.Info.FirstDeployed
	objs, err := cfg.Kube.Build(rel.Manifest, u.Namespace)
	if err != nil {
		return nil, fmt.Errorf("unable to build kubernetes objects from new release manifest: %w", err)
	}
	owner := kube.Owner{ReleaseName: name, ReleaseNamespace: u.Namespace}
	if err := cfg.Kube.Apply(ctx, objs, owner, kube.ApplyOptions{DryRun: true}); err != nil {
		return nil, err
	}
	if u.DryRun != DryRunNone {
		rel.Info.Description = "Dry run complete"
		return rel, nil
	}
	if (u.InstallCRDs || u.ReplaceCRDs) && len(rendered.CRDs) > 0 {
		if err := cfg.installCRDs(ctx, rendered, u.Namespace, u.ReplaceCRDs); err != nil {
			return nil, err
		}
	}
	if err := cfg.Store.Create(ctx, rel); err != nil {
		return nil, err
	}
	err = cfg.deploy(ctx, deployment{
		rel: rel, current: current, pre: release.HookPreUpgrade, post: release.HookPostUpgrade,
		noHooks: u.NoHooks, wait: u.Wait, waitJobs: u.WaitForJobs, timeout: u.Timeout, force: u.Force,
	})
	if err != nil {
		return u.fail(ctx, rel, current, err)
	}
	finish, cancel := detached(ctx)
	defer cancel()
	if err := cfg.supersede(finish, history, revision); err != nil {
		return rel, err
	}
	rel.Info.Status, rel.Info.Description = release.StatusDeployed, "Upgrade complete"
	if u.Description != "" {
		rel.Info.Description = u.Description
	}
	if err := cfg.Store.Update(finish, rel); err != nil {
		return rel, err
	}
	return rel, cfg.pruneHistory(finish, u.Namespace, name, u.MaxHistory)
}

func (u *Upgrade) install(ctx context.Context, name string, ch *helmchart.Chart, vals map[string]any) (*release.Release, error) {
	i := NewInstall(u.cfg)
	i.ReleaseName, i.Namespace, i.CreateNamespace, i.DryRun = name, u.Namespace, u.CreateNamespace, u.DryRun
	i.Wait, i.WaitForJobs, i.Timeout, i.Atomic = u.Wait, u.WaitForJobs, u.Timeout, u.Atomic
	i.NoHooks, i.SkipCRDs, i.ReplaceCRDs, i.SubNotes, i.Description, i.PostRenderer = u.NoHooks, u.SkipCRDs, u.ReplaceCRDs, u.SubNotes, u.Description, u.PostRenderer
	return i.Run(ctx, ch, vals)
}

// values decides the values of the new revision from the user's and the current
// revision's, as Helm's --reuse-values, --reset-values and
// --reset-then-reuse-values do; with none of them, an upgrade that gives no values
// keeps the current ones.
func (u *Upgrade) values(ch *helmchart.Chart, current *release.Release, vals map[string]any) (map[string]any, error) {
	switch {
	case u.ResetValues:
		return vals, nil
	case u.ReuseValues:
		old, err := chartutil.CoalesceValues(current.Chart, current.Config)
		if err != nil {
			return nil, fmt.Errorf("failed to rebuild old values: %w", err)
		}
		// The chart's defaults are those the release was installed with.
		ch.Values = old
		return chartutil.CoalesceTables(vals, current.Config), nil
	case u.ResetThenReuseValues:
		return chartutil.CoalesceTables(vals, current.Config), nil
	case len(vals) == 0 && len(current.Config) > 0:
		return current.Config, nil
	}
	return vals, nil
}

// fail records why the upgrade failed; with CleanupOnFail it removes what the
// new revision created, with Atomic it rolls back to the last deployed revision.
func (u *Upgrade) fail(ctx context.Context, rel, current *release.Release, cause error) (*release.Release, error) {
	cfg := u.cfg
	finish, cancel := detached(ctx)
	defer cancel()
	rel.SetStatus(release.StatusFailed, fmt.Sprintf("Upgrade %q failed: %s", rel.Name, summary(cause)))
	if err := cfg.Store.Update(finish, rel); err != nil {
		return rel, fmt.Errorf("%w; recording the failure also failed: %v", cause, err)
	}
	if u.CleanupOnFail && !u.Atomic {
		if err := cfg.cleanupNew(finish, rel, current); err != nil {
			cause = fmt.Errorf("%w; cleanup on fail also failed: %v", cause, err)
		}
	}
	if !u.Atomic {
		return rel, cause
	}
	r := NewRollback(cfg)
	r.Namespace, r.Wait, r.WaitForJobs, r.Timeout, r.Force, r.MaxHistory = rel.Namespace, true, u.WaitForJobs, u.Timeout, u.Force, u.MaxHistory
	r.CleanupOnFail = u.CleanupOnFail
	r.locked = true
	if _, err := r.Run(finish, rel.Name); err != nil {
		return rel, fmt.Errorf("an error occurred while rolling back the release. original upgrade error: %w: %v", cause, err)
	}
	return rel, fmt.Errorf("release %s failed, and has been rolled back due to atomic being set: %w", rel.Name, cause)
}

// cleanupNew deletes the objects a failed revision created that the current
// revision does not have.
func (c *Config) cleanupNew(ctx context.Context, failed, current *release.Release) error {
	newObjs, err := c.Kube.Build(failed.Manifest, failed.Namespace)
	if err != nil {
		return err
	}
	oldObjs, err := c.Kube.Build(current.Manifest, current.Namespace)
	if err != nil {
		return err
	}
	return c.Kube.Drop(ctx, newObjs, oldObjs)
}

// supersede marks every deployed revision other than keep superseded.
func (c *Config) supersede(ctx context.Context, history []storage.Summary, keep int) error {
	for _, s := range history {
		if s.Revision == keep || s.Status != release.StatusDeployed {
			continue
		}
		rel, err := c.Store.Get(ctx, s.Namespace, s.Name, s.Revision)
		if err != nil {
			return err
		}
		rel.Info.Status = release.StatusSuperseded
		if err := c.Store.Update(ctx, rel); err != nil {
			return err
		}
	}
	return nil
}

// pruneHistory deletes the oldest revisions beyond max (0 keeps all), never the
// deployed one.
func (c *Config) pruneHistory(ctx context.Context, namespace, name string, max int) error {
	if max <= 0 {
		return nil
	}
	history, err := c.Store.History(ctx, namespace, name)
	if err != nil {
		return err
	}
	for i := 0; len(history)-i > max && i < len(history); i++ {
		if history[i].Status == release.StatusDeployed {
			continue
		}
		if err := c.Store.Delete(ctx, namespace, name, history[i].Revision); err != nil {
			return err
		}
	}
	return nil
}
