package pods

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"berth.dev/berth/kubelet/runtime"
	"berth.dev/berth/kubelet/runtime/crilog"
	"berth.dev/berth/kubelet/server"
)

var _ server.Runtime = (*Kubelet)(nil)

// target finds a pod of this node and a container's status in it.
func (k *Kubelet) target(p server.Pod, container string) (*corev1.Pod, corev1.ContainerStatus, error) {
	pod, err := k.pods.Pods(p.Namespace).Get(p.Name)
	if apierrors.IsNotFound(err) || err == nil && (pod.Spec.NodeName != k.cfg.NodeName || p.UID != "" && p.UID != pod.UID) {
		return nil, corev1.ContainerStatus{}, fmt.Errorf("pod %s: %w", p, server.ErrNotFound)
	}
	if err != nil {
		return nil, corev1.ContainerStatus{}, fmt.Errorf("pod %s: %w", p, err)
	}
	if specContainer(pod, container) == nil {
		return nil, corev1.ContainerStatus{}, fmt.Errorf("container %q in pod %s: %w", container, p, server.ErrNotFound)
	}
	status, _ := k.PodStatus(pod.UID)
	for _, list := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name == container && cs.ContainerID != "" {
				return pod, cs, nil
			}
		}
	}
	return nil, corev1.ContainerStatus{}, fmt.Errorf("container %q in pod %q is waiting to start: %s: %w", container, pod.Name, reasonContainerCreating, server.ErrNotRunning)
}

func runtimeID(cs corev1.ContainerStatus) string {
	return strings.TrimPrefix(cs.ContainerID, containerIDPrefix)
}

// Logs writes a container's log (server.Runtime).
func (k *Kubelet) Logs(ctx context.Context, p server.Pod, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	pod, cs, err := k.target(p, container)
	if err != nil {
		return err
	}
	attempt := int(cs.RestartCount)
	if opts.Previous {
		if attempt == 0 {
			return fmt.Errorf("previous terminated container %q in pod %q not found: %w", container, pod.Name, server.ErrNotFound)
		}
		attempt--
	}
	ro := crilog.ReadOptions{Follow: opts.Follow && !opts.Previous, Timestamps: opts.Timestamps, TailLines: -1}
	if opts.TailLines != nil {
		ro.TailLines = *opts.TailLines
	}
	if opts.SinceTime != nil {
		ro.Since = opts.SinceTime.Time
	}
	if opts.SinceSeconds != nil {
		ro.Since = k.clock.Now().Add(-secondsDuration(*opts.SinceSeconds))
	}
	if ro.Follow {
		done := make(chan struct{})
		ro.Done = done
		waitCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			_, _ = k.cfg.Runtime.WaitContainer(waitCtx, runtimeID(cs))
			close(done)
		}()
	}
	return crilog.Read(ctx, k.logPath(pod, container, attempt), ro, w)
}

// Exec runs a command in a running container (server.Runtime).
func (k *Kubelet) Exec(ctx context.Context, p server.Pod, container string, cmd []string, s server.Streams) error {
	_, cs, err := k.target(p, container)
	if err != nil {
		return err
	}
	if cs.State.Running == nil {
		return fmt.Errorf("container %q in pod %s is not running: %w", container, p, server.ErrNotRunning)
	}
	spec := runtime.ExecSpec{Args: cmd, Env: k.containerEnv(ctx, runtimeID(cs)), TTY: s.TTY, Stdin: s.Stdin}
	// Writers the client did not ask for stay nil.
	if s.Stdout != nil {
		spec.Stdout = s.Stdout
	}
	if s.Stderr != nil {
		spec.Stderr = s.Stderr
	}
	if s.Resize != nil {
		sizes := make(chan runtime.TerminalSize, 1)
		go func() {
			defer close(sizes)
			for sz := range s.Resize {
				select {
				case sizes <- runtime.TerminalSize{Width: sz.Width, Height: sz.Height}:
				case <-ctx.Done():
					return
				}
			}
		}()
		spec.Resize = sizes
	}
	code, err := k.cfg.Runtime.Exec(ctx, runtimeID(cs), spec)
	switch {
	case errors.Is(err, runtime.ErrNotRunning):
		return fmt.Errorf("container %q in pod %s is not running: %w", container, p, server.ErrNotRunning)
	case err != nil:
		return err
	case code != 0:
		return server.ExitCode(code)
	}
	return nil
}

// Attach is not offered: a container's output goes to its log and it has no
// stdin to attach to; `kubectl logs -f` shows the output.
func (k *Kubelet) Attach(ctx context.Context, p server.Pod, container string, s server.Streams) error {
	if _, _, err := k.target(p, container); err != nil {
		return err
	}
	return fmt.Errorf("attach to container %q in pod %s: not supported by berth's runtime (containers have no stdin); use kubectl logs -f", container, p)
}

// PortForward connects stream to a port of the pod, dialed from inside its
// network namespace (server.Runtime).
func (k *Kubelet) PortForward(ctx context.Context, p server.Pod, port int32, stream io.ReadWriteCloser) error {
	pod, err := k.pods.Pods(p.Namespace).Get(p.Name)
	if err != nil || pod.Spec.NodeName != k.cfg.NodeName || p.UID != "" && p.UID != pod.UID {
		return fmt.Errorf("pod %s: %w", p, server.ErrNotFound)
	}
	dial := k.podDialer(pod.UID)
	if dial == nil {
		return fmt.Errorf("pod %s has no running sandbox: %w", p, server.ErrNotRunning)
	}
	conn, err := dial(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s: %w", port, p, err)
	}
	defer conn.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(conn, stream)
		if tc, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, err = io.Copy(stream, conn)
	_ = stream.Close()
	wg.Wait()
	return err
}

func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }
