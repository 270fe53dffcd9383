package main

import (
	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

const showLong = `This command consists of multiple subcommands to display information about a chart.

CHART is a chart directory, a packaged chart (.tgz), or REPO/CHART.`

func newShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "show information of a chart",
		Aliases: []string{"inspect"},
		Long:    showLong,
		Args:    cobra.NoArgs,
	}
	for _, sub := range []struct {
		what        chart.ShowWhat
		short, long string
	}{
		{chart.ShowAll, "show all information of the chart", "This command inspects a chart (directory, file, or URL) and displays all its content\n(values.yaml, Chart.yaml, README)"},
		{chart.ShowChart, "show the chart's definition", "This command inspects a chart (directory, file, or URL) and displays the contents\nof the Chart.yaml file"},
		{chart.ShowValues, "show the chart's values", "This command inspects a chart (directory, file, or URL) and displays the contents\nof the values.yaml file"},
		{chart.ShowReadme, "show the chart's README", "This command inspects a chart (directory, file, or URL) and displays the contents\nof the README file"},
		{chart.ShowCRDs, "show the chart's CRDs", "This command inspects a chart (directory, file, or URL) and displays the contents\nof the CustomResourceDefinition files"},
	} {
		cmd.AddCommand(newShowSubcommand(sub.what, sub.short, sub.long))
	}
	return cmd
}

func newShowSubcommand(what chart.ShowWhat, short, long string) *cobra.Command {
	var version string
	var devel bool
	var registry chart.RegistryOptions
	cmd := &cobra.Command{
		Use:   string(what) + " [CHART]",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			ch, err := chart.Load(cmd.Context(), args[0], chart.LoadOptions{
				Version:                  version,
				Devel:                    devel,
				Settings:                 settings,
				Registry:                 registry,
				AllowMissingDependencies: true,
				Out:                      cmd.ErrOrStderr(),
			})
			if err != nil {
				return err
			}
			return chart.Show(cmd.OutOrStdout(), ch, what)
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "specify a version constraint for the chart version to use. This constraint can be a specific tag (e.g. 1.1.1) or it may reference a valid range (e.g. ^2.0.0). If this is not specified, the latest version is used")
	registry.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&devel, "devel", false, "use development versions, too. Equivalent to version '>0.0.0-0'. If --version is set, this is ignored")
	return cmd
}
