// Package chart owns berth's charts: loading them (from a directory, a .tgz or a
// chart repository), merging the values users give on a command line, rendering
// them exactly as Helm does, and the chart tooling around that: lint, package,
// create, dependencies, chart repositories and searching them.
//
// It builds on Helm's own libraries (helm.sh/helm/v3/pkg/chart, chartutil,
// engine, lint, downloader, getter, repo, releaseutil, strvals), so any chart
// that works with Helm works with berth and renders byte for byte the same.
//
// What it must not do: talk to a cluster, except through the templates' lookup
// function when a caller hands Render a REST config; know anything about
// releases, their records or their storage (that is package release, which
// calls Render); or keep package-level mutable state. Where Helm's libraries
// keep globals of their own (getters, the registry client), those are theirs.
package chart
