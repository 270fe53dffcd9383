// Package envvars builds a container's environment as the upstream kubelet does:
// the Service link variables of the pod's namespace (and the kubernetes Service's
// KUBERNETES_SERVICE_* always), env with $(VAR) expansion, valueFrom
// (configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef) and envFrom. It also
// owns the downward API values (pod fields, container resources) that downward API
// volumes share.
//
// It reads objects through the small Objects interface (Sources in the kubelet,
// maps in tests) and reports skipped envFrom keys through an event recorder. It
// must not write to the API and knows nothing of the container runtime: the
// runtime gets the resolved variables as a list.
package envvars
