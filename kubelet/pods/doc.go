// Package pods owns the kubelet's pod sync: it makes the pods bound to this
// node run as sandboxes and containers of a container runtime, keeps them
// running as their restart policies, probes and deletion ask, and reports
// what happens as pod status and events.
//
// Each pod has a worker goroutine that reconciles the pod's spec with what the
// runtime runs; workers are woken by pod updates, container exits, probe
// results and changes to the Secrets and ConfigMaps the pod references. What
// a container needs from the host comes through small interfaces: images
// (ImageService), volumes (VolumeManager), environment (EnvBuilder); the
// Kubelet tells PodObjects which pods it runs, so that their Secrets and
// ConfigMaps are watched one by one. The package also answers the kubelet
// server's logs, exec and port-forward for the containers it runs.
//
// It must not talk to etcd, know about charts or releases, or register the
// Node (kubelet/nodestatus does); it reads pods and writes their status and
// events only through the API.
package pods
