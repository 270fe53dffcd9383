// Package netns opens connections from inside another network namespace, so
// that the kubelet can reach a pod's ports (its probes, port-forwards) when the
// pod's namespace has only loopback: 127.0.0.1:PORT dialed through Dial means
// the pod's loopback, not the host's.
//
// It owns the switching of an OS thread into a namespace and back, and it does
// only the one thing that needs it there: creating the socket (a socket keeps
// the namespace it was created in). It must not change the namespace of any
// thread the Go scheduler may hand to other goroutines, create or configure
// namespaces, or know about pods and containers; callers pass a namespace path
// such as /proc/PID/ns/net.
package netns
