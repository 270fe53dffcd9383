package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

const createLong = `This command creates a chart directory along with the common files and
directories used in a chart.

For example, 'berth create foo' will create a directory structure that looks
something like this:

    foo/
    ├── .helmignore   # Contains patterns to ignore when packaging charts.
    ├── Chart.yaml    # Information about your chart
    ├── values.yaml   # The default values for your templates
    ├── charts/       # Charts that this chart depends on
    └── templates/    # The template files
        └── tests/    # The test files

'berth create' takes a path for an argument. If directories in the given path
do not exist, berth will attempt to create them as it goes. If the given
destination exists and there are files in that directory, conflicting files
will be overwritten, but other files will be left alone.`

func newCreateCommand() *cobra.Command {
	var starter string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "create a new chart with the given name",
		Long:  createLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "Creating %s\n", args[0])
			var settings *chart.Settings
			if starter != "" {
				var err error
				if settings, err = chart.NewSettings(); err != nil {
					return err
				}
			}
			_, err := chart.Create(args[0], starter, settings)
			return err
		},
	}
	cmd.Flags().StringVarP(&starter, "starter", "p", "", "the name or absolute path to the starter chart to scaffold from")
	return cmd
}
