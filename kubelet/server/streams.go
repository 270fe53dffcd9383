package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// streamProtocols are the remotecommand versions served, newest first.
var streamProtocols = remotecommand.SupportedStreamingProtocols

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	pod, container := podOf(r), r.PathValue("container")
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, fmt.Sprintf("exec in container %s of pod %s: %v", container, pod, err), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		http.Error(w, fmt.Sprintf("exec in container %s of pod %s: no command given", container, pod), http.StatusBadRequest)
		return
	}
	remotecommand.ServeExec(w, r, adapter{rt: s.cfg.Runtime, pod: pod, opts: opts}, pod.Name, string(pod.UID), container, cmd, opts,
		s.cfg.StreamIdleTimeout, s.cfg.StreamCreationTimeout, streamProtocols)
}

func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	pod, container := podOf(r), r.PathValue("container")
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, fmt.Sprintf("attach to container %s of pod %s: %v", container, pod, err), http.StatusBadRequest)
		return
	}
	remotecommand.ServeAttach(w, r, adapter{rt: s.cfg.Runtime, pod: pod, opts: opts}, pod.Name, string(pod.UID), container, opts,
		s.cfg.StreamIdleTimeout, s.cfg.StreamCreationTimeout, streamProtocols)
}

func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	pod := podOf(r)
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, fmt.Sprintf("port-forward to pod %s: %v", pod, err), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, adapter{rt: s.cfg.Runtime, pod: pod}, pod.Name, string(pod.UID), opts,
		s.cfg.StreamIdleTimeout, s.cfg.StreamCreationTimeout, portforward.SupportedProtocols)
}

// adapter answers the streaming library's calls, which name a pod without its
// namespace, from the Runtime; opts are the streams an exec or attach asked for.
type adapter struct {
	rt   Runtime
	pod  Pod
	opts *remotecommand.Options
}

func (a adapter) ExecInContainer(ctx context.Context, _, _, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, _ bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	return a.rt.Exec(ctx, a.pod, container, cmd, a.streams(in, out, errOut, resize))
}

func (a adapter) AttachContainer(ctx context.Context, _, _, container string, in io.Reader, out, errOut io.WriteCloser, _ bool, resize <-chan remotecommand.TerminalSize) error {
	return a.rt.Attach(ctx, a.pod, container, a.streams(in, out, errOut, resize))
}

func (a adapter) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	return a.rt.PortForward(ctx, a.pod, port, stream)
}

// streams keeps the streams the client asked for: over WebSocket the library
// hands every channel, opened or not.
func (a adapter) streams(in io.Reader, out, errOut io.WriteCloser, resize <-chan remotecommand.TerminalSize) Streams {
	s := Streams{TTY: a.opts.TTY}
	if a.opts.TTY {
		s.Resize = resize
	}
	if a.opts.Stdin {
		s.Stdin = in
	}
	if a.opts.Stdout {
		s.Stdout = out
	}
	if a.opts.Stderr {
		s.Stderr = errOut
	}
	return s
}
