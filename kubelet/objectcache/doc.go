// Package objectcache keeps the node's copies of the Secrets and ConfigMaps
// that its pods reference, read one by one as the Node authorizer lets a
// node read them: each object has a watch of its own (a list and watch of
// its namespace with the field selector metadata.name=NAME), started when
// the first registered pod that references it appears and stopped when the
// last one goes, as upstream's kubelet does with its watch-based object
// managers. A read of an object no registered pod references, or whose
// watch has not listed it yet, is a GET.
//
// It owns those watches and which pod references what; it tells its user
// which pods reference an object that changed. It must not write to the
// API and knows nothing of what the objects are for (volumes, environment,
// image pulls).
package objectcache
