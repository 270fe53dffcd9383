// Package scheduler assigns pending pods to nodes as upstream kube-scheduler's
// default profile does: it watches pods and nodes through client-go
// informers, takes pods from a priority queue, filters and scores a sample of
// the nodes, assumes the pod on the best node at once and binds it through
// the API in the background, preempting lower-priority pods when nothing
// fits. Failures are reported on the pod (PodScheduled condition and a
// FailedScheduling event) in upstream's words.
//
// It talks to the API only through the client it is given and must not know
// about releases, charts or the kubelet.
package scheduler
