package release

import (
	"context"
	"fmt"
	"slices"
	"time"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"berth.dev/berth/release/kube"
)

// Uninstall removes a release's objects and, unless KeepHistory, its records.
type Uninstall struct {
	cfg *Config

	Namespace   string
	KeepHistory bool
	DryRun      bool
	NoHooks     bool
	// Wait returns only once the objects and their dependents (the Pods of a
	// Deployment, say) are gone, or fails at Timeout.
	Wait        bool
	Timeout     time.Duration
	Description string
}

// NewUninstall returns an uninstall with Helm's defaults.
func NewUninstall(cfg *Config) *Uninstall {
	return &Uninstall{cfg: cfg, Namespace: "default", Timeout: 5 * time.Minute}
}

// UninstallResult tells what an uninstall did.
type UninstallResult struct {
	Release *release.Release
	// Kept lists the objects left in place by helm.sh/resource-policy: keep.
	Kept []string
}

// Run uninstalls release name.
func (u *Uninstall) Run(ctx context.Context, name string) (*UninstallResult, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	cfg := u.cfg
	if u.DryRun {
		rel, _, err := cfg.latest(ctx, u.Namespace, name)
		return &UninstallResult{Release: rel}, err
	}
	lock, err := cfg.lockRelease(ctx, u.Namespace, name)
	if err != nil {
		return nil, err
	}
	defer cfg.unlock(ctx, lock)
	rel, history, err := cfg.latest(ctx, u.Namespace, name)
	if err != nil {
		return nil, err
	}
	if rel.Info.Status == release.StatusUninstalled {
		if !u.KeepHistory {
			return &UninstallResult{Release: rel}, cfg.purge(ctx, u.Namespace, name)
		}
		return nil, fmt.Errorf("the release named %q is already deleted", name)
	}
	rel.SetStatus(release.StatusUninstalling, "Deletion in progress (or silently failed)")
	rel.Info.Deleted.Time = cfg.Now()
	if err := cfg.Store.Update(ctx, rel); err != nil {
		return nil, err
	}
	result := &UninstallResult{Release: rel}
	if err := u.remove(ctx, rel, result); err != nil {
		finish, cancel := detached(ctx)
		defer cancel()
		rel.SetStatus(release.StatusFailed, fmt.Sprintf("Uninstallation failed: %s", summary(err)))
		cfg.Store.Update(finish, rel)
		return result, err
	}
	finish, cancel := detached(ctx)
	defer cancel()
	if !u.KeepHistory {
		return result, cfg.purge(finish, u.Namespace, name)
	}
	rel.Info.Status, rel.Info.Description = release.StatusUninstalled, "Uninstallation complete"
	if u.Description != "" {
		rel.Info.Description = u.Description
	}
	// No revision of a release that is gone may claim to be deployed.
	if err := cfg.supersede(finish, history, rel.Version); err != nil {
		return result, err
	}
	return result, cfg.Store.Update(finish, rel)
}

func (u *Uninstall) remove(ctx context.Context, rel *release.Release, result *UninstallResult) error {
	cfg := u.cfg
	if !u.NoHooks {
		if err := cfg.Kube.RunHooks(ctx, rel.Hooks, release.HookPreDelete, rel.Namespace, u.Timeout); err != nil {
			return fmt.Errorf("pre-delete hooks failed: %w", err)
		}
	}
	objs, err := cfg.Kube.Build(rel.Manifest, rel.Namespace)
	if err != nil {
		return fmt.Errorf("unable to build kubernetes objects for delete: %w", err)
	}
	var opts []kube.DeleteOption
	if u.Wait {
		// Each object then goes only after its dependents (a Deployment's
		// ReplicaSets and their Pods): waiting for the objects waits for
		// everything the release ran.
		opts = append(opts, kube.Cascade(metav1.DeletePropagationForeground))
	}
	kept, err := cfg.Kube.Delete(ctx, objs, opts...)
	for _, k := range kept {
		result.Kept = append(result.Kept, fmt.Sprintf("[%s] %s", k.GetKind(), k.GetName()))
	}
	if err != nil {
		return err
	}
	if u.Wait {
		if err := cfg.Kube.WaitForDelete(ctx, without(objs, kept), u.Timeout); err != nil {
			return err
		}
	}
	if !u.NoHooks {
		if err := cfg.Kube.RunHooks(ctx, rel.Hooks, release.HookPostDelete, rel.Namespace, u.Timeout); err != nil {
			return fmt.Errorf("post-delete hooks failed: %w", err)
		}
	}
	return nil
}

// without returns objs but those in kept.
func without(objs, kept []kube.Object) []kube.Object {
	var out []kube.Object
	for _, o := range objs {
		if !slices.ContainsFunc(kept, func(k kube.Object) bool {
			return k.GetKind() == o.GetKind() && k.GetNamespace() == o.GetNamespace() && k.GetName() == o.GetName()
		}) {
			out = append(out, o)
		}
	}
	return out
}

// purge deletes every record of a release.
func (c *Config) purge(ctx context.Context, namespace, name string) error {
	history, err := c.Store.History(ctx, namespace, name)
	if err != nil {
		return err
	}
	for _, s := range history {
		if err := c.Store.Delete(ctx, namespace, name, s.Revision); err != nil {
			return err
		}
	}
	return nil
}
