package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"berth.dev/berth/chart"
)

const packageLong = `This command packages a chart into a versioned chart archive file. If a path
is given, this will look at that path for a chart (which must contain a
Chart.yaml file) and then package that directory.

Versioned chart archives are used by chart repositories.

To sign a chart, use the '--sign' flag. In most cases, you should also
provide '--keyring path/to/secret/keys' and '--key keyname'.

  $ berth package --sign ./mychart --key mykey --keyring ~/.gnupg/secring.gpg

If '--keyring' is not specified, berth usually defaults to the public keyring
unless your environment is otherwise configured.`

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
			if opts.Sign {
				opts.Stdin = passphraseInput(cmd.InOrStdin())
				if term.IsTerminal(int(os.Stdin.Fd())) {
					opts.Prompt = promptPassphrase(cmd.OutOrStdout())
				}
				if len(args) > 1 {
					// One key for every chart: its passphrase is asked for, or
					// read from stdin, once.
					signer, err := opts.LoadSigner()
					if err != nil {
						return err
					}
					opts.Signer = signer
				}
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
	f.BoolVar(&opts.Sign, "sign", false, "use a PGP private key to sign this package")
	f.StringVar(&opts.Key, "key", "", "name of the key to use when signing. Used if --sign is true")
	f.StringVar(&opts.Keyring, "keyring", chart.DefaultKeyring(), "location of a public keyring")
	f.StringVar(&opts.PassphraseFile, "passphrase-file", "", `location of a file which contains the passphrase for the signing key. Use "-" in order to read from stdin.`)
	f.StringVar(&opts.Version, "version", "", "set the version on the chart to this semver version")
	f.StringVar(&opts.AppVersion, "app-version", "", "set the appVersion on the chart to this version")
	f.StringVarP(&opts.Destination, "destination", "d", ".", "location to write the chart.")
	f.BoolVarP(&opts.DependencyUpdate, "dependency-update", "u", false, `update dependencies from "Chart.yaml" to dir "charts/" before packaging`)
	return cmd
}

// passphraseInput is standard input for --passphrase-file "-", or nil when
// it is a terminal: as Helm, berth reads a passphrase from stdin only when
// one is piped or redirected there.
func passphraseInput(in io.Reader) io.Reader {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return in
}

// promptPassphrase asks for an encrypted key's passphrase on the terminal,
// as `helm package --sign` does without --passphrase-file. Without a
// terminal there is no prompt, and chart.Package asks for the flag instead.
func promptPassphrase(out io.Writer) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		fmt.Fprintf(out, "Password for key %q >  ", name)
		pass, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase of key %q: %w", name, err)
		}
		return pass, nil
	}
}
