package pods

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"berth.dev/berth/kubelet/runtime"
)

// lifecycleHook is c's postStart (or preStop) handler, nil when it has none.
func lifecycleHook(c *corev1.Container, postStart bool) *corev1.LifecycleHandler {
	if c.Lifecycle == nil {
		return nil
	}
	if postStart {
		return c.Lifecycle.PostStart
	}
	return c.Lifecycle.PreStop
}

// runHook runs a lifecycle handler against the container: a command in it, an
// HTTP GET to it (through the pod's network namespace), or a sleep. It
// returns the handler's output for the log.
func (k *Kubelet) runHook(ctx context.Context, w *worker, id string, c *corev1.Container, h *corev1.LifecycleHandler, limit time.Duration) (string, error) {
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	switch {
	case h.Exec != nil:
		var out bytes.Buffer
		code, err := k.cfg.Runtime.Exec(ctx, id, runtime.ExecSpec{Args: h.Exec.Command, Env: k.containerEnv(ctx, id), Stdout: &out, Stderr: &out})
		if err != nil {
			return out.String(), err
		}
		if code != 0 {
			return out.String(), fmt.Errorf("command %q exited with %d: %s", strings.Join(h.Exec.Command, " "), code, out.String())
		}
		return out.String(), nil
	case h.HTTPGet != nil:
		return k.httpHook(ctx, w, c, h.HTTPGet)
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-k.clock.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return "", nil
	}
	return "", fmt.Errorf("lifecycle hook of container %q has no handler", c.Name)
}

func (k *Kubelet) httpHook(ctx context.Context, w *worker, c *corev1.Container, g *corev1.HTTPGetAction) (string, error) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return "", err
	}
	host := g.Host
	if host == "" {
		host = "127.0.0.1"
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	transport := &http.Transport{DisableKeepAlives: true}
	if dial := w.dialer(); dial != nil && g.Host == "" {
		transport.DialContext = dial
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return string(body), fmt.Errorf("HTTP lifecycle hook (%s) for Container %q returned status %d", g.Path, c.Name, resp.StatusCode)
	}
	return string(body), nil
}

// resolvePort resolves a named port of the container.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %v in %v", p.StrVal, c.Name)
}

// containerEnv is the environment a container was created with, for
// processes started in it.
func (k *Kubelet) containerEnv(ctx context.Context, id string) []string {
	c, err := k.cfg.Runtime.Container(ctx, id)
	if err != nil {
		return nil
	}
	return c.Spec.Env
}

// execer runs probes' commands through the runtime (probe.Execer).
type execer struct{ rt runtime.Runtime }

func (e execer) Exec(ctx context.Context, containerID string, cmd []string) ([]byte, int, error) {
	id := strings.TrimPrefix(containerID, containerIDPrefix)
	var env []string
	if c, err := e.rt.Container(ctx, id); err == nil {
		env = c.Spec.Env
	}
	var out bytes.Buffer
	code, err := e.rt.Exec(ctx, id, runtime.ExecSpec{Args: cmd, Env: env, Stdout: &out, Stderr: &out})
	return out.Bytes(), code, err
}
