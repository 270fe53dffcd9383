package main

import (
	"strings"

	"github.com/spf13/cobra"

	"berth.dev/berth/chart"
)

const searchRepoLong = `Search reads through all of the repositories configured on the system, and
looks for matches. Search of these repositories uses the metadata stored on
the system.

It will display the latest stable versions of the charts found. If you
specify the --devel flag, the output will include pre-release versions.
If you want to search using a version constraint, use --version.

Examples:

    # Search for stable release versions matching the keyword "nginx"
    $ berth search repo nginx

    # Search for release versions matching the keyword "nginx", including pre-release versions
    $ berth search repo nginx --devel

    # Search for the latest stable release for nginx-ingress with a major version of 1
    $ berth search repo nginx-ingress --version ^1.0.0

Repositories are managed with 'berth repo' commands.`

func newSearchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "search [keyword]",
		Short: "search for a keyword in charts",
		Long:  "Search provides the ability to search for charts in the repositories added with 'berth repo add'.",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSearchRepoCommand())
	return cmd
}

func newSearchRepoCommand() *cobra.Command {
	var opts chart.SearchOptions
	var out chartOutput
	cmd := &cobra.Command{
		Use:   "repo [keyword]",
		Short: "search repositories for a keyword in charts",
		Long:  searchRepoLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := chart.NewSettings()
			if err != nil {
				return err
			}
			opts.Keyword = strings.Join(args, " ")
			opts.Format = out.format
			return chart.SearchRepos(cmd.OutOrStdout(), cmd.ErrOrStderr(), settings, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.Regexp, "regexp", "r", false, "use regular expressions for searching repositories you have added")
	f.BoolVarP(&opts.Versions, "versions", "l", false, "show the long listing, with each version of each chart on its own line, for repositories you have added")
	f.BoolVar(&opts.Devel, "devel", false, "use development versions (alpha, beta, and release candidate releases), too. Equivalent to version '>0.0.0-0'. If --version is set, this is ignored")
	f.StringVar(&opts.Version, "version", "", "search using semantic versioning constraints on repositories you have added")
	f.UintVar(&opts.MaxColWidth, "max-col-width", 50, "maximum column width for output table")
	f.BoolVar(&opts.FailOnNoResult, "fail-on-no-result", false, "search fails if no results are found")
	out.addFlag(f)
	return cmd
}
