package chart

import (
	"fmt"
	"os"
	"path/filepath"

	helmchart "helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// Create scaffolds a new chart at path, named after its last element: Helm's
// standard scaffold, or a copy of starter (a chart directory; a relative name
// is looked up in the settings' starters directory) with its name replaced.
// Missing parent directories are created. It returns the new chart's directory.
func Create(path, starter string, settings *Settings) (string, error) {
	name := filepath.Base(path)
	parent := filepath.Dir(path)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating chart %s: %w", path, err)
	}
	if starter == "" {
		dir, err := chartutil.Create(name, parent)
		if err != nil {
			return "", fmt.Errorf("creating chart %s: %w", path, err)
		}
		return dir, nil
	}
	if !filepath.IsAbs(starter) {
		if settings == nil {
			var err error
			if settings, err = NewSettings(); err != nil {
				return "", err
			}
		}
		starter = filepath.Join(settings.Starters, starter)
	}
	md := &helmchart.Metadata{
		APIVersion:  helmchart.APIVersionV2,
		Name:        name,
		Description: "A Helm chart for Kubernetes",
		Type:        "application",
		Version:     "0.1.0",
		AppVersion:  "0.1.0",
	}
	if err := chartutil.CreateFrom(md, parent, starter); err != nil {
		return "", fmt.Errorf("creating chart %s from starter %s: %w", path, starter, err)
	}
	return filepath.Join(parent, name), nil
}
