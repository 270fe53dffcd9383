package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/chartutil"

	"berth.dev/berth/chart"
)

const lintLong = `This command takes a path to a chart and runs a series of tests to verify that
the chart is well-formed.

If the linter encounters things that will cause the chart to fail installation,
it will emit [ERROR] messages. If it encounters issues that break with convention
or recommendation, it will emit [WARNING] messages.`

func newLintCommand() *cobra.Command {
	var (
		values      chart.ValueOptions
		opts        chart.LintOptions
		kubeVersion string
	)
	cmd := &cobra.Command{
		Use:   "lint PATH",
		Short: "examine a chart for possible issues",
		Long:  lintLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths := args
			if len(paths) == 0 {
				paths = []string{"."}
			}
			if kubeVersion != "" {
				kv, err := chartutil.ParseKubeVersion(kubeVersion)
				if err != nil {
					return fmt.Errorf("invalid kube version '%s': %w", kubeVersion, err)
				}
				opts.KubeVersion = kv
			}
			vals, err := values.Merge()
			if err != nil {
				return err
			}
			opts.Values = vals
			opts.Namespace = chartNamespace(cmd)
			return chart.Lint(cmd.Context(), cmd.OutOrStdout(), paths, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Strict, "strict", false, "fail on lint warnings")
	f.BoolVar(&opts.WithSubcharts, "with-subcharts", false, "lint dependent charts")
	f.BoolVar(&opts.Quiet, "quiet", false, "print only warnings and errors")
	f.BoolVar(&opts.SkipSchemaValidation, "skip-schema-validation", false, "if set, disables JSON schema validation")
	f.StringVar(&kubeVersion, "kube-version", "", "Kubernetes version used for capabilities and deprecation checks")
	values.AddFlags(f)
	return cmd
}
