package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"berth.dev/berth/release"
)

// diffChangedExitCode is what diff exits with, given --detailed-exitcode, when
// there are changes: helm-diff's contract, which lets a pipeline tell "changes"
// from "failed" (1) and "no changes" (0).
const diffChangedExitCode exitCode = 2

func newDiffCommand(cluster *clusterFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "show what an upgrade or a rollback would change in the live objects, or how they drifted",
		Args:  cobra.NoArgs,
	}
	var detailedExitCode bool
	cmd.PersistentFlags().BoolVar(&detailedExitCode, "detailed-exitcode", false, "exit with 2 when there are changes, 0 when there are none, 1 on errors")
	// printDiff writes a diff and, with --detailed-exitcode, returns the exit
	// code that says there was one.
	printDiff := func(cmd *cobra.Command, diff string) error {
		if _, err := fmt.Fprint(cmd.OutOrStdout(), diff); err != nil {
			return err
		}
		if detailedExitCode && diff != "" {
			return diffChangedExitCode
		}
		return nil
	}

	var d deployFlags
	var reuse, reset, resetThenReuse bool
	upgrade := &cobra.Command{
		Use:   "upgrade RELEASE CHART",
		Short: "show what upgrading RELEASE to CHART would change",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ch, vals, pr, err := d.load(cmd.Context(), args[1], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			u := release.NewUpgrade(cfg)
			u.Namespace, u.PostRenderer = cluster.ns(), pr
			u.ReuseValues, u.ResetValues, u.ResetThenReuseValues = reuse, reset, resetThenReuse
			out, err := u.Diff(cmd.Context(), args[0], ch, vals)
			if err != nil {
				return err
			}
			return printDiff(cmd, out)
		},
	}
	d.values.AddFlags(upgrade.Flags())
	upgrade.Flags().StringVar(&d.version, "version", "", "specify a version constraint for the chart version to use")
	upgrade.Flags().BoolVar(&reuse, "reuse-values", false, "reuse the last release's values and merge in any overrides from the command line")
	upgrade.Flags().BoolVar(&reset, "reset-values", false, "reset the values to the ones built into the chart")
	upgrade.Flags().BoolVar(&resetThenReuse, "reset-then-reuse-values", false, "reset to the chart's values, then apply the last release's values and the command line's")

	rollback := &cobra.Command{
		Use:   "rollback RELEASE REVISION",
		Short: "show what rolling RELEASE back to REVISION would change",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			revision, err := strconv.Atoi(args[1])
			if err != nil || revision < 1 {
				return fmt.Errorf("could not convert revision to a number: %q", args[1])
			}
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out, err := cfg.DiffRollback(cmd.Context(), cluster.ns(), args[0], revision)
			if err != nil {
				return err
			}
			return printDiff(cmd, out)
		},
	}

	live := &cobra.Command{
		Use:   "release RELEASE",
		Short: "show how the live objects of RELEASE drifted from its current revision",
		Long: `Show how the live objects of RELEASE differ from the manifest of its current
(last deployed) revision: what an upgrade with the same chart and values would
put back, objects deleted from the cluster included. Nothing is shown when
nothing drifted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			out, err := cfg.DiffLive(cmd.Context(), cluster.ns(), args[0])
			if err != nil {
				return err
			}
			return printDiff(cmd, out)
		},
	}
	cmd.AddCommand(upgrade, rollback, live)
	return cmd
}
