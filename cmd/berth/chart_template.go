package main

import (
	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

const templateLong = `Render chart templates locally and display the output.

Any values that would normally be looked up or retrieved in-cluster will be
faked locally. Additionally, none of the server-side testing of chart validity
(e.g. whether an API is supported) is done.

CHART is a chart directory, a packaged chart (.tgz), or REPO/CHART from a
repository added with 'berth repo add' (see --version).`

func newTemplateCommand() *cobra.Command {
	var tc chart.TemplateCommand
	cmd := &cobra.Command{
		Use:   "template [NAME] [CHART]",
		Short: "locally render templates",
		Long:  templateLong,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			tc.Settings = settings
			tc.Namespace = chartNamespace(cmd)
			return tc.Run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
		},
	}
	tc.AddFlags(cmd.Flags())
	return cmd
}
