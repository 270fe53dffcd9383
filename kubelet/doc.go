// Package kubelet owns berth's node agent: the process that makes the pods bound
// to a node run (real containers come with the runtime; hollow nodes, in
// kubelet/hollow, pretend). It must not know about charts or releases, and talks
// to the cluster only through the API.
package kubelet
