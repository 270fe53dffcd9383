// Package volume materialises a pod's volumes on the node, under
// <pods dir>/<pod UID>/volumes: emptyDir (a directory, or a tmpfs for medium
// Memory), configMap, secret, downwardAPI and projected volumes (files written
// atomically and updated in place, as upstream's AtomicWriter does), hostPath
// (with its type checks) and persistentVolumeClaim (bound to a local or hostPath
// PersistentVolume, used in place). It also resolves subPaths without letting
// symlinks escape the volume, and tears everything down (unmounting its tmpfs
// mounts) when the pod goes.
//
// It reads API objects through the small Objects interface and requests
// ServiceAccount tokens through TokenRequester; it must not write to the API (the
// kubelet turns its errors into FailedMount events) and knows nothing of the
// container runtime, which bind-mounts the host paths this package returns.
package volume
