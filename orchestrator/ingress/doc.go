// Package ingress is berth's built-in Ingress controller, run by node
// processes as k3s runs its bundled one: an HTTP and HTTPS reverse proxy for
// the networking.k8s.io/v1 Ingresses of its class, routing by host and path
// the way users of ingress-nginx and traefik expect and proxying straight to
// the ready endpoints (pod IP and port) that discovery.k8s.io/v1
// EndpointSlices list, round robin, without going through the ClusterIP.
//
// It owns the listening sockets it is told to bind, an immutable routing
// table rebuilt from the informer caches on every change and swapped in
// atomically (requests in flight keep the backend they were given), the TLS
// certificates it serves by SNI from the Ingresses' Secrets (with a
// self-signed fallback made in memory at start), the IngressClass of its name
// (created when missing, never changed once it exists) and the
// status.loadBalancer of the Ingresses it handles. It reads only the Secrets
// its Ingresses name in spec.tls, each through a watch of that one Secret,
// as its node's identity may: never all Secrets.
//
// It must not write to Ingresses of other classes, to Services, endpoints or
// Secrets, change an IngressClass it finds, or keep anything on disk: a
// restarted controller rebuilds everything from the API.
package ingress
