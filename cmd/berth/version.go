package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"berth.dev/berth/orchestrator/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of berth and of the Kubernetes API it serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := version.Info()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "berth %s (Kubernetes %s, %s, %s)\n", version.Berth, info.GitVersion, info.GoVersion, info.Platform)
			return err
		},
	}
}
