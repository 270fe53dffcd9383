package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/output"
	helmrelease "helm.sh/helm/v3/pkg/release"
)

func newGetCommand(cluster *clusterFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "download extended information of a named release",
		Args:  cobra.NoArgs,
	}
	var revision int
	cmd.PersistentFlags().IntVar(&revision, "revision", 0, "get the named release with revision")

	// get runs one subcommand: read the revision, print what it asks for.
	get := func(use, short string, print func(cmd *cobra.Command, rel *helmrelease.Release) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " RELEASE_NAME",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cfg, err := actionConfig(cluster, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				rel, err := cfg.Get(cmd.Context(), cluster.ns(), args[0], revision)
				if err != nil {
					return err
				}
				return print(cmd, rel)
			},
		}
	}

	var allValues bool
	var valuesOut outputFlag
	values := get("values", "download the values file for a named release", func(cmd *cobra.Command, rel *helmrelease.Release) error {
		vals := rel.Config
		if allValues {
			computed, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
			if err != nil {
				return err
			}
			vals = computed
		}
		return valuesOut.format.Write(cmd.OutOrStdout(), valuesWriter{vals: vals, all: allValues})
	})
	valuesOut.addFlags(values.Flags())
	values.Flags().BoolVarP(&allValues, "all", "a", false, "dump all (computed) values")

	manifest := get("manifest", "download the manifest for a named release", func(cmd *cobra.Command, rel *helmrelease.Release) error {
		_, err := fmt.Fprintln(cmd.OutOrStdout(), rel.Manifest)
		return err
	})
	notes := get("notes", "download the notes for a named release", func(cmd *cobra.Command, rel *helmrelease.Release) error {
		if rel.Info.Notes != "" {
			fmt.Fprintf(cmd.OutOrStdout(), "NOTES:\n%s\n", rel.Info.Notes)
		}
		return nil
	})
	hooks := get("hooks", "download all hooks for a named release", func(cmd *cobra.Command, rel *helmrelease.Release) error {
		writeHooks(cmd.OutOrStdout(), rel)
		return nil
	})
	var metaOut outputFlag
	metadata := get("metadata", "fetch metadata for a given release", func(cmd *cobra.Command, rel *helmrelease.Release) error {
		return metaOut.format.Write(cmd.OutOrStdout(), metadataWriter{metadataOf(rel)})
	})
	metaOut.addFlags(metadata.Flags())
	all := get("all", "download all information for a named release", func(cmd *cobra.Command, rel *helmrelease.Release) error {
		out := cmd.OutOrStdout()
		statusWriter{rel: rel}.WriteTable(out)
		fmt.Fprintln(out, "USER-SUPPLIED VALUES:")
		output.EncodeYAML(out, rel.Config)
		computed, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "\nCOMPUTED VALUES:")
		output.EncodeYAML(out, computed)
		fmt.Fprintln(out, "\nHOOKS:")
		writeHooks(out, rel)
		fmt.Fprintf(out, "MANIFEST:\n%s\n", rel.Manifest)
		return nil
	})
	cmd.AddCommand(values, manifest, notes, hooks, metadata, all)
	return cmd
}

func writeHooks(out io.Writer, rel *helmrelease.Release) {
	for _, h := range rel.Hooks {
		fmt.Fprintf(out, "---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
	}
}

type valuesWriter struct {
	vals map[string]any
	all  bool
}

func (v valuesWriter) WriteTable(out io.Writer) error {
	if v.all {
		fmt.Fprintln(out, "COMPUTED VALUES:")
	} else {
		fmt.Fprintln(out, "USER-SUPPLIED VALUES:")
	}
	return output.EncodeYAML(out, v.vals)
}
func (v valuesWriter) WriteJSON(out io.Writer) error { return output.EncodeJSON(out, v.vals) }
func (v valuesWriter) WriteYAML(out io.Writer) error { return output.EncodeYAML(out, v.vals) }

// releaseMetadata is what `helm get metadata` prints.
type releaseMetadata struct {
	Name       string `json:"name"`
	Chart      string `json:"chart"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion"`
	Namespace  string `json:"namespace"`
	Revision   int    `json:"revision"`
	Status     string `json:"status"`
	DeployedAt string `json:"deployedAt"`
}

func metadataOf(rel *helmrelease.Release) releaseMetadata {
	m := releaseMetadata{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, Status: string(rel.Info.Status),
		DeployedAt: rel.Info.LastDeployed.Format(time.RFC3339)}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		m.Chart, m.Version, m.AppVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	return m
}

type metadataWriter struct{ m releaseMetadata }

func (w metadataWriter) WriteTable(out io.Writer) error {
	m := w.m
	_, err := fmt.Fprintf(out, "NAME: %s\nCHART: %s\nVERSION: %s\nAPP_VERSION: %s\nNAMESPACE: %s\nREVISION: %d\nSTATUS: %s\nDEPLOYED_AT: %s\n",
		m.Name, m.Chart, m.Version, m.AppVersion, m.Namespace, m.Revision, m.Status, m.DeployedAt)
	return err
}
func (w metadataWriter) WriteJSON(out io.Writer) error { return output.EncodeJSON(out, w.m) }
func (w metadataWriter) WriteYAML(out io.Writer) error { return output.EncodeYAML(out, w.m) }
