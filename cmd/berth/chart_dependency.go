package main

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

const dependencyLong = `Manage the dependencies of a chart.

Charts may declare their dependencies in the 'dependencies' field of Chart.yaml:

    dependencies:
      - name: nginx
        version: "1.2.3"
        repository: "https://example.com/charts"
      - name: memcached
        version: "3.2.1"
        repository: "file://../memcached"

'repository' is the URL of a chart repository (added or not with
'berth repo add'), an "@REPO" alias of an added one, or a "file://" path to an
unpacked chart. 'version' is a semver constraint. 'berth dependency update'
resolves the constraints, downloads the charts into charts/ and records them in
Chart.lock; 'berth dependency build' downloads what Chart.lock says.`

func newDependencyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "dependency update|build|list",
		Aliases: []string{"dep", "dependencies"},
		Short:   "manage a chart's dependencies",
		Long:    dependencyLong,
		Args:    cobra.NoArgs,
	}
	cmd.AddCommand(newDependencyListCommand(), newDependencyUpdateCommand(false), newDependencyUpdateCommand(true))
	return cmd
}

// chartPathArg is the chart directory of a dependency command: its argument,
// else the working directory.
func chartPathArg(args []string) string {
	if len(args) > 0 {
		return filepath.Clean(args[0])
	}
	return "."
}

func newDependencyListCommand() *cobra.Command {
	var maxColWidth uint
	cmd := &cobra.Command{
		Use:     "list CHART",
		Aliases: []string{"ls"},
		Short:   "list the dependencies for the given chart",
		Long: `List all of the dependencies declared in a chart, with their status: "ok" (a
matching archive in charts/), "unpacked" (a matching directory), "missing",
"wrong version", "misnamed", "corrupt" or "too many matches".`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return chart.ListDependencies(cmd.OutOrStdout(), chartPathArg(args), maxColWidth)
		},
	}
	cmd.Flags().UintVar(&maxColWidth, "max-col-width", 80, "maximum column width for output table")
	return cmd
}

func newDependencyUpdateCommand(build bool) *cobra.Command {
	var opts chart.DependencyOptions
	cmd := &cobra.Command{
		Use:     "update CHART",
		Aliases: []string{"up"},
		Short:   "update charts/ based on the contents of Chart.yaml",
		Long: `Update the on-disk dependencies to mirror Chart.yaml: resolve each dependency's
version constraint against its repository, download the newest match into
charts/, remove outdated ones, and write Chart.lock.`,
		Args: cobra.MaximumNArgs(1),
	}
	run := chart.UpdateDependencies
	if build {
		cmd.Use, cmd.Aliases = "build CHART", nil
		cmd.Short = "rebuild the charts/ directory based on the Chart.lock file"
		cmd.Long = `Build out the charts/ directory from the Chart.lock file, fetching exactly the
versions it records. If no lock file is found, 'berth dependency build' does
what 'berth dependency update' does.`
		run = chart.BuildDependencies
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		settings, err := chart.NewSettings()
		if err != nil {
			return err
		}
		opts.Settings = settings
		opts.Out = cmd.OutOrStdout()
		return run(cmd.Context(), chartPathArg(args), opts)
	}
	cmd.Flags().BoolVar(&opts.SkipRefresh, "skip-refresh", false, "do not refresh the local repository cache")
	return cmd
}
