// Package registry owns the REST storage of the built-in resources: how objects of
// each kind are prepared, validated and kept in etcd through the generic registry of
// k8s.io/apiserver, and the subresources that act on them (status, scale, binding,
// eviction, finalize, and log, exec, attach and portforward, which it proxies to
// the kubelet of the pod's node; serviceaccounts/token, which issues service
// account tokens), together with the API server's own allocations (Service
// cluster IPs and node ports), and the reviews that store nothing
// (selfsubjectreviews).
//
// It must not run control loops or know about charts, releases or the kubelet's
// workings: a kubelet is only an HTTPS endpoint found through Kubelets. What a
// controller does belongs to the controllers, which reach the objects through the API.
package registry
