package release

import (
	"context"
	"fmt"
	"strings"
	"time"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"

	"berth.dev/berth/chart"
	"berth.dev/berth/release/kube"
	"berth.dev/berth/release/storage"
)

// finishTimeout bounds the bookkeeping after an operation ends, even one whose
// context was cancelled (Ctrl-C): its revision is marked and its lock released.
const finishTimeout = 30 * time.Second

// detached returns a context for that bookkeeping.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
}

// lockRelease takes a release's lock. Once it is held, a pending revision can
// only have been left by an operation that died: it is marked failed.
func (c *Config) lockRelease(ctx context.Context, namespace, name string) (*storage.Lock, error) {
	if err := c.ensureStorage(ctx); err != nil {
		return nil, err
	}
	lock, err := c.Locker.Acquire(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	history, err := c.Store.History(ctx, namespace, name)
	if err != nil {
		return lock, nil // a new release: nothing was abandoned
	}
	last := history[len(history)-1]
	if !last.Status.IsPending() {
		return lock, nil
	}
	rel, err := c.Store.Get(ctx, namespace, name, last.Revision)
	if err != nil {
		c.unlock(ctx, lock)
		return nil, err
	}
	who := "an earlier operation"
	if lock.Abandoned != "" {
		who = "the operation of " + lock.Abandoned
	}
	rel.SetStatus(release.StatusFailed, fmt.Sprintf("%s was abandoned (%s): its lock expired", who, last.Status))
	if err := c.Store.Update(ctx, rel); err != nil {
		c.unlock(ctx, lock)
		return nil, err
	}
	c.Log.Info("marked an abandoned revision failed", "release", name, "revision", last.Revision)
	return lock, nil
}

// summary is the first line of err, for a revision's one-line description:
// a failed wait's error goes on with the failing pods' events and logs.
func summary(err error) string {
	first, _, _ := strings.Cut(err.Error(), "\n")
	return first
}

func (c *Config) unlock(ctx context.Context, lock *storage.Lock) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := lock.Release(ctx); err != nil {
		c.Log.Warn("releasing lock", "err", err)
	}
}

// deployment is what install, upgrade and rollback share: a new revision's
// objects replacing the current revision's, with hooks around them.
type deployment struct {
	rel       *release.Release
	current   *release.Release // nil on install
	pre, post release.HookEvent
	noHooks   bool
	wait      bool
	waitJobs  bool
	timeout   time.Duration
	force     bool
}

// deploy applies the new revision: pre hooks, objects, dropping what the current
// revision had and the new one has not, waiting, post hooks.
func (c *Config) deploy(ctx context.Context, d deployment) error {
	if !d.noHooks {
		if err := c.Kube.RunHooks(ctx, d.rel.Hooks, d.pre, d.rel.Namespace, d.timeout); err != nil {
			return fmt.Errorf("%s hooks failed: %w", d.pre, err)
		}
	}
	objs, err := c.Kube.Build(d.rel.Manifest, d.rel.Namespace)
	if err != nil {
		return fmt.Errorf("unable to build kubernetes objects from release manifest: %w", err)
	}
	owner := kube.Owner{ReleaseName: d.rel.Name, ReleaseNamespace: d.rel.Namespace}
	if err := c.Kube.Apply(ctx, objs, owner, kube.ApplyOptions{Force: d.force}); err != nil {
		return err
	}
	if d.current != nil {
		old, err := c.Kube.Build(d.current.Manifest, d.current.Namespace)
		if err != nil {
			return fmt.Errorf("unable to build kubernetes objects from the current release manifest: %w", err)
		}
		if err := c.Kube.Drop(ctx, old, objs); err != nil {
			return err
		}
	}
	if d.wait {
		waitCtx, cancel := context.WithTimeout(ctx, d.timeout)
		defer cancel()
		if err := c.Kube.Wait(waitCtx, objs, kube.WaitOptions{Timeout: d.timeout, WaitForJobs: d.waitJobs}, c.progress); err != nil {
			return err
		}
	}
	if !d.noHooks {
		if err := c.Kube.RunHooks(ctx, d.rel.Hooks, d.post, d.rel.Namespace, d.timeout); err != nil {
			return fmt.Errorf("%s hooks failed: %w", d.post, err)
		}
	}
	return nil
}

// render renders a chart for a revision with the cluster's capabilities.
func (c *Config) render(ctx context.Context, ch *helmchart.Chart, vals map[string]any, name, namespace string, revision int, upgrade, clientOnly bool, pr renderExtras) (*chart.Rendered, error) {
	opts := chart.RenderOptions{
		ReleaseName:  name,
		Namespace:    namespace,
		Revision:     revision,
		IsInstall:    !upgrade,
		IsUpgrade:    upgrade,
		ClientOnly:   clientOnly,
		RESTConfig:   c.REST,
		SubNotes:     pr.subNotes,
		PostRenderer: pr.postRenderer,
	}
	if !clientOnly {
		kv, apis, err := c.capabilities()
		if err != nil {
			return nil, err
		}
		opts.KubeVersion, opts.APIVersions = kv, apis
	}
	return chart.Render(ctx, ch, vals, opts)
}

// capabilities reads the server's version and API versions, for .Capabilities.
func (c *Config) capabilities() (*chartutil.KubeVersion, chartutil.VersionSet, error) {
	disco := c.Client.Discovery()
	info, err := disco.ServerVersion()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the Kubernetes version of the cluster: %w", err)
	}
	_, lists, err := disco.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, nil, fmt.Errorf("reading the APIs of the cluster: %w", err)
	}
	var set chartutil.VersionSet
	for _, l := range lists {
		set = append(set, l.GroupVersion)
		for _, r := range l.APIResources {
			set = append(set, l.GroupVersion+"/"+r.Kind)
		}
	}
	return &chartutil.KubeVersion{Version: info.GitVersion, Major: info.Major, Minor: info.Minor}, set, nil
}

// newRelease is a revision about to be deployed.
func (c *Config) newRelease(name, namespace string, revision int, ch *helmchart.Chart, config map[string]any, r *chart.Rendered, status release.Status, description string) *release.Release {
	now := helmtime.Time{Time: c.Now()}
	rel := &release.Release{
		Name:      name,
		Namespace: namespace,
		Version:   revision,
		Chart:     ch,
		Config:    config,
		Info:      &release.Info{FirstDeployed: now, LastDeployed: now, Status: status, Description: description},
	}
	if r != nil {
		rel.Manifest, rel.Hooks, rel.Info.Notes = r.Manifest, r.Hooks, r.Notes
	}
	return rel
}

// renderExtras are the rendering options of the command line.
type renderExtras struct {
	subNotes     bool
	postRenderer postrender.PostRenderer
}
