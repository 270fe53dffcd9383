// Package kube owns applying a release's objects to a cluster through its API
// server: building objects from rendered manifests, applying them by server-side
// apply with Helm's ownership metadata, deleting and dropping them (honouring
// helm.sh/resource-policy: keep), reporting their live status, waiting for them to
// be ready, running hooks, installing CRDs and showing what an apply would change.
//
// It speaks to any Kubernetes-compatible API server (berth's own or another)
// through client-go's dynamic client and a discovery-backed REST mapper.
//
// It must not store releases, render charts or know about the CLI: callers hand it
// rendered manifests and objects, and get back errors and statuses to present.
package kube
