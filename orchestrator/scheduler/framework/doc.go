// Package framework holds what the scheduler's parts share: the scheduling view
// of pods (PodInfo) and nodes (NodeInfo), snapshots of the cluster, filter
// statuses and the FitError that words a failure as upstream's kube-scheduler
// does. It computes from objects it is given and must not talk to the API.
package framework
