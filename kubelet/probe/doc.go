// Package probe runs containers' liveness, readiness and startup probes as the
// upstream kubelet does: the exec, httpGet, tcpSocket and grpc probers (Prober),
// and a worker per container and probe kind (Manager) that applies
// initialDelaySeconds, periodSeconds, successThreshold and failureThreshold,
// gates liveness and readiness on the startup probe, records the upstream
// events (Unhealthy: "Liveness probe failed: ...") and reports results.
//
// It must not write to the API or act on results: the kubelet turns readiness
// into the Ready condition (UpdatePodStatus) and restarts a container whose
// liveness or startup probe fails (Updates). It knows the container runtime only
// through Execer, the pod's status only through StatusProvider, and the pod's
// network only through the dial function it is given (Config.Dial, Target.Dial).
package probe
