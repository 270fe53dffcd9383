package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"berth.dev/berth/chart"
)

const repoLong = `This command consists of multiple subcommands to interact with chart repositories.

It can be used to add, remove, list, and update chart repositories. berth keeps
them in its own files: $XDG_CONFIG_HOME/berth/repositories.yaml and the cache in
$XDG_CACHE_HOME/berth/repository ($BERTH_REPOSITORY_CONFIG and
$BERTH_REPOSITORY_CACHE override them).`

func newRepoCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo add|remove|list|update|index",
		Short: "add, list, remove, update chart repositories",
		Long:  repoLong,
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRepoAddCommand(), newRepoListCommand(), newRepoUpdateCommand(), newRepoRemoveCommand(), newRepoIndexCommand())
	return cmd
}

func newRepoIndexCommand() *cobra.Command {
	var o chart.IndexOptions
	cmd := &cobra.Command{
		Use:   "index [DIR]",
		Short: "generate an index file given a directory containing packaged charts",
		Long: `Read DIR and write DIR/index.yaml for the chart archives found there, as
'helm repo index' does; serve DIR over HTTP(S) and it is a chart repository
('berth repo add NAME URL').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return chart.IndexRepo(args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.URL, "url", "", "url of chart repository")
	cmd.Flags().StringVar(&o.Merge, "merge", "", "merge the generated index into the given index")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "output in JSON format")
	return cmd
}

func newRepoAddCommand() *cobra.Command {
	var opts chart.RepoAddOptions
	var passwordStdin, noUpdate bool
	cmd := &cobra.Command{
		Use:   "add [NAME] [URL]",
		Short: "add a chart repository",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.URL = args[0], args[1]
			if opts.Username != "" && opts.Password == "" {
				password, err := readRepoPassword(cmd, passwordStdin)
				if err != nil {
					return err
				}
				opts.Password = password
			}
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			return chart.AddRepo(cmd.Context(), cmd.OutOrStdout(), settings, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Username, "username", "", "chart repository username")
	f.StringVar(&opts.Password, "password", "", "chart repository password")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read chart repository password from stdin")
	f.BoolVar(&opts.ForceUpdate, "force-update", false, "replace (overwrite) the repo if it already exists")
	f.BoolVar(&noUpdate, "no-update", false, "Ignored. Formerly, it would disabled forced updates. It is deprecated by force-update.")
	f.StringVar(&opts.CertFile, "cert-file", "", "identify HTTPS client using this SSL certificate file")
	f.StringVar(&opts.KeyFile, "key-file", "", "identify HTTPS client using this SSL key file")
	f.StringVar(&opts.CAFile, "ca-file", "", "verify certificates of HTTPS-enabled servers using this CA bundle")
	f.BoolVar(&opts.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "skip tls certificate checks for the repository")
	f.BoolVar(&opts.AllowDeprecatedRepos, "allow-deprecated-repos", false, "by default, this command will not allow adding official repos that have been permanently deleted. This disables that behavior")
	f.BoolVar(&opts.PassCredentialsAll, "pass-credentials", false, "pass credentials to all domains")
	f.DurationVar(&opts.Timeout, "timeout", chart.DefaultRepoTimeout, "time to wait for the index file download to complete")
	return cmd
}

// readRepoPassword reads the repository's password from standard input
// (--password-stdin), or asks for it on the terminal.
func readRepoPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	if fromStdin {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("--username needs a password: give --password or --password-stdin")
	}
	fmt.Fprint(cmd.OutOrStdout(), "Password: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(cmd.OutOrStdout())
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return string(b), nil
}

func newRepoListCommand() *cobra.Command {
	var out chartOutput
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "list chart repositories",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			return chart.ListRepos(cmd.OutOrStdout(), settings, out.format)
		},
	}
	out.addFlag(cmd.Flags())
	return cmd
}

func newRepoUpdateCommand() *cobra.Command {
	var opts chart.UpdateOptions
	cmd := &cobra.Command{
		Use:     "update [REPO1 [REPO2 ...]]",
		Aliases: []string{"up"},
		Short:   "update information of available charts locally from chart repositories",
		Long: `Update gets the latest information about charts from the respective chart repositories.
Information is cached locally, where it is used by commands like 'berth search'.

You can optionally specify a list of repositories you want to update.
    $ berth repo update <repo_name> ...
To update all the repositories, use 'berth repo update'.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			opts.Names = args
			return chart.UpdateRepos(cmd.Context(), cmd.OutOrStdout(), settings, opts)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.Timeout, "timeout", chart.DefaultRepoTimeout, "time to wait for the index file download to complete")
	f.BoolVar(&opts.FailOnError, "fail-on-repo-update-fail", false, "update fails if any of the repository updates fail")
	return cmd
}

func newRepoRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "remove [REPO1 [REPO2 ...]]",
		Aliases: []string{"rm"},
		Short:   "remove one or more chart repositories",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			return chart.RemoveRepos(cmd.Context(), cmd.OutOrStdout(), settings, args)
		},
	}
}
