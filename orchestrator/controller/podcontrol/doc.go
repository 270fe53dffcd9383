// Package podcontrol holds what the workload controllers (DaemonSet, StatefulSet,
// Job; CronJob for its Jobs) share about the objects they own:
//
//   - Control creates and deletes a controller's pods and records the events
//     upstream records for them (SuccessfulCreate "Created pod: web-x2k9q", ...);
//   - Expectations remember the creations and deletions a controller asked for
//     and has not yet seen in its informer cache, so that it never counts a stale
//     cache and creates or deletes twice;
//   - Claimer adopts orphans that match a controller's selector and releases the
//     objects that no longer match, by patching their ownerReferences, as
//     upstream's ControllerRefManager does;
//   - the ControllerRevision helpers store a pod template as the patch kubectl
//     rollout history and undo read, name and hash revisions, and create them
//     through hash collisions;
//   - the pod predicates (ready, available, active) and the order in which
//     active pods are given up.
//
// It owns no control loop and keeps no state but Expectations. It must not
// decide how many pods a controller wants nor which ones: that is each
// controller's business.
package podcontrol
