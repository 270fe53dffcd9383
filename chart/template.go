package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/spf13/pflag"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/postrender"
)

// DefaultTemplateReleaseName is the release name `berth template` renders
// with when none is given, as `helm template`.
const DefaultTemplateReleaseName = "release-name"

// TemplateCommand is `berth template [NAME] CHART`: the flags of `helm
// template` and what it does with them. The command line binds it with
// AddFlags and calls Run; the golden tests do the same.
type TemplateCommand struct {
	Values ValueOptions

	Namespace            string
	KubeVersion          string
	APIVersions          []string
	IncludeCRDs          bool
	SkipCRDs             bool
	IsUpgrade            bool
	NoHooks              bool
	SkipTests            bool
	ShowOnly             []string
	OutputDir            string
	UseReleaseName       bool
	NameTemplate         string
	GenerateName         bool
	Version              string
	Devel                bool
	DependencyUpdate     bool
	SubNotes             bool
	SkipSchemaValidation bool
	EnableDNS            bool
	PostRenderer         string
	PostRendererArgs     []string

	// Settings locate chart repositories for REPO/CHART; nil means NewSettings().
	Settings *Settings
	// Registry says how to reach an OCI registry for oci:// charts.
	Registry RegistryOptions
}

// AddFlags binds the command's flags, with `helm template`'s names and help.
func (c *TemplateCommand) AddFlags(fs *pflag.FlagSet) {
	c.Values.AddFlags(fs)
	fs.StringVarP(&c.Namespace, "namespace", "n", "", "namespace scope for this request")
	fs.StringVar(&c.KubeVersion, "kube-version", "", "Kubernetes version used for Capabilities.KubeVersion")
	fs.StringSliceVarP(&c.APIVersions, "api-versions", "a", []string{}, "Kubernetes api versions used for Capabilities.APIVersions")
	fs.BoolVar(&c.IncludeCRDs, "include-crds", false, "include CRDs in the templated output")
	fs.BoolVar(&c.SkipCRDs, "skip-crds", false, "if set, no CRDs will be installed. By default, CRDs are installed if not already present")
	fs.BoolVar(&c.IsUpgrade, "is-upgrade", false, "set .Release.IsUpgrade instead of .Release.IsInstall")
	fs.BoolVar(&c.NoHooks, "no-hooks", false, "prevent hooks from running during install")
	fs.BoolVar(&c.SkipTests, "skip-tests", false, "skip tests from templated output")
	fs.StringArrayVarP(&c.ShowOnly, "show-only", "s", []string{}, "only show manifests rendered from the given templates")
	fs.StringVar(&c.OutputDir, "output-dir", "", "writes the executed templates to files in output-dir instead of stdout")
	fs.BoolVar(&c.UseReleaseName, "release-name", false, "use release name in the output-dir path.")
	fs.StringVar(&c.NameTemplate, "name-template", "", "specify template used to name the release")
	fs.BoolVarP(&c.GenerateName, "generate-name", "g", false, "generate the name (and omit the NAME parameter)")
	fs.StringVar(&c.Version, "version", "", "specify a version constraint for the chart version to use. This constraint can be a specific tag (e.g. 1.1.1) or it may reference a valid range (e.g. ^2.0.0). If this is not specified, the latest version is used")
	c.Registry.AddFlags(fs)
	fs.BoolVar(&c.Devel, "devel", false, "use development versions, too. Equivalent to version '>0.0.0-0'. If --version is set, this is ignored")
	fs.BoolVar(&c.DependencyUpdate, "dependency-update", false, "update dependencies if they are missing before installing the chart")
	fs.BoolVar(&c.SubNotes, "render-subchart-notes", false, "if set, render subchart notes along with the parent")
	fs.BoolVar(&c.SkipSchemaValidation, "skip-schema-validation", false, "if set, disables JSON schema validation")
	fs.BoolVar(&c.EnableDNS, "enable-dns", false, "enable DNS lookups when rendering templates")
	fs.StringVar(&c.PostRenderer, "post-renderer", "", "the path to an executable to be used for post rendering. If it exists in $PATH, the binary will be used, otherwise it will try to look for the executable at the given path")
	fs.StringArrayVar(&c.PostRendererArgs, "post-renderer-args", []string{}, "an argument to the post-renderer (can specify multiple)")
}

// Run renders the chart of args ([NAME] CHART) without a cluster and writes
// it to out as `helm template` does; warnings and download progress go to errOut.
func (c *TemplateCommand) Run(ctx context.Context, out, errOut io.Writer, args []string) error {
	name, ref, err := c.releaseName(args)
	if err != nil {
		return err
	}
	opts := RenderOptions{
		ReleaseName:          name,
		Namespace:            c.Namespace,
		IsUpgrade:            c.IsUpgrade,
		IsInstall:            !c.IsUpgrade,
		APIVersions:          chartutil.VersionSet(c.APIVersions),
		ClientOnly:           true,
		IncludeCRDs:          c.IncludeCRDs,
		SkipCRDs:             c.SkipCRDs,
		SubNotes:             c.SubNotes,
		SkipSchemaValidation: c.SkipSchemaValidation,
		EnableDNS:            c.EnableDNS,
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if c.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(c.KubeVersion)
		if err != nil {
			return fmt.Errorf("invalid kube version '%s': %w", c.KubeVersion, err)
		}
		opts.KubeVersion = kv
	}
	if c.PostRenderer != "" {
		pr, err := postrender.NewExec(c.PostRenderer, c.PostRendererArgs...)
		if err != nil {
			return fmt.Errorf("setting up post-renderer %q: %w", c.PostRenderer, err)
		}
		opts.PostRenderer = pr
	}
	ch, err := Load(ctx, ref, LoadOptions{
		Version:          c.Version,
		Devel:            c.Devel,
		Settings:         c.Settings,
		Registry:         c.Registry,
		DependencyUpdate: c.DependencyUpdate,
		Out:              errOut,
	})
	if err != nil {
		return err
	}
	vals, err := c.Values.Merge()
	if err != nil {
		return err
	}
	if err := checkInstallable(ch); err != nil {
		return err
	}
	if ch.Metadata.Deprecated {
		fmt.Fprintln(errOut, "WARNING: This chart is deprecated")
	}
	r, err := Render(ctx, ch, vals, opts)
	if err != nil {
		return err
	}
	return WriteTemplate(out, r, TemplateOptions{
		ShowOnly:       c.ShowOnly,
		NoHooks:        c.NoHooks,
		SkipTests:      c.SkipTests,
		OutputDir:      c.OutputDir,
		UseReleaseName: c.UseReleaseName,
		ReleaseName:    name,
	})
}

// releaseName picks the release name and chart of `template [NAME] CHART`:
// the NAME given, else --name-template's, else "release-name" (which is also
// what --generate-name gives, as with `helm template`).
func (c *TemplateCommand) releaseName(args []string) (name, ref string, err error) {
	switch {
	case len(args) == 0:
		return "", "", errors.New("a chart is required: berth template [NAME] CHART")
	case len(args) > 2:
		return "", "", fmt.Errorf("expected at most two arguments, unexpected arguments: %v", strings.Join(args[2:], ", "))
	case len(args) == 2:
		if c.GenerateName {
			return "", "", errors.New("cannot set --generate-name and also specify a name")
		}
		if c.NameTemplate != "" {
			return "", "", errors.New("cannot set --name-template and also specify a name")
		}
		return args[0], args[1], nil
	case c.NameTemplate != "":
		name, err := NameFromTemplate(c.NameTemplate)
		return name, args[0], err
	default:
		return DefaultTemplateReleaseName, args[0], nil
	}
}

// NameFromTemplate renders a release name template (--name-template), a Go
// template with Sprig's functions and no data, e.g. `{{randAlpha 6 | lower}}`.
func NameFromTemplate(nameTemplate string) (string, error) {
	t, err := template.New("name-template").Funcs(sprig.TxtFuncMap()).Parse(nameTemplate)
	if err != nil {
		return "", fmt.Errorf("parsing --name-template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return "", fmt.Errorf("rendering --name-template: %w", err)
	}
	return b.String(), nil
}
