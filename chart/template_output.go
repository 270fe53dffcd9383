package chart

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
)

// TemplateOptions say how WriteTemplate prints a rendered chart, as the
// output flags of `helm template` do.
type TemplateOptions struct {
	// ShowOnly keeps the manifests rendered from these templates (paths
	// inside the chart such as templates/x.yaml or charts/sub/templates/*,
	// matched as filepath.Match patterns), in the order given.
	ShowOnly []string
	// NoHooks leaves the hooks out; SkipTests leaves the test hooks out.
	NoHooks, SkipTests bool
	// OutputDir, when set, writes each template's manifests to a file under
	// it (CHART/templates/x.yaml) instead of printing them, and prints
	// "wrote FILE" for each.
	OutputDir string
	// UseReleaseName writes under OutputDir/ReleaseName.
	UseReleaseName bool
	ReleaseName    string
}

// sourceName finds the template path of a printed manifest, after the chart's name.
var sourceName = regexp.MustCompile("# Source: [^/]+/(.+)")

// WriteTemplate writes r as `helm template` prints it, byte for byte: the
// manifests (with the CRDs first when rendered with IncludeCRDs), then the
// hooks, each under a "# Source:" comment; or only the templates of
// opts.ShowOnly; or, with opts.OutputDir, one file per template.
func WriteTemplate(w io.Writer, r *Rendered, opts TemplateOptions) error {
	var all bytes.Buffer
	written := map[string]bool{}
	if opts.OutputDir != "" {
		// As Helm: the CRDs go to OutputDir itself, the manifests and hooks
		// under the release's directory when UseReleaseName.
		for _, crd := range r.manifestCRDs {
			if err := writeSourceFile(w, opts.OutputDir, crd.Filename, string(crd.File.Data), written); err != nil {
				return err
			}
		}
		for _, m := range r.Manifests {
			if err := writeSourceFile(w, opts.releaseDir(), m.Name, m.Content, written); err != nil {
				return err
			}
		}
		all.WriteString("\n")
	} else {
		all.WriteString(strings.TrimSpace(r.Manifest))
		all.WriteString("\n")
	}
	if !opts.NoHooks {
		for _, h := range r.Hooks {
			if opts.SkipTests && slices.Contains(h.Events, release.HookTest) {
				continue
			}
			if opts.OutputDir != "" {
				if err := writeSourceFile(w, opts.releaseDir(), h.Path, h.Manifest, written); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(&all, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
		}
	}
	if len(opts.ShowOnly) == 0 {
		_, err := w.Write(all.Bytes())
		return err
	}
	shown, err := showOnly(all.String(), opts.ShowOnly)
	if err != nil {
		return err
	}
	for _, m := range shown {
		if _, err := fmt.Fprintf(w, "---\n%s\n", m); err != nil {
			return err
		}
	}
	return nil
}

func (o TemplateOptions) releaseDir() string {
	if o.UseReleaseName {
		return filepath.Join(o.OutputDir, o.ReleaseName)
	}
	return o.OutputDir
}

// showOnly picks the documents of a printed template whose source matches
// the patterns, pattern by pattern, each in printed order.
func showOnly(printed string, patterns []string) ([]string, error) {
	docs := releaseutil.SplitManifests(printed)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))

	var shown []string
	for _, pattern := range patterns {
		pattern = filepath.ToSlash(pattern)
		found := false
		for _, k := range keys {
			m := sourceName.FindStringSubmatch(docs[k])
			if m == nil {
				continue
			}
			if ok, _ := filepath.Match(pattern, m[1]); !ok {
				continue
			}
			shown = append(shown, docs[k])
			found = true
		}
		if !found {
			return nil, fmt.Errorf("could not find template %s in chart", pattern)
		}
	}
	return shown, nil
}

// writeSourceFile writes one template's manifest to dir/name as Helm's
// --output-dir does, appending when this run already wrote that file.
func writeSourceFile(w io.Writer, dir, name, content string, written map[string]bool) error {
	file := dir + string(filepath.Separator) + name
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if written[file] {
		flags = os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(file, flags, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	_, err = fmt.Fprintf(f, "---\n# Source: %s\n%s\n", name, content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	written[file] = true
	_, err = fmt.Fprintf(w, "wrote %s\n", file)
	return err
}
