// Package podnet owns the node's pod network: one Linux bridge whose addresses
// are the gateways of the node's pod ranges, one veth pair per pod (the host
// end on the bridge, the pod end "eth0" in the pod's network namespace with an
// address from each range and a default route through the gateway), the
// addresses handed out (kept as files in a state directory, one per address,
// so that a restarted agent keeps them), and an nftables table of its own,
// "berth-<bridge>" in the inet family, holding the masquerade of traffic that
// leaves the cluster and the DNAT of pods' host ports. It does what the CNI
// bridge, host-local and portmap plugins do, in process, over netlink.
//
// It must not touch links, addresses, routes or nftables tables it did not
// make (kube-proxy keeps its own table), know about the API or pod specs
// beyond an owner string (the pod UID) and its host ports, or run the pod's
// namespaces: callers pass a path to an existing network namespace. Routes to
// other nodes' pod ranges are not its business either: the node agent adds
// those. It sets the host-wide sysctls it needs (IP forwarding, bridge
// netfilter) and never turns them back off, since other networks may need them
// too.
package podnet
