package registry

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// builtins lists the served resources with their upstream names, short names and
// categories (what `kubectl api-resources` and `kubectl get all` read).
func builtins() []*resource {
	all := []string{"all"}
	return []*resource{
		// core/v1
		{gvr: gvr("", "v1", "configmaps"), kind: "ConfigMap", singular: "configmap", namespaced: true, shortNames: []string{"cm"}},
		{gvr: gvr("", "v1", "endpoints"), kind: "Endpoints", singular: "endpoints", namespaced: true, shortNames: []string{"ep"}, allowCreateOnUpdate: true},
		{gvr: gvr("", "v1", "events"), kind: "Event", singular: "event", namespaced: true, shortNames: []string{"ev"}, allowCreateOnUpdate: true, ttlSeconds: 3600},
		{gvr: gvr("", "v1", "limitranges"), kind: "LimitRange", singular: "limitrange", namespaced: true, shortNames: []string{"limits"}},
		{gvr: gvr("", "v1", "namespaces"), kind: "Namespace", singular: "namespace", shortNames: []string{"ns"}, status: true, keepStatusOnCreate: true,
			prepareForCreate: prepareNamespace, prepareForUpdate: prepareNamespaceUpdate},
		{gvr: gvr("", "v1", "nodes"), kind: "Node", singular: "node", shortNames: []string{"no"}, status: true, keepStatusOnCreate: true},
		{gvr: gvr("", "v1", "persistentvolumeclaims"), kind: "PersistentVolumeClaim", singular: "persistentvolumeclaim", namespaced: true, shortNames: []string{"pvc"}, status: true, keepStatusOnCreate: true},
		{gvr: gvr("", "v1", "persistentvolumes"), kind: "PersistentVolume", singular: "persistentvolume", shortNames: []string{"pv"}, status: true, keepStatusOnCreate: true},
		{gvr: gvr("", "v1", "pods"), kind: "Pod", singular: "pod", namespaced: true, shortNames: []string{"po"}, categories: all, status: true,
			prepareForCreate: preparePod, gracefulDelete: podGracePeriod, indexedField: "spec.nodeName", indexedFieldValue: podNodeName},
		{gvr: gvr("", "v1", "podtemplates"), kind: "PodTemplate", singular: "podtemplate", namespaced: true},
		{gvr: gvr("", "v1", "replicationcontrollers"), kind: "ReplicationController", singular: "replicationcontroller", namespaced: true, shortNames: []string{"rc"}, categories: all, status: true},
		{gvr: gvr("", "v1", "resourcequotas"), kind: "ResourceQuota", singular: "resourcequota", namespaced: true, shortNames: []string{"quota"}, status: true},
		{gvr: gvr("", "v1", "secrets"), kind: "Secret", singular: "secret", namespaced: true},
		{gvr: gvr("", "v1", "serviceaccounts"), kind: "ServiceAccount", singular: "serviceaccount", namespaced: true, shortNames: []string{"sa"}},
		{gvr: gvr("", "v1", "services"), kind: "Service", singular: "service", namespaced: true, shortNames: []string{"svc"}, categories: all, status: true},

		// apps/v1
		{gvr: gvr("apps", "v1", "controllerrevisions"), kind: "ControllerRevision", singular: "controllerrevision", namespaced: true},
		{gvr: gvr("apps", "v1", "daemonsets"), kind: "DaemonSet", singular: "daemonset", namespaced: true, shortNames: []string{"ds"}, categories: all, status: true},
		{gvr: gvr("apps", "v1", "deployments"), kind: "Deployment", singular: "deployment", namespaced: true, shortNames: []string{"deploy"}, categories: all, status: true,
			prepareForUpdate: prepareDeploymentUpdate},
		{gvr: gvr("apps", "v1", "replicasets"), kind: "ReplicaSet", singular: "replicaset", namespaced: true, shortNames: []string{"rs"}, categories: all, status: true},
		{gvr: gvr("apps", "v1", "statefulsets"), kind: "StatefulSet", singular: "statefulset", namespaced: true, shortNames: []string{"sts"}, categories: all, status: true},

		// batch/v1
		{gvr: gvr("batch", "v1", "cronjobs"), kind: "CronJob", singular: "cronjob", namespaced: true, shortNames: []string{"cj"}, categories: all, status: true},
		{gvr: gvr("batch", "v1", "jobs"), kind: "Job", singular: "job", namespaced: true, categories: all, status: true,
			prepareForCreate: prepareJob},

		// autoscaling/v2
		{gvr: gvr("autoscaling", "v2", "horizontalpodautoscalers"), kind: "HorizontalPodAutoscaler", singular: "horizontalpodautoscaler", namespaced: true, shortNames: []string{"hpa"}, categories: all, status: true},

		// policy/v1
		{gvr: gvr("policy", "v1", "poddisruptionbudgets"), kind: "PodDisruptionBudget", singular: "poddisruptionbudget", namespaced: true, shortNames: []string{"pdb"}, status: true},

		// networking.k8s.io/v1
		{gvr: gvr("networking.k8s.io", "v1", "ingressclasses"), kind: "IngressClass", singular: "ingressclass"},
		{gvr: gvr("networking.k8s.io", "v1", "ingresses"), kind: "Ingress", singular: "ingress", namespaced: true, shortNames: []string{"ing"}, status: true},
		{gvr: gvr("networking.k8s.io", "v1", "networkpolicies"), kind: "NetworkPolicy", singular: "networkpolicy", namespaced: true, shortNames: []string{"netpol"}},

		// discovery.k8s.io/v1
		{gvr: gvr("discovery.k8s.io", "v1", "endpointslices"), kind: "EndpointSlice", singular: "endpointslice", namespaced: true},

		// coordination.k8s.io/v1
		{gvr: gvr("coordination.k8s.io", "v1", "leases"), kind: "Lease", singular: "lease", namespaced: true},

		// scheduling.k8s.io/v1
		{gvr: gvr("scheduling.k8s.io", "v1", "priorityclasses"), kind: "PriorityClass", singular: "priorityclass", shortNames: []string{"pc"}},

		// storage.k8s.io/v1
		{gvr: gvr("storage.k8s.io", "v1", "storageclasses"), kind: "StorageClass", singular: "storageclass", shortNames: []string{"sc"}},

		// certificates.k8s.io/v1
		{gvr: gvr("certificates.k8s.io", "v1", "certificatesigningrequests"), kind: "CertificateSigningRequest", singular: "certificatesigningrequest", shortNames: []string{"csr"}, status: true,
			prepareForCreate: prepareCSR, prepareForUpdate: prepareCSRUpdate},

		// rbac.authorization.k8s.io/v1
		{gvr: gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), kind: "ClusterRoleBinding", singular: "clusterrolebinding"},
		{gvr: gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), kind: "ClusterRole", singular: "clusterrole"},
		{gvr: gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), kind: "RoleBinding", singular: "rolebinding", namespaced: true},
		{gvr: gvr("rbac.authorization.k8s.io", "v1", "roles"), kind: "Role", singular: "role", namespaced: true},
	}
}
