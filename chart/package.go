package chart

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/Masterminds/semver/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/provenance"
)

// PackageOptions configure Package, as `helm package`'s flags.
type PackageOptions struct {
	// Version and AppVersion, when set, replace Chart.yaml's.
	Version, AppVersion string
	// Destination is the directory the archive is written to; "" or "."
	// means the working directory.
	Destination string
	// DependencyUpdate updates charts/ from Chart.yaml first.
	DependencyUpdate bool
	// Settings locate the chart repositories for DependencyUpdate; nil means
	// NewSettings().
	Settings *Settings
	// Out receives the dependency update's progress; nil discards it.
	Out io.Writer
	// Sign writes a provenance file beside the archive (NAME-VERSION.tgz.prov)
	// signed with the key SignOptions name: Key, Keyring, PassphraseFile.
	Sign bool
	SignOptions
	// Signer, when set, is the key Sign signs with, loaded once for several
	// archives (SignOptions.LoadSigner): a passphrase from stdin is read once.
	Signer *provenance.Signatory
}

// Package archives the chart directory at path as DESTINATION/NAME-VERSION.tgz
// and returns the archive's path. The chart's version must be semver, and every
// dependency Chart.yaml declares must be in charts/. With opts.Sign, the key
// is loaded and decrypted first, so that a bad key writes nothing.
func Package(ctx context.Context, path string, opts PackageOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dir, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("packaging chart %s: %w", path, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("packaging chart: %w", err)
	} else if !fi.IsDir() {
		return "", fmt.Errorf("packaging chart %s: not a chart directory", path)
	}
	signer := opts.Signer
	if opts.Sign && signer == nil {
		if signer, err = opts.signer(); err != nil {
			return "", err
		}
	}
	if opts.DependencyUpdate {
		if err := UpdateDependencies(ctx, dir, DependencyOptions{Settings: opts.Settings, Out: opts.Out}); err != nil {
			return "", err
		}
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return "", fmt.Errorf("loading chart %s: %w", path, err)
	}
	if opts.Version != "" {
		ch.Metadata.Version = opts.Version
	}
	if _, err := semver.NewVersion(ch.Metadata.Version); err != nil {
		return "", fmt.Errorf("packaging chart %s: version %q: %w", path, ch.Metadata.Version, err)
	}
	if opts.AppVersion != "" {
		ch.Metadata.AppVersion = opts.AppVersion
	}
	if err := CheckDependencies(ch); err != nil {
		return "", fmt.Errorf("packaging chart %s: %w; run `berth dependency build %s` first, or package with --dependency-update", path, err, path)
	}
	dest := opts.Destination
	if dest == "" || dest == "." {
		if dest, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	name, err := chartutil.Save(ch, dest)
	if err != nil {
		return "", fmt.Errorf("failed to save: %w", err)
	}
	if signer != nil {
		if _, err := writeProvenance(signer, name); err != nil {
			return "", err
		}
	}
	return name, nil
}
