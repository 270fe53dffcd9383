// Package node is the Node authorizer: it decides which of the objects
// that hold a pod's inputs a node's kubelet may read. A node (user
// "system:node:NAME" in group "system:nodes") may get the Secrets,
// ConfigMaps and PersistentVolumeClaims that the pods bound to it reference,
// the PersistentVolumes bound to those claims, and request tokens for the
// ServiceAccounts those pods run as. Reads of other Secrets and ConfigMaps,
// gets of other claims and volumes and other token requests are denied, so
// that no RBAC grant to system:nodes can widen them; lists and watches of
// claims and volumes are left to RBAC, since the node's local-path
// provisioner watches them all to find those handed to it. Upstream
// keeps a graph of pods, claims, volumes and accounts for this; berth answers
// each request by walking the specs of the requesting node's pods, which an
// index of the pod informer by spec.nodeName and namespace finds.
//
// Two berth-specific allowances are not pods' references:
//   - Every node runs the Ingress controller under its own identity, so a
//     node may also read the Secrets named by some Ingress's
//     spec.tls[].secretName, in the Ingress's namespace, and nothing more.
//     It may read them one by one (get, or list and watch with a
//     metadata.name field selector): a list or watch of all Secrets is
//     denied, like any other collection read of Secrets or ConfigMaps.
//   - Config.NodeConfigMaps names ConfigMaps every node may read, such as
//     the cluster configuration an agent reads when it joins.
//
// Beyond these, every node gets the kubelet's rules (Config.Rules,
// upstream's system:node role), as upstream's Node authorizer grants them,
// so that no binding gives them to every member of system:nodes.
//
// The package owns these decisions and the informer indexes they need. It
// must not start informers (the API server starts them), write anything, or
// have an opinion on requests by users that are not nodes: RBAC decides
// those and what the rules leave, and the NodeRestriction admission plugin
// limits what a node may write.
package node
