package gitops

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Defaults of the fields left unset.
const (
	DefaultReleaseInterval   = 10 * time.Minute
	DefaultReleaseTimeout    = 5 * time.Minute
	DefaultGitSourceInterval = time.Minute
)

// ReleaseNameOrDefault is the name of the release: spec.releaseName, else
// the Release's own.
func (r *Release) ReleaseNameOrDefault() string {
	if r.Spec.ReleaseName != "" {
		return r.Spec.ReleaseName
	}
	return r.Name
}

// TargetNamespaceOrDefault is where the release goes: spec.targetNamespace,
// else the Release's namespace.
func (r *Release) TargetNamespaceOrDefault() string {
	if r.Spec.TargetNamespace != "" {
		return r.Spec.TargetNamespace
	}
	return r.Namespace
}

// IntervalOrDefault is how often the Release is reconciled without a change.
func (r *Release) IntervalOrDefault() time.Duration {
	if r.Spec.Interval != nil && r.Spec.Interval.Duration > 0 {
		return r.Spec.Interval.Duration
	}
	return DefaultReleaseInterval
}

// TimeoutOrDefault bounds each action of the Release and its wait.
func (r *Release) TimeoutOrDefault() time.Duration {
	if r.Spec.Timeout != nil && r.Spec.Timeout.Duration > 0 {
		return r.Spec.Timeout.Duration
	}
	return DefaultReleaseTimeout
}

// DriftModeOrDefault is spec.driftDetection.mode, off if unset.
func (r *Release) DriftModeOrDefault() DriftMode {
	if r.Spec.DriftDetection != nil && r.Spec.DriftDetection.Mode != "" {
		return r.Spec.DriftDetection.Mode
	}
	return DriftOff
}

// IntervalOrDefault is how often the repository is fetched.
func (s *GitSource) IntervalOrDefault() time.Duration {
	if s.Spec.Interval != nil && s.Spec.Interval.Duration > 0 {
		return s.Spec.Interval.Duration
	}
	return DefaultGitSourceInterval
}

// PruneOrDefault says whether Releases a new commit no longer has are
// deleted: spec.prune, true if unset.
func (s *GitSource) PruneOrDefault() bool {
	return s.Spec.Prune == nil || *s.Spec.Prune
}

// ToUnstructured converts a Release or GitSource (or any object with JSON
// tags) for the dynamic client. A Release or GitSource without apiVersion
// and kind gets them, as the API server needs them in a request's body.
func ToUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T to unstructured: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	var kind string
	switch obj.(type) {
	case *Release:
		kind = KindRelease
	case *GitSource:
		kind = KindGitSource
	}
	if kind != "" && u.GetKind() == "" && u.GetAPIVersion() == "" {
		u.SetAPIVersion(APIVersion)
		u.SetKind(kind)
	}
	return u, nil
}

// FromUnstructured converts what the dynamic client returns into a Release,
// a GitSource or any object with JSON tags.
func FromUnstructured(u *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return fmt.Errorf("decoding %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}
