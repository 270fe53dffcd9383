package chart

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/gosuri/uitable"
	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
)

// CheckDependencies reports the dependencies Chart.yaml declares that are
// not in the chart's charts/ directory.
func CheckDependencies(ch *helmchart.Chart) error {
	var missing []string
	for _, req := range ch.Metadata.Dependencies {
		if req == nil {
			continue
		}
		found := false
		for _, dep := range ch.Dependencies() {
			if dep.Name() == req.Name {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, req.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("found in Chart.yaml, but missing in charts/ directory: %s", strings.Join(missing, ", "))
	}
	return nil
}

// DependencyOptions configure updating and building a chart's charts/ directory.
type DependencyOptions struct {
	// Settings locate the chart repositories; nil means NewSettings().
	Settings *Settings
	// Out receives Helm's progress messages; nil discards them.
	Out io.Writer
	// SkipRefresh does not refresh the repositories' index files first.
	SkipRefresh bool
	// Registry says how to reach OCI registries, for oci:// dependencies.
	Registry RegistryOptions
}

// UpdateDependencies resolves Chart.yaml's dependencies against their
// repositories (or file:// paths), downloads the newest that satisfy them into
// charts/ and writes Chart.lock, as `helm dependency update`.
func UpdateDependencies(ctx context.Context, dir string, opts DependencyOptions) error {
	m, err := manager(ctx, dir, opts)
	if err != nil {
		return err
	}
	if err := m.Update(); err != nil {
		return fmt.Errorf("updating the dependencies of %s: %w", dir, err)
	}
	return nil
}

// BuildDependencies rebuilds charts/ from Chart.lock (or updates when there is
// no lock), as `helm dependency build`.
func BuildDependencies(ctx context.Context, dir string, opts DependencyOptions) error {
	m, err := manager(ctx, dir, opts)
	if err != nil {
		return err
	}
	if err := m.Build(); err != nil {
		return fmt.Errorf("building the dependencies of %s: %w", dir, err)
	}
	return nil
}

func manager(ctx context.Context, dir string, opts DependencyOptions) (*downloader.Manager, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	settings := opts.Settings
	if settings == nil {
		var err error
		if settings, err = NewSettings(); err != nil {
			return nil, err
		}
	}
	if _, err := loader.LoadDir(dir); err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", dir, err)
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	client, err := NewRegistryClient(settings, opts.Registry, out)
	if err != nil {
		return nil, err
	}
	return &downloader.Manager{
		Out:              out,
		ChartPath:        dir,
		SkipUpdate:       opts.SkipRefresh,
		Getters:          getters(getter.WithRegistryClient(client)),
		RegistryClient:   client,
		RepositoryConfig: settings.RepositoryConfig,
		RepositoryCache:  settings.RepositoryCache,
	}, nil
}

// ListDependencies writes the dependencies of the chart at path with their
// status (ok, unpacked, missing, wrong version, ...) as `helm dependency
// list`, then warns about charts/ entries Chart.yaml does not declare.
func ListDependencies(w io.Writer, path string, maxColWidth uint) error {
	ch, err := loader.Load(path)
	if err != nil {
		return fmt.Errorf("loading chart %s: %w", path, err)
	}
	if ch.Metadata.Dependencies == nil {
		_, err := fmt.Fprintf(w, "WARNING: no dependencies at %s\n", filepath.Join(path, "charts"))
		return err
	}
	table := uitable.New()
	table.MaxColWidth = maxColWidth
	table.AddRow("NAME", "VERSION", "REPOSITORY", "STATUS")
	for _, d := range ch.Metadata.Dependencies {
		table.AddRow(d.Name, d.Version, d.Repository, dependencyStatus(path, d, ch))
	}
	fmt.Fprintln(w, table)
	fmt.Fprintln(w)
	return warnUndeclared(w, path, ch.Metadata.Dependencies)
}

// dependencyStatus tells whether dep is satisfied: by an archive in charts/
// ("ok", or why not), by an unpacked directory ("unpacked"), or "missing".
func dependencyStatus(path string, dep *helmchart.Dependency, parent *helmchart.Chart) string {
	archives, err := filepath.Glob(filepath.Join(path, "charts", dep.Name+"-*.tgz"))
	if err != nil {
		return "bad pattern"
	}
	if len(archives) > 1 {
		// Of several, only those named NAME-SEMVER.tgz count.
		var versioned []string
		for _, a := range archives {
			v := strings.TrimPrefix(strings.TrimSuffix(filepath.Base(a), ".tgz"), dep.Name+"-")
			if _, err := semver.StrictNewVersion(v); err == nil {
				versioned = append(versioned, a)
			}
		}
		if len(versioned) > 1 {
			return "too many matches"
		}
		archives = versioned
	}
	if len(archives) == 1 {
		if _, err := os.Stat(archives[0]); err == nil {
			c, err := loader.Load(archives[0])
			if err != nil {
				return "corrupt"
			}
			if c.Name() != dep.Name {
				return "misnamed"
			}
			if s := versionStatus(dep, c); s != "" {
				return s
			}
			return "ok"
		}
	}
	for _, c := range parent.Dependencies() {
		if c.Name() == dep.Name {
			if s := versionStatus(dep, c); s != "" {
				return s
			}
			return "unpacked"
		}
	}
	return "missing"
}

// versionStatus is "" when c's version satisfies dep's constraint, else why not.
func versionStatus(dep *helmchart.Dependency, c *helmchart.Chart) string {
	if c.Metadata.Version == dep.Version {
		return ""
	}
	constraint, err := semver.NewConstraint(dep.Version)
	if err != nil {
		return "invalid version"
	}
	v, err := semver.NewVersion(c.Metadata.Version)
	if err != nil {
		return "invalid version"
	}
	if !constraint.Check(v) {
		return "wrong version"
	}
	return ""
}

// warnUndeclared warns about charts in charts/ that Chart.yaml does not declare.
func warnUndeclared(w io.Writer, path string, reqs []*helmchart.Dependency) error {
	entries, err := filepath.Glob(filepath.Join(path, "charts", "*"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		fi, err := os.Stat(e)
		if err != nil {
			fmt.Fprintf(w, "Warning: %s\n", err)
			continue
		}
		if !fi.IsDir() && filepath.Ext(e) != ".tgz" {
			continue
		}
		c, err := loader.Load(e)
		if err != nil {
			fmt.Fprintf(w, "WARNING: %q is not a chart.\n", e)
			continue
		}
		declared := false
		for _, r := range reqs {
			if r.Name == c.Name() {
				declared = true
				break
			}
		}
		if !declared {
			fmt.Fprintf(w, "WARNING: %q is not in Chart.yaml.\n", e)
		}
	}
	return nil
}
