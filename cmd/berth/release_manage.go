package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	helmrelease "helm.sh/helm/v3/pkg/release"

	"berth.dev/berth/release"
)

func newRollbackCommand(cluster *clusterFlags) *cobra.Command {
	r := struct {
		dryRun, wait, waitForJobs, force, cleanupOnFail, noHooks bool
		timeout                                                  time.Duration
		maxHistory                                               int
	}{}
	cmd := &cobra.Command{
		Use:   "rollback <RELEASE> [REVISION]",
		Short: "roll back a release to a previous revision",
		Long:  "Roll back a release to a previous revision; without REVISION, to the one before.",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			revision := 0
			if len(args) == 2 {
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 0 {
					return fmt.Errorf("could not convert revision to a number: %q", args[1])
				}
				revision = n
			}
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rb := release.NewRollback(cfg)
			rb.Namespace, rb.Revision, rb.DryRun, rb.Wait, rb.WaitForJobs = cluster.ns(), revision, r.dryRun, r.wait, r.waitForJobs
			rb.Force, rb.CleanupOnFail, rb.NoHooks, rb.Timeout, rb.MaxHistory = r.force, r.cleanupOnFail, r.noHooks, r.timeout, r.maxHistory
			if _, err := rb.Run(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("ROLLBACK FAILED: %w", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Rollback was a success! Happy Helming!")
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&r.dryRun, "dry-run", false, "simulate a rollback")
	f.BoolVar(&r.wait, "wait", false, "wait until all objects of the release are ready, showing progress")
	f.BoolVar(&r.waitForJobs, "wait-for-jobs", false, "with --wait, also wait until all Jobs have completed")
	f.BoolVar(&r.force, "force", false, "force resource update through delete/recreate if needed")
	f.BoolVar(&r.cleanupOnFail, "cleanup-on-fail", false, "allow deletion of new resources created in this rollback when rollback fails")
	f.BoolVar(&r.noHooks, "no-hooks", false, "prevent hooks from running during rollback")
	f.DurationVar(&r.timeout, "timeout", 5*time.Minute, "time to wait for any individual Kubernetes operation (like Jobs for hooks)")
	f.IntVar(&r.maxHistory, "history-max", 10, "limit the maximum number of revisions saved per release. Use 0 for no limit")
	return cmd
}

func newUninstallCommand(cluster *clusterFlags) *cobra.Command {
	u := struct {
		keepHistory, dryRun, noHooks, wait bool
		timeout                            time.Duration
		description                        string
	}{}
	cmd := &cobra.Command{
		Use:     "uninstall RELEASE_NAME [...]",
		Aliases: []string{"del", "delete", "un"},
		Short:   "uninstall a release",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			for _, name := range args {
				un := release.NewUninstall(cfg)
				un.Namespace, un.KeepHistory, un.DryRun, un.NoHooks, un.Wait, un.Timeout, un.Description =
					cluster.ns(), u.keepHistory, u.dryRun, u.noHooks, u.wait, u.timeout, u.description
				res, err := un.Run(cmd.Context(), name)
				if err != nil {
					return err
				}
				if len(res.Kept) > 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "These resources were kept due to the resource policy:")
					for _, k := range res.Kept {
						fmt.Fprintln(cmd.OutOrStdout(), k)
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "release %q uninstalled\n", name)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&u.keepHistory, "keep-history", false, "remove all associated resources and mark the release as deleted, but retain the release history")
	f.BoolVar(&u.dryRun, "dry-run", false, "simulate an uninstall")
	f.BoolVar(&u.noHooks, "no-hooks", false, "prevent hooks from running during uninstallation")
	f.BoolVar(&u.wait, "wait", false, "wait until all the resources, and the pods and other objects they own, are deleted before returning")
	f.DurationVar(&u.timeout, "timeout", 5*time.Minute, "time to wait for any individual Kubernetes operation (like Jobs for hooks)")
	f.StringVar(&u.description, "description", "", "add a custom description")
	return cmd
}

func newListCommand(cluster *clusterFlags) *cobra.Command {
	var out outputFlag
	var allNamespaces, all, short, noHeaders bool
	var byDate, reverse bool
	var filter, timeFormat string
	var limit, offset int
	statuses := map[helmrelease.Status]*bool{}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "list releases",
		Long:    "List releases, by default the deployed and failed ones of the namespace.",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			l := release.NewList(cfg)
			l.Namespace, l.AllNamespaces, l.All, l.Filter = cluster.ns(), allNamespaces, all, filter
			l.ByDate, l.Reverse, l.Limit, l.Offset = byDate, reverse, limit, offset
			for s, set := range statuses {
				if *set {
					l.Statuses = append(l.Statuses, s)
				}
			}
			releases, err := l.Run(cmd.Context())
			if err != nil {
				return err
			}
			if short {
				for _, r := range releases {
					fmt.Fprintln(cmd.OutOrStdout(), r.Name)
				}
				return nil
			}
			return out.format.Write(cmd.OutOrStdout(), listWriter{releases: releases, noHeaders: noHeaders, timeFormat: timeFormat})
		},
	}
	f := cmd.Flags()
	out.addFlags(f)
	f.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list releases across all namespaces")
	f.BoolVarP(&all, "all", "a", false, "show all releases without any filter applied")
	f.BoolVarP(&short, "short", "q", false, "output short (quiet) listing format")
	f.BoolVar(&noHeaders, "no-headers", false, "don't print headers when using the default output format")
	f.BoolVarP(&byDate, "date", "d", false, "sort by release date")
	f.BoolVarP(&reverse, "reverse", "r", false, "reverse the sort order")
	f.StringVarP(&filter, "filter", "f", "", "a regular expression (Perl compatible); releases whose name matches are listed")
	f.StringVar(&timeFormat, "time-format", "", `format time using golang time formatter. Example: --time-format "2006-01-02 15:04:05Z0700"`)
	f.IntVarP(&limit, "max", "m", 256, "maximum number of releases to fetch")
	f.IntVar(&offset, "offset", 0, "next release index in the list, used to offset from start value")
	for _, s := range []struct {
		flag   string
		status helmrelease.Status
	}{
		{"deployed", helmrelease.StatusDeployed}, {"failed", helmrelease.StatusFailed},
		{"pending", helmrelease.StatusPendingInstall}, {"superseded", helmrelease.StatusSuperseded},
		{"uninstalled", helmrelease.StatusUninstalled}, {"uninstalling", helmrelease.StatusUninstalling},
	} {
		statuses[s.status] = f.Bool(s.flag, false, fmt.Sprintf("show %s releases", s.flag))
	}
	return cmd
}

func newHistoryCommand(cluster *clusterFlags) *cobra.Command {
	var out outputFlag
	var max int
	cmd := &cobra.Command{
		Use:     "history RELEASE_NAME",
		Aliases: []string{"hist"},
		Short:   "fetch release history",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			history, err := cfg.History(cmd.Context(), cluster.ns(), args[0], max)
			if err != nil {
				return err
			}
			return out.format.Write(cmd.OutOrStdout(), historyWriter{history})
		},
	}
	out.addFlags(cmd.Flags())
	cmd.Flags().IntVar(&max, "max", 256, "maximum number of revision to include in history")
	return cmd
}

func newStatusCommand(cluster *clusterFlags) *cobra.Command {
	var out outputFlag
	var revision int
	var showDescription bool
	cmd := &cobra.Command{
		Use:   "status RELEASE_NAME",
		Short: "display the status of the named release",
		Long: `Display the status of the named release: its revision, tests and notes, as
helm status does, and the live status of each of its objects (Current,
InProgress, Failed or NotFound) with why. With -o json or yaml, the objects are
listed under "resources".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rel, err := cfg.Get(cmd.Context(), cluster.ns(), args[0], revision)
			if err != nil {
				return err
			}
			resources, err := cfg.Health(cmd.Context(), rel)
			if err != nil {
				return err
			}
			return out.format.Write(cmd.OutOrStdout(), statusWriter{rel: rel, showDescription: showDescription, showResources: true, resources: resources})
		},
	}
	out.addFlags(cmd.Flags())
	cmd.Flags().IntVar(&revision, "revision", 0, "if set, display the status of the named release with revision")
	cmd.Flags().BoolVar(&showDescription, "show-desc", false, "if set, display the description message of the named release")
	return cmd
}

func newTestCommand(cluster *clusterFlags) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "test [RELEASE]",
		Short: "run tests for a release",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			t := release.NewReleaseTesting(cfg)
			t.Namespace, t.Timeout = cluster.ns(), timeout
			rel, runErr := t.Run(cmd.Context(), args[0])
			if rel != nil {
				statusWriter{rel: rel}.WriteTable(cmd.OutOrStdout())
			}
			return runErr
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "time to wait for any individual Kubernetes operation (like Jobs for hooks)")
	return cmd
}
