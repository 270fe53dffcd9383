package bootstrappolicy

import (
	rbacv1 "k8s.io/api/rbac/v1"
	userinfo "k8s.io/apiserver/pkg/authentication/user"
)

// What a node publishes in kube-system, named by the agent (cmd/berth): the
// ConfigMap of the cluster's network, which a joining node reads, and the
// kube-dns Service with one EndpointSlice per node's DNS server.
const (
	clusterConfigMap = "berth-config"
	dnsService       = "kube-dns"
)

// Roles returns the default Roles, in kube-system. Upstream's namespaced
// defaults are for its controllers, scheduler and extension API servers
// (bootstrap-signer, token-cleaner, cloud-provider, leader locking,
// extension-apiserver-authentication-reader) and kubeadm's anonymous read of
// kube-public/cluster-info; berth runs its own on the loopback identity,
// publishes no extension-apiserver-authentication, and a joining machine
// finds the CA in the server's certificate chain, with no anonymous read, so
// this is berth's: the node's part of kube-system. Each call returns fresh
// objects the caller may change.
func Roles() []rbacv1.Role {
	return []rbacv1.Role{
		{
			ObjectMeta: defaultMetadata(BerthNode, kubeSystem, nil),
			Rules: []rbacv1.PolicyRule{
				allow("get").in(coreGroup).on("configmaps").named(clusterConfigMap).rule(),
				// Creation cannot be limited to a name: the name is not part
				// of a create request's attributes.
				allow("create").in(coreGroup).on("services").rule(),
				allow("get", "update").in(coreGroup).on("services").named(dnsService).rule(),
				// One slice per node, named after it.
				allow("get", "create", "update").in(discoveryGroup).on("endpointslices").rule(),
			},
		},
	}
}

// RoleBindings returns the default RoleBindings, one per Role of Roles, named
// as it. Each call returns fresh objects the caller may change.
func RoleBindings() []rbacv1.RoleBinding {
	return []rbacv1.RoleBinding{
		roleBinding(kubeSystem, BerthNode, group(userinfo.NodesGroup)),
	}
}
