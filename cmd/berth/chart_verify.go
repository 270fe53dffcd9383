package main

import (
	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

const verifyLong = `Verify that the given chart has a valid provenance file.

Provenance files provide cryptographic verification that a chart has not been
tampered with, and was packaged by a trusted provider.

This command can be used to verify a local chart. Several other commands provide
'--verify' flags that run the same validation. To generate a signed package, use
the 'berth package --sign' command.`

func newVerifyCommand() *cobra.Command {
	var keyring string
	cmd := &cobra.Command{
		Use:   "verify PATH",
		Short: "verify that a chart at the given path has been signed and is valid",
		Long:  verifyLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := chart.Verify(cmd.Context(), args[0], keyring)
			if err != nil {
				return err
			}
			return v.Write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&keyring, "keyring", chart.DefaultKeyring(), "keyring containing public keys")
	return cmd
}
