// Package storage owns the records of releases: one object per revision in the
// API server (kind ReleaseRevision of group berth.dev, served from a
// CustomResourceDefinition this package defines), its body gzip-compressed and,
// when larger than an object may be, split into ReleaseRevisionChunks; an index in
// each revision's metadata so that listing never reads a body; and per-release
// operation locks bound to Leases that expire on their own.
//
// It must not render charts or touch a release's objects.
package storage
