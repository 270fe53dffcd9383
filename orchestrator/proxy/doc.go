// Package proxy is berth's kube-proxy in nftables mode, run by every node
// process: it watches Services and discovery.k8s.io/v1 EndpointSlices and keeps
// one nftables table of its own (inet family, "berth-proxy" by default) that
// sends traffic for ClusterIPs, NodePorts (on the node's addresses and, for
// the node's own processes, 127.0.0.1) and LoadBalancer ingress addresses to
// ready endpoints, picked at random or, with sessionAffinity ClientIP, the
// one the client reached last, as upstream's nftables proxier does. Services
// without usable endpoints, and addresses of the service CIDRs that no
// Service holds, are rejected at once rather than left to time out; traffic
// that is DNATed back to its own source (hairpin) and NodePort and
// LoadBalancer traffic are masqueraded so that replies return through this
// node.
//
// The table is laid out so that a change to one Service or its endpoints
// rewrites only that Service's chains and map elements; the whole table is
// written in one transaction at start-up and after a failed write.
//
// It must not touch tables, links, routes or sysctls it did not make (the pod
// network keeps its own table, "berth-<bridge>"), write to the API (the
// LoadBalancer status belongs to a controller), or keep anything between runs
// but its table: a restarted proxier rewrites the table from the API.
package proxy
