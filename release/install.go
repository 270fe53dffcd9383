package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/chart"
	"berth.dev/berth/release/kube"
	"berth.dev/berth/release/storage"
)

// DryRun says how far a dry run goes: not at all, rendering only (client), or
// also asking the API server to validate and admit every object (server).
type DryRun string

const (
	DryRunNone   DryRun = ""
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// Install installs a chart as a new release.
type Install struct {
	cfg *Config

	ReleaseName     string
	Namespace       string
	CreateNamespace bool
	DryRun          DryRun
	// Replace re-uses the name of a release that was uninstalled with its
	// history kept, or that failed.
	Replace     bool
	Wait        bool
	WaitForJobs bool
	Timeout     time.Duration
	Atomic      bool
	NoHooks     bool
	SkipCRDs    bool
	// ReplaceCRDs updates the chart's CRDs that exist already; Helm leaves
	// them alone.
	ReplaceCRDs  bool
	SubNotes     bool
	Description  string
	PostRenderer postrender.PostRenderer
}

// NewInstall returns an install with Helm's defaults.
func NewInstall(cfg *Config) *Install {
	return &Install{cfg: cfg, Namespace: "default", Timeout: 5 * time.Minute}
}

// Run installs ch with the user's values.
func (i *Install) Run(ctx context.Context, ch *helmchart.Chart, vals map[string]any) (*release.Release, error) {
	if err := validateName(i.ReleaseName); err != nil {
		return nil, err
	}
	if err := checkDependencies(ch); err != nil {
		return nil, err
	}
	if i.DryRun != DryRunNone {
		return i.dryRun(ctx, ch, vals)
	}
	if i.Atomic {
		i.Wait = true
	}
	cfg := i.cfg
	// The lock lives in the release's namespace.
	if i.CreateNamespace {
		if err := i.createNamespace(ctx); err != nil {
			return nil, err
		}
	}
	lock, err := cfg.lockRelease(ctx, i.Namespace, i.ReleaseName)
	if err != nil {
		return nil, err
	}
	defer cfg.unlock(ctx, lock)

	revision, err := i.nextRevision(ctx)
	if err != nil {
		return nil, err
	}
	rendered, err := cfg.render(ctx, ch, vals, i.ReleaseName, i.Namespace, revision, false, false, renderExtras{i.SubNotes, i.PostRenderer})
	if err != nil {
		return nil, err
	}
	objs, err := cfg.Kube.Build(rendered.Manifest, i.Namespace)
	if err != nil {
		return nil, fmt.Errorf("unable to build kubernetes objects from release manifest: %w", err)
	}
	// Refuse objects that belong to someone else before anything changes.
	owner := kube.Owner{ReleaseName: i.ReleaseName, ReleaseNamespace: i.Namespace}
	if err := cfg.Kube.Apply(ctx, objs, owner, kube.ApplyOptions{DryRun: true}); err != nil {
		return nil, err
	}
	if !i.SkipCRDs && len(rendered.CRDs) > 0 {
		if err := cfg.installCRDs(ctx, rendered, i.Namespace, i.ReplaceCRDs); err != nil {
			return nil, err
		}
	}

	rel := cfg.newRelease(i.ReleaseName, i.Namespace, revision, ch, vals, rendered, release.StatusPendingInstall, "Initial install underway")
	if err := cfg.Store.Create(ctx, rel); err != nil {
		return nil, err
	}
	err = cfg.deploy(ctx, deployment{
		rel: rel, pre: release.HookPreInstall, post: release.HookPostInstall,
		noHooks: i.NoHooks, wait: i.Wait, waitJobs: i.WaitForJobs, timeout: i.Timeout,
	})
	if err != nil {
		return i.fail(ctx, rel, err)
	}
	rel.Info.Status = release.StatusDeployed
	rel.Info.Description = "Install complete"
	if i.Description != "" {
		rel.Info.Description = i.Description
	}
	finish, cancel := detached(ctx)
	defer cancel()
	if err := cfg.Store.Update(finish, rel); err != nil {
		return rel, err
	}
	return rel, nil
}

// nextRevision is 1 for a new name and, with Replace, one past a release that
// is no longer deployed.
func (i *Install) nextRevision(ctx context.Context) (int, error) {
	history, err := i.cfg.Store.History(ctx, i.Namespace, i.ReleaseName)
	if errors.Is(err, storage.ErrNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	last := history[len(history)-1]
	if i.Replace && (last.Status == release.StatusUninstalled || last.Status == release.StatusFailed) {
		return last.Revision + 1, nil
	}
	return 0, fmt.Errorf("cannot re-use a name that is still in use")
}

func (i *Install) createNamespace(ctx context.Context) error {
	return EnsureNamespace(ctx, i.cfg.Client, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: i.Namespace, Labels: map[string]string{"name": i.Namespace}}})
}

// installCRDs installs the CRDs of a chart's crds/ directory; replace
// updates those that exist.
func (c *Config) installCRDs(ctx context.Context, rendered *chart.Rendered, namespace string, replace bool) error {
	var crds []kube.Object
	for _, crd := range rendered.CRDs {
		objs, err := c.Kube.Build(string(crd.File.Data), namespace)
		if err != nil {
			return fmt.Errorf("failed to install CRD %s: %w", crd.Filename, err)
		}
		crds = append(crds, objs...)
	}
	return c.Kube.InstallCRDs(ctx, crds, replace)
}

// fail records why the install failed and, with Atomic, removes what it made.
func (i *Install) fail(ctx context.Context, rel *release.Release, cause error) (*release.Release, error) {
	cfg := i.cfg
	finish, cancel := detached(ctx)
	defer cancel()
	rel.SetStatus(release.StatusFailed, fmt.Sprintf("Release %q failed: %s", rel.Name, summary(cause)))
	if i.Atomic {
		objs, err := cfg.Kube.Build(rel.Manifest, rel.Namespace)
		if err == nil {
			_, err = cfg.Kube.Delete(finish, objs)
		}
		if err != nil {
			cause = fmt.Errorf("%w; uninstalling after the failure also failed: %v", cause, err)
		} else {
			rel.Info.Description += " (uninstalled: --atomic was set)"
			cause = fmt.Errorf("release %s failed, and has been uninstalled due to atomic being set: %w", rel.Name, cause)
		}
	}
	if err := cfg.Store.Update(finish, rel); err != nil {
		cause = fmt.Errorf("%w; recording the failure also failed: %v", cause, err)
	}
	return rel, cause
}

// dryRun renders (and, for a server dry run, has the API server admit) the
// release without changing anything.
func (i *Install) dryRun(ctx context.Context, ch *helmchart.Chart, vals map[string]any) (*release.Release, error) {
	cfg := i.cfg
	rendered, err := cfg.render(ctx, ch, vals, i.ReleaseName, i.Namespace, 1, false, i.DryRun == DryRunClient, renderExtras{i.SubNotes, i.PostRenderer})
	if err != nil {
		return nil, err
	}
	if i.DryRun == DryRunServer {
		objs, err := cfg.Kube.Build(rendered.Manifest, i.Namespace)
		if err != nil {
			return nil, fmt.Errorf("unable to build kubernetes objects from release manifest: %w", err)
		}
		owner := kube.Owner{ReleaseName: i.ReleaseName, ReleaseNamespace: i.Namespace}
		if err := cfg.Kube.Apply(ctx, objs, owner, kube.ApplyOptions{DryRun: true}); err != nil {
			return nil, err
		}
	}
	return cfg.newRelease(i.ReleaseName, i.Namespace, 1, ch, vals, rendered, release.StatusPendingInstall, "Dry run complete"), nil
}

// checkDependencies refuses a chart whose declared dependencies are missing from
// charts/, as Helm does.
func checkDependencies(ch *helmchart.Chart) error {
	if ch.Metadata == nil {
		return errors.New("chart has no metadata (Chart.yaml)")
	}
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	var missing []string
	for _, d := range ch.Metadata.Dependencies {
		if !have[d.Name] {
			missing = append(missing, d.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("found in Chart.yaml, but missing in charts/ directory: %v", missing)
	}
	return nil
}
