package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/postrender"

	"berth.dev/berth/chart"
	"berth.dev/berth/release"
)

func releaseCommands(cluster *clusterFlags) []*cobra.Command {
	return []*cobra.Command{
		newInstallCommand(cluster),
		newUpgradeCommand(cluster),
		newRollbackCommand(cluster),
		newUninstallCommand(cluster),
		newListCommand(cluster),
		newHistoryCommand(cluster),
		newStatusCommand(cluster),
		newGetCommand(cluster),
		newTestCommand(cluster),
		newDiffCommand(cluster),
	}
}

// actionConfig connects release actions to the cluster, with progress shown on
// standard error while they wait.
func actionConfig(cluster *clusterFlags, stderr io.Writer) (*release.Config, error) {
	rc, err := cluster.restConfig()
	if err != nil {
		return nil, err
	}
	cfg, err := release.NewConfig(rc)
	if err != nil {
		return nil, err
	}
	cfg.Progress = newProgress(stderr).show
	return cfg, nil
}

// deployFlags are what install and upgrade share: the chart, its values, how to
// deploy it.
type deployFlags struct {
	values          chart.ValueOptions
	version         string
	devel           bool
	dryRun          string
	wait            bool
	waitForJobs     bool
	timeout         time.Duration
	atomic          bool
	noHooks         bool
	skipCRDs        bool
	createNamespace bool
	description     string
	dependencyUp    bool
	postRenderer    string
	postRendererArg []string
	output          outputFlag
	registry        chart.RegistryOptions
	verify          bool
	keyring         string
}

func (d *deployFlags) addFlags(fs *pflag.FlagSet) {
	d.values.AddFlags(fs)
	fs.StringVar(&d.version, "version", "", "specify a version constraint for the chart version to use (default: the latest)")
	fs.BoolVar(&d.devel, "devel", false, "use development versions, too; equivalent to version '>0.0.0-0'")
	fs.StringVar(&d.dryRun, "dry-run", "", `simulate: "client" renders only, "server" also has the API server admit every object`)
	fs.Lookup("dry-run").NoOptDefVal = "client"
	fs.BoolVar(&d.wait, "wait", false, "wait until all Pods, PVCs, Services and Deployments, StatefulSets or ReplicaSets are ready, showing progress")
	fs.BoolVar(&d.waitForJobs, "wait-for-jobs", false, "with --wait, also wait until all Jobs have completed")
	fs.DurationVar(&d.timeout, "timeout", 5*time.Minute, "time to wait for any individual Kubernetes operation (like Jobs for hooks)")
	fs.BoolVar(&d.atomic, "atomic", false, "on failure, roll back (or uninstall a first install); implies --wait")
	fs.BoolVar(&d.noHooks, "no-hooks", false, "prevent hooks from running")
	fs.BoolVar(&d.skipCRDs, "skip-crds", false, "do not install the CRDs of the chart's crds/ directory")
	fs.BoolVar(&d.createNamespace, "create-namespace", false, "create the release namespace if not present")
	fs.StringVar(&d.description, "description", "", "add a custom description")
	fs.BoolVar(&d.dependencyUp, "dependency-update", false, "update dependencies if they are missing before installing the chart")
	fs.StringVar(&d.postRenderer, "post-renderer", "", "the path to an executable to be used for post rendering")
	fs.StringArrayVar(&d.postRendererArg, "post-renderer-args", nil, "an argument to the post-renderer (can specify multiple)")
	fs.BoolVar(&d.verify, "verify", false, "verify the package before using it")
	fs.StringVar(&d.keyring, "keyring", chart.DefaultKeyring(), "location of public keys used for verification")
	d.output.addFlags(fs)
	d.registry.AddFlags(fs)
}

func (d *deployFlags) dryRunMode() (release.DryRun, error) {
	switch d.dryRun {
	case "", "false", "none":
		return release.DryRunNone, nil
	case "client", "true":
		return release.DryRunClient, nil
	case "server":
		return release.DryRunServer, nil
	}
	return "", fmt.Errorf(`invalid --dry-run %q: use "client", "server" or "none"`, d.dryRun)
}

func (d *deployFlags) load(ctx context.Context, ref string, stderr io.Writer) (*helmchart.Chart, map[string]any, postrender.PostRenderer, error) {
	vals, err := d.values.Merge()
	if err != nil {
		return nil, nil, nil, err
	}
	ch, err := chart.Load(ctx, ref, chart.LoadOptions{
		Version: d.version, Devel: d.devel, DependencyUpdate: d.dependencyUp, Registry: d.registry, Out: stderr,
		Verify: d.verify, Keyring: d.keyring,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	var pr postrender.PostRenderer
	if d.postRenderer != "" {
		if pr, err = postrender.NewExec(d.postRenderer, d.postRendererArg...); err != nil {
			return nil, nil, nil, err
		}
	}
	return ch, vals, pr, nil
}

func newInstallCommand(cluster *clusterFlags) *cobra.Command {
	var d deployFlags
	var generateName, replace bool
	cmd := &cobra.Command{
		Use:   "install [NAME] [CHART]",
		Short: "install a chart",
		Long: `Install a chart as a release: a chart directory, a packaged .tgz, or REPO/CHART
from a repository added with 'berth repo add'.

If --verify is set, the chart MUST have a provenance file, and the provenance
file MUST pass all verification steps.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ref, err := nameAndChart(args, generateName)
			if err != nil {
				return err
			}
			mode, err := d.dryRunMode()
			if err != nil {
				return err
			}
			ch, vals, pr, err := d.load(cmd.Context(), ref, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if generateName {
				// Helm's generated names: the chart's name and the time.
				name = fmt.Sprintf("%s-%d", ch.Name(), time.Now().Unix())
			}
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			i := release.NewInstall(cfg)
			i.ReleaseName, i.Namespace, i.CreateNamespace, i.DryRun, i.Replace = name, cluster.ns(), d.createNamespace, mode, replace
			i.Wait, i.WaitForJobs, i.Timeout, i.Atomic = d.wait, d.waitForJobs, d.timeout, d.atomic
			i.NoHooks, i.SkipCRDs, i.Description, i.PostRenderer = d.noHooks, d.skipCRDs, d.description, pr
			rel, err := i.Run(cmd.Context(), ch, vals)
			if err != nil {
				return fmt.Errorf("INSTALLATION FAILED: %w", err)
			}
			return d.output.format.Write(cmd.OutOrStdout(), statusWriter{rel: rel})
		},
	}
	f := cmd.Flags()
	d.addFlags(f)
	f.BoolVarP(&generateName, "generate-name", "g", false, "generate the name (and omit the NAME parameter)")
	f.BoolVar(&replace, "replace", false, "re-use the given name, only if that name is a deleted release which remains in the history")
	return cmd
}

// nameAndChart splits install's arguments: NAME CHART, or CHART alone with
// --generate-name.
func nameAndChart(args []string, generate bool) (string, string, error) {
	switch {
	case generate && len(args) == 1:
		return "", args[0], nil
	case generate:
		return "", "", fmt.Errorf("cannot give a release name with --generate-name: got %q", args[0])
	case len(args) == 2:
		return args[0], args[1], nil
	}
	return "", "", fmt.Errorf("must either provide a name or specify --generate-name")
}

func newUpgradeCommand(cluster *clusterFlags) *cobra.Command {
	var d deployFlags
	var install, force, cleanupOnFail, reuse, reset, resetThenReuse bool
	var maxHistory int
	cmd := &cobra.Command{
		Use:   "upgrade [RELEASE] [CHART]",
		Short: "upgrade a release",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := d.dryRunMode()
			if err != nil {
				return err
			}
			ch, vals, pr, err := d.load(cmd.Context(), args[1], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			u := release.NewUpgrade(cfg)
			u.Namespace, u.Install, u.CreateNamespace, u.DryRun = cluster.ns(), install, d.createNamespace, mode
			u.Wait, u.WaitForJobs, u.Timeout, u.Atomic, u.CleanupOnFail, u.Force = d.wait, d.waitForJobs, d.timeout, d.atomic, cleanupOnFail, force
			u.NoHooks, u.SkipCRDs, u.Description, u.PostRenderer, u.MaxHistory = d.noHooks, d.skipCRDs, d.description, pr, maxHistory
			u.ReuseValues, u.ResetValues, u.ResetThenReuseValues = reuse, reset, resetThenReuse
			rel, err := u.Run(cmd.Context(), args[0], ch, vals)
			if err != nil {
				return fmt.Errorf("UPGRADE FAILED: %w", err)
			}
			if d.output.format.String() == "table" {
				fmt.Fprintf(cmd.OutOrStdout(), "Release %q has been upgraded. Happy Helming!\n", rel.Name)
			}
			return d.output.format.Write(cmd.OutOrStdout(), statusWriter{rel: rel})
		},
	}
	f := cmd.Flags()
	d.addFlags(f)
	f.BoolVarP(&install, "install", "i", false, "if a release by this name doesn't already exist, run an install")
	f.BoolVar(&force, "force", false, "force resource updates through a replacement strategy")
	f.BoolVar(&cleanupOnFail, "cleanup-on-fail", false, "allow deletion of new resources created in this upgrade when upgrade fails")
	f.BoolVar(&reuse, "reuse-values", false, "when upgrading, reuse the last release's values and merge in any overrides from the command line")
	f.BoolVar(&reset, "reset-values", false, "when upgrading, reset the values to the ones built into the chart")
	f.BoolVar(&resetThenReuse, "reset-then-reuse-values", false, "when upgrading, reset the values to the ones built into the chart, apply the last release's values and merge in any overrides from the command line")
	f.IntVar(&maxHistory, "history-max", 10, "limit the maximum number of revisions saved per release. Use 0 for no limit")
	return cmd
}
