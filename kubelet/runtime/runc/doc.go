// Package runc implements runtime.Runtime with runc's libcontainer, in
// process: it owns the pod sandboxes and containers on this host, their
// cgroups (under one parent), mounts, state directories and log copiers, and
// re-adopts them when the process that started them restarts.
//
// It must not talk to the API server nor know about pods beyond the specs it
// is given. The binary embedding it must call Init first thing in main, since
// libcontainer and the sandbox holder re-execute /proc/self/exe.
package runc
