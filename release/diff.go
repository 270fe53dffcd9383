package release

import (
	"context"
	"fmt"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"berth.dev/berth/release/kube"
	"berth.dev/berth/release/storage"
)

// Diff shows what an upgrade would change in the live objects of release name,
// changing nothing.
func (u *Upgrade) Diff(ctx context.Context, name string, ch *helmchart.Chart, vals map[string]any) (string, error) {
	cfg := u.cfg
	last, current, err := cfg.current(ctx, u.Namespace, name)
	if err != nil {
		return "", err
	}
	if vals, err = u.values(ch, current, vals); err != nil {
		return "", err
	}
	rendered, err := cfg.render(ctx, ch, vals, name, u.Namespace, last.Version+1, true, false, renderExtras{u.SubNotes, u.PostRenderer})
	if err != nil {
		return "", err
	}
	return cfg.diff(ctx, current, rendered.Manifest, kube.DiffOptions{})
}

// DiffRollback shows what rolling release name back to revision would change in
// its live objects, changing nothing.
func (c *Config) DiffRollback(ctx context.Context, namespace, name string, revision int) (string, error) {
	_, current, err := c.current(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	target, err := c.Store.Get(ctx, namespace, name, revision)
	if err != nil {
		return "", fmt.Errorf("release has no %d version", revision)
	}
	return c.diff(ctx, current, target.Manifest, kube.DiffOptions{})
}

// DiffLive shows how the live objects of release name have drifted from the
// manifest of its current revision: what an upgrade with the same chart and
// values would put back, objects deleted from the cluster included. "" means
// no drift. Nothing is changed.
func (c *Config) DiffLive(ctx context.Context, namespace, name string) (string, error) {
	return c.DiffLiveWithOptions(ctx, namespace, name, kube.DiffOptions{})
}

// DiffLiveWithOptions is DiffLive leaving out of the comparison the fields
// opts ignores.
func (c *Config) DiffLiveWithOptions(ctx context.Context, namespace, name string, opts kube.DiffOptions) (string, error) {
	_, current, err := c.current(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	if current.Info.Status == release.StatusUninstalled {
		return "", fmt.Errorf("release %q has been uninstalled: it has no objects to compare", name)
	}
	return c.diff(ctx, current, current.Manifest, opts)
}

// current returns the newest revision of release name and the one its live
// objects should match: the newest deployed revision, or the newest one if
// none is deployed.
func (c *Config) current(ctx context.Context, namespace, name string) (last, current *release.Release, err error) {
	last, history, err := c.latest(ctx, namespace, name)
	if err != nil {
		return nil, nil, err
	}
	current = last
	if d := storage.LastDeployed(history); d != nil && d.Revision != last.Version {
		if current, err = c.Store.Get(ctx, namespace, name, d.Revision); err != nil {
			return nil, nil, err
		}
	}
	return last, current, nil
}

func (c *Config) diff(ctx context.Context, current *release.Release, manifest string, opts kube.DiffOptions) (string, error) {
	old, err := c.Kube.Build(current.Manifest, current.Namespace)
	if err != nil {
		return "", err
	}
	objs, err := c.Kube.Build(manifest, current.Namespace)
	if err != nil {
		return "", err
	}
	return c.Kube.DiffWithOptions(ctx, old, objs, kube.Owner{ReleaseName: current.Name, ReleaseNamespace: current.Namespace}, opts)
}
