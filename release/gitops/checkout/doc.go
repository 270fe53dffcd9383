// Package checkout owns fetching a Git repository at a branch, tag or commit
// into a local working directory: the transports (https, ssh, git, and local
// repositories read in-process, so no git binary is needed), credentials as
// Flux's Secrets carry them, and keeping that directory an exact copy of the
// fetched commit between fetches.
//
// It must not know about Releases, charts or the API: callers hand it a URL,
// a ref, credentials and a directory, and get back the commit checked out.
package checkout
