// Package bootstrappolicy owns the RBAC objects every berth cluster starts
// with, in upstream's form (kube-apiserver's bootstrap policy): the
// user-facing roles cluster-admin, admin, edit and view with the
// system:aggregate-to-* roles that fill them, discovery and self-review
// access for everyone, the node bootstrap and certificate roles, the roles of
// kubelets, kube-proxy and DNS, and berth's own system:berth:node role for
// what a joined node runs beside its kubelet. Reconcile writes them into a
// cluster with upstream's reconcile semantics: create what is missing, top
// up objects marked autoupdate, never take away what users added.
//
// It must not decide requests (the authorizer does, from these objects) and
// must not aggregate roles (the clusterroleaggregation controller does).
//
// Upstream's system:controller:* roles and bindings, and the roles of
// kube-controller-manager and kube-scheduler, are deliberately absent:
// berth's controllers and scheduler run inside the server on its loopback
// identity, which is in system:masters and so bound to cluster-admin.
package bootstrappolicy

import (
	certificatesv1beta1 "k8s.io/api/certificates/v1beta1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	userinfo "k8s.io/apiserver/pkg/authentication/user"
)

// The label every default object carries, as upstream's.
const (
	LabelKey   = "kubernetes.io/bootstrapping"
	LabelValue = "rbac-defaults"
)

// The labels that aggregate a ClusterRole's rules into admin, edit and view.
// A role for a custom resource that users of a namespace should manage
// carries the ones it belongs to (say AggregateToAdmin and AggregateToEdit
// for write access, AggregateToView for read access).
const (
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
)

// Names of default roles other packages refer to.
const (
	ClusterAdmin = "cluster-admin"
	Admin        = "admin"
	Edit         = "edit"
	View         = "view"
	// SystemNode holds upstream's rules for kubelets (NodeRules). Like
	// upstream, its binding has no subjects: the Node authorizer grants
	// them to each node for its own objects.
	SystemNode = "system:node"
	// BerthNode is what a node's kube-proxy, cluster DNS server and Ingress
	// controller need, bound to every node (group system:nodes). In
	// kube-system a Role of the same name adds what a node publishes there.
	BerthNode = "system:berth:node"
	// NodeBootstrapper lets a bootstrap token request a node client
	// certificate.
	NodeBootstrapper = "system:node-bootstrapper"
	// NodeClient and SelfNodeClient let a CSR's requester have it approved
	// automatically: a new node's client certificate, and a node renewing
	// its own.
	NodeClient     = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
	SelfNodeClient = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
)

// BootstrappersGroup is the group the bootstrap token authenticator gives
// every token (bootstraptoken.Group; spelled here so that policy does not
// depend on authentication).
const BootstrappersGroup = "system:bootstrappers"

// Names of berth's bindings of the node join roles, as kubeadm names its own
// "kubeadm:...".
const (
	KubeletBootstrapBinding         = "berth:kubelet-bootstrap"
	NodeAutoApproveBootstrapBinding = "berth:node-autoapprove-bootstrap"
	NodeAutoApproveRotationBinding  = "berth:node-autoapprove-certificate-rotation"
)

// Objects outside this package that the policy names.
const (
	kubeSystem            = "kube-system"
	kubeDNSServiceAccount = "kube-dns"
)

// ClusterRoles returns the default ClusterRoles. Each call returns fresh
// objects the caller may change.
func ClusterRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		// Everything, everywhere: the role of system:masters.
		clusterRole(ClusterAdmin,
			allow("*").in("*").on("*").rule(),
			allow("*").urls("*").rule(),
		),
		// Enough to negotiate API versions and see whether the server is up.
		clusterRole("system:discovery",
			allow("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/",
				"/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*").rule(),
		),
		// What a monitoring system scrapes.
		clusterRole("system:monitoring",
			allow("get").urls("/metrics", "/metrics/slis",
				"/livez", "/readyz", "/healthz", "/livez/*", "/readyz/*", "/healthz/*").rule(),
		),
		// Let anyone learn who they are and what they may do.
		clusterRole("system:basic-user",
			allow("create").in(authorizationGroup).on("selfsubjectaccessreviews", "selfsubjectrulesreviews").rule(),
			allow("create").in(authenticationGroup).on("selfsubjectreviews").rule(),
		),
		// What is safe to show even to unauthenticated clients.
		clusterRole("system:public-info-viewer",
			allow("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/").rule(),
		),
		// The user-facing roles, filled by aggregation: admin = edit + RBAC
		// within the namespace, edit = view + writes, view = reads of what
		// does not escalate (no Secrets).
		aggregatedClusterRole(Admin, AggregateToAdmin, nil),
		aggregatedClusterRole(Edit, AggregateToEdit, aggregatedTo(AggregateToAdmin)),
		aggregatedClusterRole(View, AggregateToView, aggregatedTo(AggregateToEdit)),
		{
			ObjectMeta: defaultMetadata("system:aggregate-to-admin", "", aggregatedTo(AggregateToAdmin)),
			Rules:      adminRules(),
		},
		{
			ObjectMeta: defaultMetadata("system:aggregate-to-edit", "", aggregatedTo(AggregateToEdit)),
			Rules:      editRules(),
		},
		{
			ObjectMeta: defaultMetadata("system:aggregate-to-view", "", aggregatedTo(AggregateToView)),
			Rules:      viewRules(),
		},
		// berth serves metrics.k8s.io itself, so whoever may view a
		// namespace may read its pods' usage (metrics-server's role of the
		// same name does this where it is installed).
		{
			ObjectMeta: defaultMetadata("system:aggregated-metrics-reader", "",
				aggregatedTo(AggregateToAdmin, AggregateToEdit, AggregateToView)),
			Rules: []rbacv1.PolicyRule{allow(read()...).in(metricsGroup).on("pods", "nodes").rule()},
		},
		// For servers that delegate authentication and authorization to
		// this one.
		clusterRole("system:auth-delegator",
			allow("create").in(authenticationGroup).on("tokenreviews").rule(),
			allow("create").in(authorizationGroup).on("subjectaccessreviews").rule(),
		),
		// Full access to the kubelet API.
		clusterRole("system:kubelet-api-admin",
			allow(read()...).in(coreGroup).on("nodes").rule(),
			allow("proxy").in(coreGroup).on("nodes").rule(),
			allow("*").in(coreGroup).on("nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log").rule(),
		),
		clusterRole(SystemNode, NodeRules()...),
		clusterRole("system:node-proxier",
			allow("list", "watch").in(coreGroup).on("services", "endpoints").rule(),
			allow(read()...).in(coreGroup).on("nodes").rule(),
			eventsRule(),
			allow("list", "watch").in(discoveryGroup).on("endpointslices").rule(),
		),
		clusterRole("system:kube-dns",
			allow("list", "watch").in(coreGroup).on("endpoints", "services").rule(),
		),
		clusterRole("system:service-account-issuer-discovery",
			allow("get").urls("/.well-known/openid-configuration", "/openid/v1/jwks").rule(),
		),
		clusterRole(BerthNode, berthNodeRules()...),
	}
	return append(roles, certificateRoles()...)
}

// ClusterRoleBindings returns the default ClusterRoleBindings. Each call
// returns fresh objects the caller may change.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	return []rbacv1.ClusterRoleBinding{
		clusterRoleBinding(ClusterAdmin, ClusterAdmin, group(userinfo.SystemPrivilegedGroup)),
		clusterRoleBinding("system:monitoring", "system:monitoring", group(userinfo.MonitoringGroup)),
		clusterRoleBinding("system:discovery", "system:discovery", group(userinfo.AllAuthenticated)),
		clusterRoleBinding("system:basic-user", "system:basic-user", group(userinfo.AllAuthenticated)),
		clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer",
			group(userinfo.AllAuthenticated), group(userinfo.AllUnauthenticated)),
		// No subjects, as upstream: binding system:nodes here would let every
		// node read every Secret. The Node authorizer grants NodeRules to
		// each node for its own pods' objects instead.
		clusterRoleBinding(SystemNode, SystemNode),
		clusterRoleBinding("system:node-proxier", "system:node-proxier", user(userinfo.KubeProxy)),
		clusterRoleBinding("system:kube-dns", "system:kube-dns", serviceAccount(kubeSystem, kubeDNSServiceAccount)),
		clusterRoleBinding("system:service-account-issuer-discovery", "system:service-account-issuer-discovery",
			group(serviceaccount.AllServiceAccountsGroup)),
		clusterRoleBinding(BerthNode, BerthNode, group(userinfo.NodesGroup)),
		// Node join: a bootstrap token may ask for a node client certificate
		// and have it approved; a node may have its renewal approved.
		clusterRoleBinding(KubeletBootstrapBinding, NodeBootstrapper, group(BootstrappersGroup)),
		clusterRoleBinding(NodeAutoApproveBootstrapBinding, NodeClient, group(BootstrappersGroup)),
		clusterRoleBinding(NodeAutoApproveRotationBinding, SelfNodeClient, group(userinfo.NodesGroup)),
	}
}

// adminRules are what admin adds to edit: managing access within the
// namespace.
func adminRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		allow("create").in(authorizationGroup).on("localsubjectaccessreviews").rule(),
		allow(readWrite()...).in(rbacGroup).on("roles", "rolebindings").rule(),
	}
}

// editRules are what edit adds to view: writes to the namespace's workloads,
// and reading (and writing) what can escalate, such as Secrets and exec.
func editRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		allow(read()...).in(coreGroup).on("pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy").rule(),
		allow("impersonate").in(coreGroup).on("serviceaccounts").rule(),
		allow(write()...).in(coreGroup).on("pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward").rule(),
		allow("create").in(coreGroup).on("pods/eviction").rule(),
		allow(write()...).in(coreGroup).on("replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events").rule(),
		allow("create").in(coreGroup).on("serviceaccounts/token").rule(),
		allow(write()...).in(appsGroup).on("statefulsets", "statefulsets/scale", "daemonsets",
			"deployments", "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale").rule(),
		allow(write()...).in(autoscalingGroup).on("horizontalpodautoscalers").rule(),
		allow(write()...).in(batchGroup).on("jobs", "cronjobs").rule(),
		allow(write()...).in(extensionsGroup).on("daemonsets", "deployments", "deployments/scale", "deployments/rollback",
			"ingresses", "replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies").rule(),
		allow(write()...).in(policyGroup).on("poddisruptionbudgets").rule(),
		allow(write()...).in(networkingGroup).on("networkpolicies", "ingresses").rule(),
		allow(readWrite()...).in(coordinationGroup).on("leases").rule(),
	}
}

// viewRules are reads of what does not escalate: no Secrets, no exec.
func viewRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		allow(read()...).in(coreGroup).on("pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
			"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps").rule(),
		allow(read()...).in(coreGroup).on("limitranges", "resourcequotas", "bindings", "events",
			"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log").rule(),
		// Reading namespaces through a RoleBinding reads just that namespace:
		// how a user finds the namespaces they have access to.
		allow(read()...).in(coreGroup).on("namespaces").rule(),
		allow(read()...).in(discoveryGroup).on("endpointslices").rule(),
		allow(read()...).in(appsGroup).on("controllerrevisions",
			"statefulsets", "statefulsets/status", "statefulsets/scale",
			"daemonsets", "daemonsets/status",
			"deployments", "deployments/status", "deployments/scale",
			"replicasets", "replicasets/status", "replicasets/scale").rule(),
		allow(read()...).in(autoscalingGroup).on("horizontalpodautoscalers", "horizontalpodautoscalers/status").rule(),
		allow(read()...).in(batchGroup).on("jobs", "cronjobs", "cronjobs/status", "jobs/status").rule(),
		allow(read()...).in(extensionsGroup).on("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status",
			"replicationcontrollers/scale", "networkpolicies").rule(),
		allow(read()...).in(policyGroup).on("poddisruptionbudgets", "poddisruptionbudgets/status").rule(),
		allow(read()...).in(networkingGroup).on("ingresses", "ingresses/status", "networkpolicies").rule(),
	}
}

// NodeRules are upstream's rules for kubelets, the rules of system:node. The
// Node authorizer grants them to a node, narrowing the object-bound ones
// (Secrets, ConfigMaps, volumes, service account tokens) to its own pods'.
// Each call returns fresh rules.
func NodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// Reviews are not writes: a kubelet checks tokens and access of
		// requests to its own API.
		allow("create").in(authenticationGroup).on("tokenreviews").rule(),
		allow("create").in(authorizationGroup).on("subjectaccessreviews", "localsubjectaccessreviews").rule(),
		// Services, for the pods' service environment variables.
		allow(read()...).in(coreGroup).on("services").rule(),
		// Registering and reporting the Node (NodeRestriction limits a node
		// to its own).
		allow("create", "get", "list", "watch").in(coreGroup).on("nodes").rule(),
		allow("update", "patch").in(coreGroup).on("nodes/status").rule(),
		allow("update", "patch").in(coreGroup).on("nodes").rule(),
		allow("create", "update", "patch").in(coreGroup).on("events").rule(),
		// Pods: reading its own, mirror pods, status and evictions.
		allow(read()...).in(coreGroup).on("pods").rule(),
		allow("create", "delete").in(coreGroup).on("pods").rule(),
		allow("update", "patch").in(coreGroup).on("pods/status").rule(),
		allow("create").in(coreGroup).on("pods/eviction").rule(),
		// What its pods mount and reference.
		allow(read()...).in(coreGroup).on("secrets", "configmaps").rule(),
		allow("get").in(coreGroup).on("persistentvolumeclaims", "persistentvolumes").rule(),
		allow("get").in(coreGroup).on("endpoints").rule(),
		// Its own client certificate, and renewing it.
		allow("create", "get", "list", "watch").in(certificatesGroup).on("certificatesigningrequests").rule(),
		// Its heartbeat Lease.
		allow("get", "create", "update", "patch", "delete").in(coordinationGroup).on("leases").rule(),
		allow("get").in(storageGroup).on("volumeattachments").rule(),
		// Projected service account tokens of its pods.
		allow("create").in(coreGroup).on("serviceaccounts/token").rule(),
		allow("get", "update", "patch").in(coreGroup).on("persistentvolumeclaims/status").rule(),
		allow(read()...).in(storageGroup).on("csidrivers").rule(),
		allow("get", "create", "update", "patch", "delete").in(storageGroup).on("csinodes").rule(),
		allow(read()...).in(nodeGroup).on("runtimeclasses").rule(),
	}
}

// berthNodeRules are what berth's node runs beside its kubelet needs across
// the cluster, and nothing more: kube-proxy and the DNS server watch
// Services and EndpointSlices; the Ingress controller watches Ingresses,
// IngressClasses, Services and EndpointSlices, creates its IngressClass when
// there is none, and records events. Secrets are not here: the Ingress
// controller's TLS Secrets are the Node authorizer's to decide.
func berthNodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		allow(read()...).in(coreGroup).on("services").rule(),
		allow(read()...).in(discoveryGroup).on("endpointslices").rule(),
		allow(read()...).in(networkingGroup).on("ingresses", "ingressclasses").rule(),
		allow("create").in(networkingGroup).on("ingressclasses").rule(),
		eventsRule(),
		// The local-path provisioner: every node makes and removes the
		// volumes of claims bound to it, as k3s's runs with a role of its own.
		allow("list", "watch").in(coreGroup).on("persistentvolumeclaims").rule(),
		allow("list", "watch", "create", "update", "delete").in(coreGroup).on("persistentvolumes").rule(),
		allow(read()...).in(storageGroup).on("storageclasses").rule(),
	}
}

// eventsRule lets a component record events through either events API.
func eventsRule() rbacv1.PolicyRule {
	return allow("create", "update", "patch").in(coreGroup, eventsGroup).on("events").rule()
}

// certificateRoles are the roles of node certificates: requesting them, and
// approving requests for each of the built-in signers.
func certificateRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		clusterRole(NodeBootstrapper,
			allow("create", "get", "list", "watch").in(certificatesGroup).on("certificatesigningrequests").rule(),
		),
		// The CSR approver approves a request whose requester may create
		// this subresource.
		clusterRole(NodeClient,
			allow("create").in(certificatesGroup).on("certificatesigningrequests/nodeclient").rule(),
		),
		clusterRole(SelfNodeClient,
			allow("create").in(certificatesGroup).on("certificatesigningrequests/selfnodeclient").rule(),
		),
	}
	for _, signer := range []struct{ role, name string }{
		{"system:certificates.k8s.io:kube-apiserver-client-approver", certificatesv1beta1.KubeAPIServerClientSignerName},
		{"system:certificates.k8s.io:kube-apiserver-client-kubelet-approver", certificatesv1beta1.KubeAPIServerClientKubeletSignerName},
		{"system:certificates.k8s.io:kubelet-serving-approver", certificatesv1beta1.KubeletServingSignerName},
		{"system:certificates.k8s.io:legacy-unknown-approver", certificatesv1beta1.LegacyUnknownSignerName},
	} {
		roles = append(roles, clusterRole(signer.role,
			allow("approve").in(certificatesGroup).on("signers").named(signer.name).rule()))
	}
	return roles
}
