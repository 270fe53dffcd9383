package images

import (
	"fmt"

	"github.com/distribution/reference"
)

// NormalizeName returns the canonical form of an image reference, as the
// Kubernetes kubelet and docker spell it: nginx:1.27 is
// docker.io/library/nginx:1.27, bars/hello is docker.io/bars/hello:latest, and a
// digest reference keeps its digest (docker.io/library/nginx@sha256:...).
func NormalizeName(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("parsing image reference %q: %w", ref, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// repository returns the repository part of a normalised reference
// (docker.io/library/nginx for docker.io/library/nginx:1.27).
func repository(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return named.Name()
}
