// Package quota owns how ResourceQuota usage is measured: one evaluator per kind that
// consumes more than a count (pods, services, persistentvolumeclaims), object-count
// evaluators for the rest, and the resources quota ignores. The same evaluators serve
// the ResourceQuota admission plugin, which charges one object at a time, and the
// resourcequota controller, which recounts a namespace from informer caches.
//
// Evaluators list objects from the informers of the factory they were built with, as
// the caches stand: whoever calls UsageStats waits for those caches to sync first.
// This package must not write to the API or keep state between calls; enforcing and
// recording usage belongs to admission and to the controller.
package quota
