package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"berth.dev/berth/chart"
	"berth.dev/berth/release"
	"berth.dev/berth/release/gitops"
	"berth.dev/berth/release/gitops/checkout"
)

// syncFailedExitCode is what berth sync exits with when a Release is not
// Ready afterwards, as opposed to 1 when the sync itself could not run.
const syncFailedExitCode exitCode = 2

func newSyncCommand(cluster *clusterFlags) *cobra.Command {
	var (
		repo, path, source string
		ref                checkout.Ref
		opts               gitops.SyncOptions
		registry           chart.RegistryOptions
	)
	cmd := &cobra.Command{
		Use:   "sync --repo URL|DIR [--path P]",
		Short: "Apply the Releases a Git repository declares and reconcile them once",
		Long: `Read the Release and Namespace manifests under --path of a Git repository (a
URL: file://, https://, ssh://; or a local directory), apply them to the cluster,
and reconcile each Release once, in dependency order, as berth server's GitOps
controller does: install, upgrade when its chart or values changed, nothing when
they did not (no revision is written), drift detection as the Release asks.
With --prune, Releases applied by an earlier sync of the same source that the
repository no longer declares are uninstalled and deleted.

It prints a line per Release and exits 2 if any is not Ready afterwards (1 if
the sync could not run at all), for pipelines. --dry-run checks everything and
prints what would change, changing nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if repo == "" {
				return fmt.Errorf("--repo is required: a Git URL or a local directory")
			}
			ctx := cmd.Context()
			root, commit, err := syncCheckout(cmd, repo, ref)
			if err != nil {
				return err
			}
			m, err := gitops.ReadManifests(root, path, cluster.ns())
			if err != nil {
				return fmt.Errorf("reading the manifests under %q of %s: %w", path, repo, err)
			}
			cfg, err := actionConfig(cluster, io.Discard)
			if err != nil {
				return err
			}
			dyn, err := dynamic.NewForConfig(cfg.REST)
			if err != nil {
				return err
			}
			crds, err := apiextensionsclient.NewForConfig(cfg.REST)
			if err != nil {
				return err
			}
			if !opts.DryRun {
				if err := gitops.EnsureCRDs(ctx, crds); err != nil {
					return err
				}
			}
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			if source == "" {
				source = defaultSourceID(repo, path)
			}
			s := &gitops.Syncer{
				Reconciler: &gitops.Reconciler{Release: cfg, Client: cfg.Client, Settings: settings, Registry: registry},
				Store:      gitops.NewStore(dyn, "berth-sync"),
				Client:     cfg.Client,
				SourceID:   source,
			}
			results, err := s.Sync(ctx, m, gitops.Source{Root: root, Commit: commit}, opts)
			failed := writeSyncReport(cmd.OutOrStdout(), results)
			if err != nil {
				return err
			}
			if failed > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Error: %d of %d Releases are not ready\n", failed, len(results))
				return syncFailedExitCode
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&repo, "repo", "", "the Git repository: a URL (file://, https://, ssh://) or a local directory")
	f.StringVar(&path, "path", "", "the directory of the repository whose manifests are applied (default: its root)")
	f.StringVar(&ref.Branch, "branch", "", "the branch to check out (default: the repository's default branch)")
	f.StringVar(&ref.Tag, "tag", "", "the tag to check out")
	f.StringVar(&ref.Commit, "commit", "", "the commit to check out")
	f.StringVar(&source, "source", "", "the name the applied Releases are labelled with, for --prune (default: derived from --repo and --path)")
	f.BoolVar(&opts.Prune, "prune", false, "uninstall and delete the Releases of this source that the repository no longer declares")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what would change, changing nothing")
	registry.AddFlags(f)
	cmd.MarkFlagsMutuallyExclusive("branch", "tag", "commit")
	return cmd
}

// newGitOpsController builds berth server's GitOps controller.
func newGitOpsController(d *controllerDeps) (runner, error) {
	cfg, err := release.NewConfig(d.loopback)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(d.loopback)
	if err != nil {
		return nil, err
	}
	settings, err := chart.NewSettings()
	if err != nil {
		return nil, err
	}
	c, err := gitops.NewController(gitops.ControllerConfig{
		Reconciler: &gitops.Reconciler{Release: cfg, Client: d.client, Settings: settings},
		Dynamic:    dyn,
		CacheDir:   d.gitopsDir,
		Workers:    4,
	})
	if err != nil {
		return nil, err
	}
	return runnerFunc(func(ctx context.Context) {
		if err := c.Run(ctx); err != nil {
			slog.Error("GitOps controller stopped", "err", err)
		}
	}), nil
}

// syncCheckout returns the root of the repository to read: a local
// directory as it is, a URL fetched into berth's cache.
func syncCheckout(cmd *cobra.Command, repo string, ref checkout.Ref) (root, commit string, err error) {
	if fi, statErr := os.Stat(repo); statErr == nil && fi.IsDir() && ref == (checkout.Ref{}) {
		root, err = filepath.Abs(repo)
		if err != nil {
			return "", "", err
		}
		// A working copy's commit, if it is one, names the revisions.
		if res, err := checkout.Head(root); err == nil {
			commit = res
		}
		return root, commit, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", "", fmt.Errorf("locating the cache for Git checkouts: %w", err)
	}
	sum := sha256.Sum256([]byte(repo))
	res, err := checkout.Fetch(cmd.Context(), checkout.Options{URL: repo, Ref: ref, Dir: filepath.Join(cache, "berth", "git", hex.EncodeToString(sum[:8]))})
	if err != nil {
		return "", "", err
	}
	return res.Dir, res.Commit, nil
}

// defaultSourceID names a repository and path as a label value.
func defaultSourceID(repo, path string) string {
	sum := sha256.Sum256([]byte(repo + "#" + path))
	return "sync-" + hex.EncodeToString(sum[:8])
}

// writeSyncReport prints a line per Release, then the whole message of each
// that is not Ready or drifted, and returns how many are not Ready.
func writeSyncReport(out io.Writer, results []gitops.SyncResult) int {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tACTION\tREVISION\tMESSAGE")
	failed := 0
	var details []string
	for _, r := range results {
		first, rest, more := strings.Cut(r.Outcome.Message, "\n")
		rev := "-"
		if r.Outcome.Revision > 0 {
			rev = fmt.Sprint(r.Outcome.Revision)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.Name, r.Outcome.Action, rev, first)
		if r.Failed() {
			failed++
		}
		if more {
			details = append(details, fmt.Sprintf("%s/%s:\n%s", r.Namespace, r.Name, rest))
		}
	}
	tw.Flush()
	for _, d := range details {
		fmt.Fprintf(out, "\n%s\n", strings.TrimRight(d, "\n"))
	}
	return failed
}

func newReconcileCommand(cluster *clusterFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile source|release NAME",
		Short: "Ask berth server's GitOps controller to reconcile a GitSource or a Release now",
		Long: `Ask berth server's GitOps controller to act on a GitSource (fetch it and apply
what its commit declares) or a Release (reconcile it, retrying one whose retries
are spent) now rather than at its interval, and wait until it has, printing its
Ready condition. Exits 2 if it is not Ready.`,
	}
	var timeout time.Duration
	for _, kind := range []struct {
		use      string
		resource schema.GroupVersionResource
	}{{"source", gitops.GitSourcesResource()}, {"release", gitops.ReleasesResource()}} {
		sub := &cobra.Command{
			Use:   kind.use + " NAME",
			Short: "reconcile the " + kind.use + " NAME now",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				config, err := cluster.restConfig()
				if err != nil {
					return err
				}
				dyn, err := dynamic.NewForConfig(config)
				if err != nil {
					return err
				}
				ready, msg, err := gitops.RequestReconcile(cmd.Context(), dyn.Resource(kind.resource).Namespace(cluster.ns()), args[0], timeout)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), msg)
				if !ready {
					return syncFailedExitCode
				}
				return nil
			},
		}
		sub.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the controller")
		cmd.AddCommand(sub)
	}
	return cmd
}
