package chart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/registry"
)

// LoadOptions say where Load finds a chart and what it may do to get it.
type LoadOptions struct {
	// Version is a semver constraint (e.g. "1.2.3", "^2.0.0") for a chart
	// from a repository; "" means the latest stable version.
	Version string
	// Devel makes an empty Version consider pre-releases too (">0.0.0-0").
	Devel bool
	// Settings locate the chart repositories; nil means NewSettings().
	Settings *Settings
	// DependencyUpdate runs `dependency update` on a chart directory whose
	// charts/ lacks dependencies declared in Chart.yaml, then loads it again.
	DependencyUpdate bool
	// AllowMissingDependencies skips the check that every dependency declared
	// in Chart.yaml is present (for show, lint and package's own checks).
	AllowMissingDependencies bool
	// Registry says how to reach an OCI registry, for oci:// references.
	Registry RegistryOptions
	// Verify refuses a chart whose provenance file does not verify against
	// Keyring, as Helm's --verify: a local .tgz needs CHART.tgz.prov beside
	// it, a chart from a repository, registry or URL has its .prov fetched
	// too; a chart directory cannot be verified.
	Verify bool
	// Keyring holds the public keys Verify trusts (see DefaultKeyring).
	Keyring string
	// Out receives the progress of downloads and dependency updates; nil
	// discards it.
	Out io.Writer
}

func (o LoadOptions) settings() (*Settings, error) {
	if o.Settings != nil {
		return o.Settings, nil
	}
	return NewSettings()
}

func (o LoadOptions) out() io.Writer {
	if o.Out == nil {
		return io.Discard
	}
	return o.Out
}

// Load loads a chart from a directory, a .tgz, REPO/CHART (a repository
// added with `berth repo add`, resolving opts.Version as a semver range
// against its index) or oci://HOST/REPO/CHART (resolving opts.Version against
// the registry's tags); a fetched chart is downloaded into the repository
// cache. An http(s) URL of a .tgz also works.
//
// Unless opts.AllowMissingDependencies, every dependency Chart.yaml declares
// must be in the chart's charts/ directory (see CheckDependencies).
func Load(ctx context.Context, ref string, opts LoadOptions) (*helmchart.Chart, error) {
	ref = strings.TrimSpace(ref)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loading chart %q: %w", ref, err)
	}
	path, err := locate(ref, opts)
	if err != nil {
		return nil, err
	}
	ch, err := loadPath(path)
	if err != nil {
		return nil, err
	}
	if opts.AllowMissingDependencies {
		return ch, nil
	}
	err = CheckDependencies(ch)
	if err == nil {
		return ch, nil
	}
	if fi, statErr := os.Stat(path); !opts.DependencyUpdate || statErr != nil || !fi.IsDir() {
		return nil, fmt.Errorf("chart %q: %w; run `berth dependency build %s` to fetch them", ref, err, ref)
	}
	if err := UpdateDependencies(ctx, path, DependencyOptions{Settings: opts.Settings, Out: opts.Out}); err != nil {
		return nil, err
	}
	if ch, err = loadPath(path); err != nil {
		return nil, fmt.Errorf("reloading chart after updating its dependencies: %w", err)
	}
	if err := CheckDependencies(ch); err != nil {
		return nil, fmt.Errorf("chart %q: %w", ref, err)
	}
	return ch, nil
}

// locate turns a chart reference into a local path, downloading it into the
// repository cache when it names a repository's chart, a registry's or a URL.
func locate(ref string, opts LoadOptions) (string, error) {
	if ref == "" {
		return "", errors.New("loading chart: no chart given (a directory, a .tgz, REPO/CHART or oci://HOST/REPO/CHART)")
	}
	if _, err := os.Stat(ref); err == nil {
		path, err := filepath.Abs(ref)
		if err != nil || !opts.Verify {
			return path, err
		}
		if _, err := downloader.VerifyChart(path, opts.Keyring); err != nil {
			return "", err
		}
		return path, nil
	}
	isURL := strings.Contains(ref, "://")
	if filepath.IsAbs(ref) || strings.HasPrefix(ref, ".") || (!isURL && !strings.Contains(ref, "/")) {
		return "", fmt.Errorf("loading chart %q: no such chart directory or archive (a chart from a repository is named REPO/CHART)", ref)
	}
	settings, err := opts.settings()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(settings.RepositoryCache, 0o755); err != nil {
		return "", fmt.Errorf("creating the repository cache: %w", err)
	}
	path, _, err := download(ref, opts, settings.RepositoryCache, opts.verifyStrategy())
	return path, err
}

// download fetches a chart from a repository, a registry or a URL into
// dest and returns the archive's path; with verify, also its provenance file,
// and what verifying it proved (VerifyAlways).
func download(ref string, opts LoadOptions, dest string, verify downloader.VerificationStrategy) (string, *Verification, error) {
	settings, err := opts.settings()
	if err != nil {
		return "", nil, err
	}
	version := strings.TrimSpace(opts.Version)
	if version == "" && opts.Devel {
		version = ">0.0.0-0"
	}
	dl := downloader.ChartDownloader{
		Out:              opts.out(),
		Getters:          getters(),
		RepositoryConfig: settings.RepositoryConfig,
		RepositoryCache:  settings.RepositoryCache,
		Verify:           verify,
		Keyring:          opts.Keyring,
	}
	if r := opts.Registry; r.Username != "" || r.tls() {
		// For a chart URL; a repository's own credentials come from its entry.
		dl.Options = append(dl.Options, getter.WithBasicAuth(r.Username, r.Password),
			getter.WithTLSClientConfig(r.CertFile, r.KeyFile, r.CAFile), getter.WithInsecureSkipVerifyTLS(r.InsecureSkipTLSVerify))
	}
	if registry.IsOCI(ref) {
		client, err := NewRegistryClient(settings, opts.Registry, opts.out())
		if err != nil {
			return "", nil, err
		}
		dl.RegistryClient, dl.Getters = client, getters(getter.WithRegistryClient(client))
	}
	path, ver, err := dl.DownloadTo(ref, version, dest)
	if err != nil {
		if path != "" && verify == downloader.VerifyAlways {
			// The archive is written before its provenance is checked: a
			// chart that failed verification is not left for later use.
			_ = os.Remove(path)
			_ = os.Remove(path + ProvenanceSuffix)
		}
		if version != "" {
			return "", nil, fmt.Errorf("fetching chart %q version %q: %w", ref, version, err)
		}
		return "", nil, fmt.Errorf("fetching chart %q: %w", ref, err)
	}
	if verify != downloader.VerifyAlways {
		return path, nil, nil
	}
	return path, newVerification(ver), nil
}

func loadPath(path string) (*helmchart.Chart, error) {
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", path, err)
	}
	return ch, nil
}
