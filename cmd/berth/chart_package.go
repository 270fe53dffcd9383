package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

const packageLong = `This command packages a chart into a versioned chart archive file. If a path
is given, this will look at that path for a chart (which must contain a
Chart.yaml file) and then package that directory.

Versioned chart archives are used by chart repositories.`

func newPackageCommand() *cobra.Command {
	var opts chart.PackageOptions
	cmd := &cobra.Command{
		Use:   "package [CHART_PATH] [...]",
		Short: "package a chart directory into a chart archive",
		Long:  packageLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("need at least one argument, the path to the chart")
			}
			if opts.DependencyUpdate {
				settings, err := chart.NewSettings()
				if err != nil {
					return err
				}
				opts.Settings = settings
			}
			for _, path := range args {
				saved, err := chart.Package(cmd.Context(), path, opts)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Successfully packaged chart and saved it to: %s\n", saved)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Version, "version", "", "set the version on the chart to this semver version")
	f.StringVar(&opts.AppVersion, "app-version", "", "set the appVersion on the chart to this version")
	f.StringVarP(&opts.Destination, "destination", "d", ".", "location to write the chart.")
	f.BoolVarP(&opts.DependencyUpdate, "dependency-update", "u", false, `update dependencies from "Chart.yaml" to dir "charts/" before packaging`)
	return cmd
}
