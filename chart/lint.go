package chart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// LintOptions configure Lint, as `helm lint`'s flags.
type LintOptions struct {
	// Values are the user's values the templates are linted with.
	Values map[string]any
	// Namespace is .Release.Namespace; "" means "default".
	Namespace string
	// KubeVersion is rendered for and checked for deprecated APIs; nil means
	// DefaultKubeVersion().
	KubeVersion *chartutil.KubeVersion
	// Strict fails on warnings too.
	Strict bool
	// WithSubcharts lints the charts in charts/ too.
	WithSubcharts bool
	// Quiet prints only warnings and errors.
	Quiet                bool
	SkipSchemaValidation bool
}

// Lint lints the charts at paths (directories or .tgz archives) with Helm's
// linter and writes its report to w as `helm lint` does: per chart
// "==> Linting PATH" and its messages, then "N chart(s) linted, M chart(s)
// failed". It returns that summary as an error when a chart failed.
func Lint(ctx context.Context, w io.Writer, paths []string, opts LintOptions) error {
	if opts.WithSubcharts {
		paths = withSubcharts(paths)
	}
	namespace := opts.Namespace
	if namespace == "" {
		namespace = "default"
	}
	kube := opts.KubeVersion
	if kube == nil {
		kv := DefaultKubeVersion()
		kube = &kv
	}
	tolerance := support.ErrorSev
	if opts.Strict {
		tolerance = support.WarningSev
	}
	var report strings.Builder
	failed, noisy := 0, 0
	for _, path := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		messages, err := lintOne(path, opts.Values, namespace, kube, opts.SkipSchemaValidation)
		fails := err != nil
		warns := err != nil
		for _, m := range messages {
			fails = fails || m.Severity >= tolerance
			warns = warns || m.Severity > support.InfoSev
		}
		if warns {
			noisy++
		}
		if fails {
			failed++
		}
		if opts.Quiet && !warns {
			continue
		}
		fmt.Fprintf(&report, "==> Linting %s\n", path)
		if err != nil {
			fmt.Fprintf(&report, "Error %s\n", err)
		}
		for _, m := range messages {
			if !opts.Quiet || m.Severity > support.InfoSev {
				fmt.Fprintf(&report, "%s\n", m)
			}
		}
		report.WriteString("\n")
	}
	if _, err := io.WriteString(w, report.String()); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d chart(s) linted, %d chart(s) failed", len(paths), failed)
	if failed > 0 {
		return errors.New(summary)
	}
	if !opts.Quiet || noisy > 0 {
		_, err := fmt.Fprintln(w, summary)
		return err
	}
	return nil
}

// lintOne lints one chart directory or archive.
func lintOne(path string, vals map[string]any, namespace string, kube *chartutil.KubeVersion, skipSchema bool) ([]support.Message, error) {
	dir := path
	if strings.HasSuffix(path, ".tgz") || strings.HasSuffix(path, ".tar.gz") {
		tmp, err := os.MkdirTemp("", "berth-lint-")
		if err != nil {
			return nil, fmt.Errorf("unable to create temp dir to extract tarball: %w", err)
		}
		defer os.RemoveAll(tmp)
		if err := chartutil.ExpandFile(tmp, path); err != nil {
			return nil, fmt.Errorf("unable to extract tarball: %w", err)
		}
		entries, err := os.ReadDir(tmp)
		if err != nil || len(entries) == 0 || !entries[0].IsDir() {
			return nil, fmt.Errorf("unable to extract tarball %s: no chart directory in it", path)
		}
		dir = filepath.Join(tmp, entries[0].Name())
	}
	if _, err := os.Stat(filepath.Join(dir, chartutil.ChartfileName)); err != nil {
		return nil, fmt.Errorf("unable to check Chart.yaml file in chart: %w", err)
	}
	linter := lint.AllWithKubeVersionAndSchemaValidation(dir, vals, namespace, kube, skipSchema)
	return linter.Messages, nil
}

// withSubcharts adds the charts found under each path's charts/ directory.
func withSubcharts(paths []string) []string {
	out := append([]string(nil), paths...)
	for _, p := range paths {
		_ = filepath.WalkDir(filepath.Join(p, "charts"), func(path string, d os.DirEntry, err error) error {
			if err != nil || d == nil {
				return nil
			}
			switch {
			case d.Name() == chartutil.ChartfileName:
				out = append(out, filepath.Dir(path))
			case strings.HasSuffix(path, ".tgz") || strings.HasSuffix(path, ".tar.gz"):
				out = append(out, path)
			}
			return nil
		})
	}
	return out
}
