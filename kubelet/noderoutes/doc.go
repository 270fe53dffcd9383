// Package noderoutes keeps this node's routes to the other nodes' pod
// ranges: for every other Node, each of its spec.podCIDRs goes through its
// InternalIP of that family. Nodes on one network segment need nothing more
// for their pods to reach each other (no overlay, no encapsulation), as
// flannel's host-gw backend does it.
//
// It owns the routes it made, told apart by their protocol number
// (Protocol) in the main table, and no others: it must not touch links,
// addresses, nftables or sysctls (the pod network's and kube-proxy's
// business), write to the API, or route to a node its kernel cannot reach
// directly (it logs that node instead: such clusters need an overlay).
package noderoutes
