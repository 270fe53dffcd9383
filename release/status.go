package release

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/release"

	"berth.dev/berth/release/kube"
)

// Health reports the live status of each object of rel's manifest, in manifest
// order: Current, InProgress, Failed or NotFound, with why. An object that
// could not be read is reported Unknown with the reason, rather than failing
// the report of the others.
func (c *Config) Health(ctx context.Context, rel *release.Release) ([]kube.ObjectStatus, error) {
	objs, err := c.Kube.Build(rel.Manifest, rel.Namespace)
	if err != nil {
		return nil, fmt.Errorf("reading the live status of release %q revision %d: %w", rel.Name, rel.Version, err)
	}
	// Status's error only repeats the messages of the Unknown statuses.
	statuses, _ := c.Kube.Status(ctx, objs)
	return statuses, nil
}
