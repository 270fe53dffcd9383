package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

func newPushCommand() *cobra.Command {
	var o chart.RegistryOptions
	cmd := &cobra.Command{
		Use:   "push [chart] [remote]",
		Short: "push a chart to a remote",
		Long: `Upload a chart archive (.tgz) to an OCI registry, as REMOTE/NAME:VERSION with
the name and version of its Chart.yaml, as 'helm push' does:

    berth push mychart-0.1.0.tgz oci://localhost:5000/helm-charts`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			return chart.Push(cmd.Context(), args[0], args[1], settings, o, cmd.OutOrStdout())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func newPullCommand() *cobra.Command {
	var o chart.PullOptions
	cmd := &cobra.Command{
		Use:   "pull [chart URL | repo/chartname] [...]",
		Short: "download a chart from a repository and (optionally) unpack it in local directory",
		Long: `Download a chart from an OCI registry (oci://HOST/REPO/CHART), a repository
added with 'berth repo add' (REPO/CHART) or a URL, as 'helm pull' does; --version
takes an exact version or a semver range, resolved against the registry's tags
or the repository's index.

If the --verify flag is specified, the requested chart MUST have a provenance
file, and MUST pass the verification process. Failure in any part of this will
result in an error, and the chart will not be saved locally.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			o.Settings, o.Out = settings, cmd.OutOrStdout()
			for _, ref := range args {
				if _, err := chart.Pull(cmd.Context(), ref, o); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Version, "version", "", "specify a version constraint for the chart version to use. This constraint can be a specific tag (e.g. 1.1.1) or it may reference a valid range (e.g. ^2.0.0). If this is not specified, the latest version is used")
	f.BoolVar(&o.Devel, "devel", false, "use development versions, too. Equivalent to version '>0.0.0-0'. If --version is set, this is ignored")
	f.StringVarP(&o.Destination, "destination", "d", ".", "location to write the chart. If this and untardir are specified, untardir is appended to this")
	f.BoolVar(&o.Untar, "untar", false, "if set to true, will untar the chart after downloading it")
	f.StringVar(&o.UntarDir, "untardir", ".", "if untar is specified, this flag specifies the name of the directory into which the chart is expanded")
	f.BoolVar(&o.Prov, "prov", false, "fetch the provenance file, but don't perform verification")
	f.BoolVar(&o.Verify, "verify", false, "verify the package before using it")
	f.StringVar(&o.Keyring, "keyring", chart.DefaultKeyring(), "location of public keys used for verification")
	o.Registry.AddFlags(f)
	return cmd
}

func newRegistryLoginCommand() *cobra.Command {
	var (
		o             chart.RegistryOptions
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "login [host]",
		Short: "login to a registry",
		Long:  "Authenticate to an OCI registry and keep the credentials (a docker-style config.json, $BERTH_REGISTRY_CONFIG), as 'helm registry login' does.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			if passwordStdin {
				if o.Password != "" {
					return errors.New("--password and --password-stdin are mutually exclusive")
				}
				if o.Password, err = readPassword(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			if o.Username == "" || o.Password == "" {
				return errors.New("registry login needs --username and --password (or --password-stdin)")
			}
			if err := chart.Login(cmd.Context(), args[0], settings, o, cmd.ErrOrStderr()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Username, "username", "u", "", "registry username")
	f.StringVarP(&o.Password, "password", "p", "", "registry password or identity token")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read password or identity token from stdin")
	f.BoolVar(&o.InsecureSkipTLSVerify, "insecure", false, "allow connections to TLS registry without certs")
	f.BoolVar(&o.PlainHTTP, "plain-http", false, "use insecure HTTP connections")
	f.StringVar(&o.CertFile, "cert-file", "", "identify registry client using this SSL certificate file")
	f.StringVar(&o.KeyFile, "key-file", "", "identify registry client using this SSL key file")
	f.StringVar(&o.CAFile, "ca-file", "", "verify certificates of HTTPS-enabled servers using this CA bundle")
	return cmd
}

// readPassword reads a password from the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func newRegistryLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [host]",
		Short: "logout from a registry",
		Long:  "Remove the credentials kept for an OCI registry, as 'helm registry logout' does.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			return chart.Logout(cmd.Context(), args[0], settings, cmd.ErrOrStderr())
		},
	}
}
