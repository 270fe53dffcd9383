// Package gitops owns berth's GitOps: the Release and GitSource resources
// (group berth.dev, served by the API server as custom resources), reading
// them from a Git checkout, and reconciling each Release through the same
// release actions the command line uses, so that `berth history` shows
// GitOps revisions like any other.
//
// It must not apply a chart's objects itself (package release does) nor
// fetch Git repositories (release/gitops/checkout does); it writes only its
// own resources and their status.
package gitops
