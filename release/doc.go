// Package release owns berth's releases: the actions that install, upgrade, roll
// back, uninstall, test and inspect them (one file per verb), built on the chart
// renderer (package chart), the revision records (release/storage) and the apply
// engine (release/kube). It must not write objects into etcd directly: everything
// goes through the API server, as any client's would.
package release
