// Package images owns the kubelet's image store: a content-addressed blob store
// under one root directory, the index of image names (normalised as Kubernetes
// does) to manifest digests, image configs, linux/<arch> selection from image
// indexes, import of OCI layouts and `docker save` archives, pulls from OCI
// registries (mirrors and credentials in k3s's registries.yaml format, pull
// secrets as docker config JSON), garbage collection and disk usage, the cache
// of unpacked layers and the per-container root filesystems made from them
// (overlayfs, or a copy).
//
// It must not know about pods, containers' specs, events or the API: callers
// hand it image references, credentials and opaque container ids, and decide
// policy themselves (imagePullPolicy, back-off, which images are in use and
// when to prune). Unpacking an untrusted layer is delegated to
// kubelet/images/layer, which keeps every write inside its root. Import keeps
// an archive's entry names as keys only (blobs are stored by digest) and
// never follows an archive's links on disk.
//
// On-disk layout under Config.Root:
//
//	blobs/sha256/<hex>      verified blobs (manifests, configs, compressed layers)
//	index.json              image name → descriptor of its manifest or index
//	layers/<hex of diffID>  one unpacked layer each, in overlayfs format
//	containers/<id>/        a container's rootfs (upper, work, merged) and the layers it uses
//	tmp/                    partial writes, renamed into place when complete
//	index.lock, gc.lock     flock(2) files: index writers; writers of new content (shared) against GC
//
// The index is re-read on every call and written under a file lock, so a
// `berth image import` run in another process is visible to a running kubelet
// at once.
package images
