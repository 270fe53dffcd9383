package hollow

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"

	"berth.dev/berth/kubelet/server"
)

// LogInterval is how often a hollow container writes a log line after its
// first: line 0 says it started, line k (k ≥ 1) is "tick k", written k
// intervals after the container started; an exited container's last line gives
// its exit code.
const LogInterval = time.Second

// runtime answers the kubelet server for hollow containers: logs are the
// deterministic lines above, exec runs a few built-in commands, attach echoes
// stdin, and port-forward echoes every byte sent to any port. Nothing runs on
// the host.
type runtime struct {
	nodes *Nodes
	pods  corelisters.PodLister
}

var _ server.Runtime = &runtime{}

// container finds a pod bound to one of these nodes and the named container's
// status; it is an error wrapping server.ErrNotFound when either is missing.
func (r *runtime) container(pod server.Pod, name string) (*corev1.Pod, *corev1.ContainerStatus, error) {
	p, err := r.pods.Pods(pod.Namespace).Get(pod.Name)
	if apierrors.IsNotFound(err) || err == nil && (!r.nodes.ours(p.Spec.NodeName) || pod.UID != "" && pod.UID != p.UID) {
		return nil, nil, fmt.Errorf("pod %s: %w", pod, server.ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pod %s: %w", pod, err)
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return p, &list[i], nil
			}
		}
	}
	for _, c := range append(append([]corev1.Container(nil), p.Spec.Containers...), p.Spec.InitContainers...) {
		if c.Name == name {
			return nil, nil, fmt.Errorf("container %q in pod %q is waiting to start: ContainerCreating: %w", name, p.Name, server.ErrNotRunning)
		}
	}
	return nil, nil, fmt.Errorf("container %q in pod %s: %w", name, pod, server.ErrNotFound)
}

// running is the pod of a running container; it is an error wrapping
// server.ErrNotRunning when the container is not running.
func (r *runtime) running(pod server.Pod, name string) (*corev1.Pod, error) {
	p, status, err := r.container(pod, name)
	if err != nil {
		return nil, err
	}
	if status.State.Running == nil {
		return nil, fmt.Errorf("container %q in pod %s is not running: %w", name, pod, server.ErrNotRunning)
	}
	return p, nil
}

// logLine is line k of a container's log.
type logLine struct {
	at   time.Time
	text string
}

// lines are the lines the container has written by now: those up to its end
// when it has exited.
func lines(pod *corev1.Pod, status *corev1.ContainerStatus, now time.Time) []logLine {
	var start, end time.Time
	exited := status.State.Terminated
	switch {
	case status.State.Running != nil:
		start, end = status.State.Running.StartedAt.Time, now
	case exited != nil:
		start, end = exited.StartedAt.Time, exited.FinishedAt.Time
	default:
		return nil
	}
	who := fmt.Sprintf("hollow container %s of pod %s/%s", status.Name, pod.Namespace, pod.Name)
	out := []logLine{{at: start, text: who + " started"}}
	for k := 1; !start.Add(time.Duration(k) * LogInterval).After(end); k++ {
		out = append(out, logLine{at: start.Add(time.Duration(k) * LogInterval), text: fmt.Sprintf("%s: tick %d", who, k)})
	}
	if exited != nil {
		out = append(out, logLine{at: end, text: fmt.Sprintf("%s exited with code %d", who, exited.ExitCode)})
	}
	return out
}

func (r *runtime) Logs(ctx context.Context, pod server.Pod, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	p, status, err := r.container(pod, container)
	if err != nil {
		return err
	}
	if opts.Previous {
		return fmt.Errorf("previous terminated container %q in pod %q not found: %w", container, pod.Name, server.ErrNotRunning)
	}
	if opts.Stream != nil && *opts.Stream == corev1.LogStreamStderr {
		return nil // hollow containers write to stdout only
	}
	var since time.Time
	switch {
	case opts.SinceTime != nil:
		since = opts.SinceTime.Time
	case opts.SinceSeconds != nil:
		since = time.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	all := lines(p, status, time.Now())
	kept := all[:0:0]
	for _, l := range all {
		if !l.at.Before(since) {
			kept = append(kept, l)
		}
	}
	if opts.TailLines != nil && int64(len(kept)) > *opts.TailLines {
		kept = kept[int64(len(kept))-*opts.TailLines:]
	}
	write := func(l logLine) error {
		text := l.text + "\n"
		if opts.Timestamps {
			text = l.at.UTC().Format(time.RFC3339Nano) + " " + text
		}
		_, err := io.WriteString(w, text)
		return err
	}
	for _, l := range kept {
		if err := write(l); err != nil {
			return err
		}
	}
	if !opts.Follow || status.State.Running == nil {
		return nil
	}
	// Follow: the next tick after the last line written, until the container
	// stops or the client goes.
	next := len(all)
	for {
		at := status.State.Running.StartedAt.Add(time.Duration(next) * LogInterval)
		timer := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		if _, err := r.running(pod, container); err != nil {
			return nil // stopped or gone: the stream ends, as a container's does
		}
		who := fmt.Sprintf("hollow container %s of pod %s/%s", container, p.Namespace, p.Name)
		if err := write(logLine{at: at, text: fmt.Sprintf("%s: tick %d", who, next)}); err != nil {
			return err
		}
		next++
	}
}

func (r *runtime) Exec(ctx context.Context, pod server.Pod, container string, cmd []string, s server.Streams) error {
	p, err := r.running(pod, container)
	if err != nil {
		return err
	}
	stdout, stderr := writerOr(s.Stdout), writerOr(s.Stderr)
	if s.TTY {
		stderr = stdout
	}
	var spec *corev1.Container
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Name == container {
			spec = &p.Spec.Containers[i]
		}
	}
	hostname := p.Name
	if p.Spec.Hostname != "" {
		hostname = p.Spec.Hostname
	}
	switch name, args := cmd[0], cmd[1:]; {
	case name == "echo":
		_, err = fmt.Fprintln(stdout, strings.Join(args, " "))
	case name == "hostname" && len(args) == 0:
		_, err = fmt.Fprintln(stdout, hostname)
	case name == "cat" && len(args) == 1 && args[0] == "/etc/hostname":
		_, err = fmt.Fprintln(stdout, hostname)
	case name == "cat" && len(args) == 0:
		if s.Stdin != nil {
			_, err = io.Copy(stdout, s.Stdin)
		}
	case name == "env" && len(args) == 0:
		_, err = fmt.Fprintln(stdout, "HOSTNAME="+hostname)
		for _, e := range envOf(spec) {
			if err == nil {
				_, err = fmt.Fprintln(stdout, e)
			}
		}
	case name == "true" && len(args) == 0:
	case name == "false" && len(args) == 0:
		return server.ExitCode(1)
	default:
		fmt.Fprintf(stderr, "hollow: %s: command not found (hollow containers run echo, hostname, env, cat, true and false)\n", strings.Join(cmd, " "))
		return server.ExitCode(127)
	}
	if err != nil {
		return fmt.Errorf("exec %q in container %s of pod %s: %w", cmd[0], container, pod, err)
	}
	return nil
}

// envOf lists the variables of a container that have literal values.
func envOf(c *corev1.Container) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			out = append(out, e.Name+"="+e.Value)
		}
	}
	return out
}

// writerOr is w, or a writer that discards when the client did not ask for w.
func writerOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Attach connects to the hollow main process, which echoes its stdin line by
// line and otherwise waits for the client to go.
func (r *runtime) Attach(ctx context.Context, pod server.Pod, container string, s server.Streams) error {
	if _, err := r.running(pod, container); err != nil {
		return err
	}
	if s.Stdin != nil {
		in := bufio.NewScanner(s.Stdin)
		for in.Scan() {
			if _, err := fmt.Fprintln(writerOr(s.Stdout), in.Text()); err != nil {
				return fmt.Errorf("attached to container %s of pod %s: %w", container, pod, err)
			}
		}
		return nil
	}
	<-ctx.Done()
	return nil
}

// PortForward echoes what the client sends to any port of a running pod.
func (r *runtime) PortForward(ctx context.Context, pod server.Pod, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	p, err := r.pods.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || !r.nodes.ours(p.Spec.NodeName) || pod.UID != "" && pod.UID != p.UID {
		return fmt.Errorf("forwarding port %d of pod %s: %w", port, pod, server.ErrNotFound)
	}
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("forwarding port %d of pod %s: pod is %s: %w", port, pod, p.Status.Phase, server.ErrNotRunning)
	}
	if _, err := io.Copy(stream, stream); err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
		return fmt.Errorf("forwarding port %d of pod %s: %w", port, pod, err)
	}
	return nil
}
