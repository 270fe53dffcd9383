package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// RenderOptions say what a chart is rendered for: the release it becomes and
// the cluster it goes to.
type RenderOptions struct {
	ReleaseName, Namespace string
	// Revision is .Release.Revision; 0 means 1.
	Revision int
	// IsInstall and IsUpgrade are .Release.IsInstall and .Release.IsUpgrade;
	// when neither is set the render is an install.
	IsInstall, IsUpgrade bool
	// KubeVersion and APIVersions make .Capabilities:
	//   - ClientOnly (`helm template`): KubeVersion, or DefaultKubeVersion()
	//     when nil, and Helm's default API versions plus APIVersions
	//     (--kube-version, --api-versions);
	//   - for a cluster, with KubeVersion set: the caller has asked the
	//     cluster, and KubeVersion and APIVersions are its answer, as given;
	//   - for a cluster, with KubeVersion nil: Render asks RESTConfig's
	//     discovery, and adds APIVersions.
	KubeVersion *chartutil.KubeVersion
	APIVersions chartutil.VersionSet
	// ClientOnly renders without a cluster: lookup answers empty. Otherwise
	// RESTConfig answers lookup (and discovery, see KubeVersion). A render
	// that is not ClientOnly but has neither RESTConfig nor KubeVersion is
	// rendered as ClientOnly.
	ClientOnly bool
	RESTConfig *rest.Config
	// IncludeCRDs puts the CRDs of crds/ directories first in Manifest
	// (`helm template --include-crds`); SkipCRDs leaves Rendered.CRDs empty so
	// that none are installed.
	IncludeCRDs, SkipCRDs bool
	// SubNotes adds the subcharts' NOTES.txt to Notes.
	SubNotes bool
	// PostRenderer, when set, rewrites Manifest (not the hooks), as Helm's
	// --post-renderer does.
	PostRenderer postrender.PostRenderer
	// SkipSchemaValidation skips values.schema.json (--skip-schema-validation).
	SkipSchemaValidation bool
	// EnableDNS lets templates resolve host names (getHostByName), --enable-dns.
	EnableDNS bool
}

// Rendered is a rendered chart, split as a release needs it.
type Rendered struct {
	// Manifests are the non-hook manifests in Helm's install order
	// (releaseutil.SortManifests), before any post-renderer.
	Manifests []releaseutil.Manifest
	// Hooks are the hooks in the order Helm keeps them in a release (by kind);
	// HooksFor orders one event's hooks as Helm runs them.
	Hooks []*release.Hook
	// CRDs are the chart's and its enabled subcharts' crds/ files to install
	// before the manifests (empty with SkipCRDs).
	CRDs []helmchart.CRD
	// Notes is the rendered NOTES.txt (and the subcharts' with SubNotes).
	Notes string
	// Values are the computed values: the chart's defaults coalesced with the
	// user's, validated against the schemas. They are what templates saw as
	// .Values.
	Values chartutil.Values
	// Manifest is the manifests joined exactly as Helm stores them in
	// release.Manifest (after the post-renderer, with the CRDs first when
	// IncludeCRDs).
	Manifest string

	// manifestCRDs are the CRDs Manifest begins with (IncludeCRDs).
	manifestCRDs []helmchart.CRD
}

// notesSuffix names the file whose output is the release notes.
const notesSuffix = "NOTES.txt"

// Render validates values against values.schema.json (chart and subcharts),
// coalesces them and renders the chart as Helm does. ch is not modified:
// subcharts are enabled and values imported on a copy.
//
// Errors read as Helm's: a template error names the file and line
// ("template: mychart/templates/x.yaml:3:4: ..."), a schema violation lists
// each chart's violations.
func Render(ctx context.Context, ch *helmchart.Chart, userValues map[string]any, opts RenderOptions) (*Rendered, error) {
	if ch == nil || ch.Metadata == nil {
		return nil, errors.New("rendering chart: no chart (or a chart without Chart.yaml)")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rendering chart %q: %w", ch.Name(), err)
	}
	if err := checkInstallable(ch); err != nil {
		return nil, err
	}
	if err := chartutil.ValidateReleaseName(opts.ReleaseName); err != nil {
		return nil, fmt.Errorf("release name %q: %w", opts.ReleaseName, err)
	}
	if userValues == nil {
		userValues = map[string]any{}
	}
	ch = cloneChart(ch)
	if err := chartutil.ProcessDependenciesWithMerge(ch, userValues); err != nil {
		return nil, err
	}
	caps, err := capabilities(opts)
	if err != nil {
		return nil, err
	}
	revision := opts.Revision
	if revision == 0 {
		revision = 1
	}
	top, err := chartutil.ToRenderValuesWithSchemaValidation(ch, userValues, chartutil.ReleaseOptions{
		Name:      opts.ReleaseName,
		Namespace: opts.Namespace,
		Revision:  revision,
		IsInstall: opts.IsInstall || !opts.IsUpgrade,
		IsUpgrade: opts.IsUpgrade,
	}, caps, opts.SkipSchemaValidation)
	if err != nil {
		return nil, err
	}
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c, caps.KubeVersion.String())
	}

	var eng engine.Engine
	if !opts.ClientOnly && opts.RESTConfig != nil {
		eng = engine.New(opts.RESTConfig)
	}
	eng.EnableDNS = opts.EnableDNS
	files, err := eng.Render(ch, top)
	if err != nil {
		return nil, err
	}

	r := &Rendered{Notes: notes(ch, files, opts.SubNotes)}
	if v, ok := top["Values"].(chartutil.Values); ok {
		r.Values = v
	}
	r.Hooks, r.Manifests, err = releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	crds := ch.CRDObjects()
	if !opts.SkipCRDs {
		r.CRDs = crds
	}
	if opts.IncludeCRDs {
		r.manifestCRDs = crds
	}
	var b bytes.Buffer
	for _, crd := range r.manifestCRDs {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, crd.File.Data)
	}
	for _, m := range r.Manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	out := &b
	if opts.PostRenderer != nil {
		if out, err = opts.PostRenderer.Run(&b); err != nil {
			return nil, fmt.Errorf("error while running post render on files: %w", err)
		}
	}
	r.Manifest = out.String()
	return r, nil
}

// checkInstallable refuses charts that cannot be rendered as a release:
// library charts only lend templates to others.
func checkInstallable(ch *helmchart.Chart) error {
	switch ch.Metadata.Type {
	case "", "application":
		return nil
	}
	return fmt.Errorf("%s charts are not installable", ch.Metadata.Type)
}

// notes takes NOTES.txt out of the rendered files: the chart's own, and its
// subcharts' when subNotes, joined by newlines in the files' order.
func notes(ch *helmchart.Chart, files map[string]string, subNotes bool) string {
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, notesSuffix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	own := path.Join(ch.Name(), "templates", notesSuffix)
	var b strings.Builder
	for _, name := range names {
		if subNotes || name == own {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(files[name])
		}
		delete(files, name)
	}
	return b.String()
}

// HooksFor returns the hooks of one event in the order Helm runs them: by
// weight, then by name, keeping Helm's kind order among equals.
func HooksFor(hooks []*release.Hook, event release.HookEvent) []*release.Hook {
	var out []*release.Hook
	for _, h := range hooks {
		if slices.Contains(h.Events, event) {
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Weight == out[j].Weight {
			return out[i].Name < out[j].Name
		}
		return out[i].Weight < out[j].Weight
	})
	return out
}

// clientGoMinor is the minor version of the k8s.io/client-go module berth is
// built with (v0.37.x); a test holds it to go.mod.
const clientGoMinor = "37"

// DefaultKubeVersion is the Kubernetes version rendered for when neither the
// user nor a cluster says otherwise. Helm's release builds answer v1.MINOR.0
// for the k8s.io/client-go v0.MINOR they are built with (Helm v3.22.0:
// v1.37.0); berth answers the same for its own client-go.
func DefaultKubeVersion() chartutil.KubeVersion {
	return chartutil.KubeVersion{Version: "v1." + clientGoMinor + ".0", Major: "1", Minor: clientGoMinor}
}

// capabilities are the .Capabilities templates see (see RenderOptions.KubeVersion).
func capabilities(opts RenderOptions) (*chartutil.Capabilities, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	switch {
	case opts.ClientOnly || (opts.RESTConfig == nil && opts.KubeVersion == nil):
		caps.KubeVersion = DefaultKubeVersion()
		if opts.KubeVersion != nil {
			caps.KubeVersion = *opts.KubeVersion
		}
		// Never append to the defaults' backing array: it is Helm's global.
		caps.APIVersions = append(slices.Clip(caps.APIVersions), opts.APIVersions...)
	case opts.KubeVersion != nil:
		caps.KubeVersion = *opts.KubeVersion
		caps.APIVersions = slices.Clone(opts.APIVersions)
	default:
		kube, apis, err := discover(opts.RESTConfig)
		if err != nil {
			return nil, err
		}
		caps.KubeVersion = kube
		caps.APIVersions = append(apis, opts.APIVersions...)
	}
	return caps, nil
}

// discover asks the cluster for its version and the API versions it serves,
// as "group/version" and "group/version/Kind", as Helm does.
func discover(cfg *rest.Config) (chartutil.KubeVersion, chartutil.VersionSet, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return chartutil.KubeVersion{}, nil, fmt.Errorf("creating a Kubernetes discovery client: %w", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return chartutil.KubeVersion{}, nil, fmt.Errorf("getting the server version from Kubernetes: %w", err)
	}
	kube := chartutil.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor}
	groups, resources, err := dc.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return kube, nil, fmt.Errorf("getting the API versions from Kubernetes: %w", err)
	}
	if len(groups) == 0 && len(resources) == 0 {
		return kube, slices.Clip(chartutil.DefaultVersionSet), nil
	}
	seen := map[string]bool{}
	for _, g := range groups {
		for _, gv := range g.Versions {
			seen[gv.GroupVersion] = true
		}
	}
	for _, rl := range resources {
		for _, r := range rl.APIResources {
			seen[path.Join(rl.GroupVersion, r.Kind)] = true
		}
	}
	apis := make(chartutil.VersionSet, 0, len(seen))
	for v := range seen {
		apis = append(apis, v)
	}
	sort.Strings(apis)
	return kube, apis, nil
}

// cloneChart copies what rendering changes in a chart tree (the dependency
// list, Chart.yaml's dependencies, values) so that Render leaves its argument
// as it was; files and templates are shared, never written.
func cloneChart(c *helmchart.Chart) *helmchart.Chart {
	n := &helmchart.Chart{
		Raw:       c.Raw,
		Lock:      c.Lock,
		Templates: c.Templates,
		Values:    copyMap(c.Values),
		Schema:    c.Schema,
		Files:     c.Files,
	}
	if c.Metadata != nil {
		md := *c.Metadata
		md.Dependencies = nil
		for _, d := range c.Metadata.Dependencies {
			if d == nil {
				md.Dependencies = append(md.Dependencies, nil)
				continue
			}
			dc := *d
			dc.ImportValues = slices.Clone(d.ImportValues)
			dc.Tags = slices.Clone(d.Tags)
			md.Dependencies = append(md.Dependencies, &dc)
		}
		n.Metadata = &md
	}
	for _, dep := range c.Dependencies() {
		n.AddDependency(cloneChart(dep))
	}
	return n
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyMap(v)
	case chartutil.Values:
		return chartutil.Values(copyMap(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}
