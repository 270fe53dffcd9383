package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	"k8s.io/apiserver/pkg/registry/rest"
	streamproxy "k8s.io/apiserver/pkg/util/proxy"
)

// The kubelet's query parameters for the streams of exec and attach.
const (
	kubeletStdin  = "input"
	kubeletStdout = "output"
	kubeletStderr = "error"
	kubeletTTY    = "tty"
)

var (
	podLogOptionsKind = corev1.SchemeGroupVersion.WithKind("PodLogOptions").GroupKind()
	// upgradeMethods are those a streaming client upgrades with: WebSocket
	// clients GET, SPDY clients POST.
	upgradeMethods = []string{http.MethodGet, http.MethodPost}
)

// podKubelet finds a pod and the kubelet of its node, for the subresources the
// kubelet answers.
type podKubelet struct {
	pods     *genericregistry.Store
	kubelets Kubelets
}

func (k *podKubelet) pod(ctx context.Context, name string) (*corev1.Pod, error) {
	obj, err := k.pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

// location is the URL on pod's kubelet at /kind/namespace/pod[/container].
func (k *podKubelet) location(ctx context.Context, pod *corev1.Pod, kind, container string, query url.Values) (*url.URL, http.RoundTripper, error) {
	base, transport, err := k.kubelets.Kubelet(ctx, pod.Spec.NodeName)
	if err != nil {
		return nil, nil, fmt.Errorf("reaching the kubelet of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	loc := *base
	loc.Path = path.Join("/", kind, pod.Namespace, pod.Name, container)
	loc.RawQuery = query.Encode()
	return &loc, transport, nil
}

// streamTarget checks that pod may be streamed to (it has a node) and resolves
// the container: the only one when none is named.
func (k *podKubelet) streamTarget(ctx context.Context, name, container string) (*corev1.Pod, string, error) {
	pod, err := k.pod(ctx, name)
	if err != nil {
		return nil, "", err
	}
	if pod.Spec.NodeName == "" {
		return nil, "", errors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name))
	}
	container, err = podContainer(pod, container)
	return pod, container, err
}

// podContainer resolves the container a request is about, with upstream's
// messages: one must be named when the pod has several, and it must exist.
func podContainer(pod *corev1.Pod, container string) (string, error) {
	names := containerNames(pod)
	if container == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", errors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		default:
			return "", errors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
		}
	}
	for _, n := range names {
		if n == container {
			return container, nil
		}
	}
	return "", errors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
}

// containerNames lists init, regular and ephemeral containers, in that order.
func containerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

// LogREST streams a container's log from its kubelet (pods/log).
type LogREST struct {
	podKubelet
}

var (
	_ rest.GetterWithOptions = &LogREST{}
	_ rest.StorageMetadata   = &LogREST{}
)

func (r *LogREST) New() runtime.Object { return &corev1.Pod{} }
func (r *LogREST) Destroy()            {}

func (r *LogREST) NewGetOptions() (runtime.Object, bool, string) {
	return &corev1.PodLogOptions{}, false, ""
}

func (r *LogREST) ProducesMIMETypes(string) []string { return []string{"text/plain"} }
func (r *LogREST) ProducesObject(string) any         { return "" }

func (r *LogREST) Get(ctx context.Context, name string, options runtime.Object) (runtime.Object, error) {
	opts, ok := options.(*corev1.PodLogOptions)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not PodLogOptions: %T", options))
	}
	if errs := validateLogOptions(opts); len(errs) > 0 {
		return nil, errors.NewInvalid(podLogOptionsKind, name, errs)
	}
	pod, err := r.pod(ctx, name)
	if err != nil {
		return nil, err
	}
	container, err := podContainer(pod, opts.Container)
	if err != nil {
		return nil, err
	}
	if pod.Spec.NodeName == "" {
		// Not yet on a node: nothing has been logged.
		return &genericrest.LocationStreamer{}, nil
	}
	loc, transport, err := r.location(ctx, pod, "containerLogs", container, logQuery(opts))
	if err != nil {
		return nil, err
	}
	return &genericrest.LocationStreamer{
		Location:        loc,
		Transport:       transport,
		ContentType:     "text/plain",
		Flush:           opts.Follow,
		ResponseChecker: genericrest.NewGenericHttpResponseChecker(corev1.Resource("pods/log"), name),
		RedirectChecker: genericrest.PreventRedirects,
	}, nil
}

// validateLogOptions is upstream's ValidatePodLogOptions.
func validateLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	if opts.Stream != nil {
		switch *opts.Stream {
		case corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr:
			if *opts.Stream != corev1.LogStreamAll && opts.TailLines != nil {
				errs = append(errs, field.Forbidden(field.NewPath(""), "`tailLines` and specific `stream` are mutually exclusive for now"))
			}
		default:
			errs = append(errs, field.NotSupported(field.NewPath("stream"), *opts.Stream,
				[]string{corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr}))
		}
	}
	return errs
}

// logQuery is the kubelet's query for opts, the container being in the path.
func logQuery(opts *corev1.PodLogOptions) url.Values {
	q := url.Values{}
	flag := func(name string, on bool) {
		if on {
			q.Set(name, "true")
		}
	}
	number := func(name string, v *int64) {
		if v != nil {
			q.Set(name, strconv.FormatInt(*v, 10))
		}
	}
	flag("follow", opts.Follow)
	flag("previous", opts.Previous)
	flag("timestamps", opts.Timestamps)
	number("sinceSeconds", opts.SinceSeconds)
	number("tailLines", opts.TailLines)
	number("limitBytes", opts.LimitBytes)
	if opts.SinceTime != nil {
		q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339))
	}
	if opts.Stream != nil {
		q.Set("stream", *opts.Stream)
	}
	return q
}

// streams checks the streams an exec or attach asks for and puts them in the
// kubelet's query. A terminal merges stderr into stdout, so with tty set
// stderr is dropped, as the kubelet does.
func streams(opts *streamproxy.Options) (url.Values, error) {
	if opts.Tty {
		opts.Stderr = false
	}
	if !opts.Stdin && !opts.Stdout && !opts.Stderr {
		return nil, errors.NewBadRequest("you must specify at least one of stdin, stdout, stderr")
	}
	q := url.Values{}
	for name, on := range map[string]bool{kubeletStdin: opts.Stdin, kubeletStdout: opts.Stdout, kubeletStderr: opts.Stderr, kubeletTTY: opts.Tty} {
		if on {
			q.Set(name, "1")
		}
	}
	return q, nil
}

// upgradeProxy proxies an upgraded connection (SPDY, or WebSocket up to
// remotecommand v4) to the kubelet unchanged.
func upgradeProxy(loc *url.URL, transport http.RoundTripper, responder rest.Responder) http.Handler {
	return proxy.NewUpgradeAwareHandler(loc, transport, false, true, proxy.NewErrorResponder(responder))
}

// ExecREST runs a command in a container through its kubelet (pods/exec).
type ExecREST struct {
	podKubelet
}

var _ rest.Connecter = &ExecREST{}

func (r *ExecREST) New() runtime.Object { return &corev1.Pod{} }
func (r *ExecREST) Destroy()            {}

func (r *ExecREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodExecOptions{}, false, ""
}

func (r *ExecREST) ConnectMethods() []string { return upgradeMethods }

func (r *ExecREST) Connect(ctx context.Context, name string, options runtime.Object, responder rest.Responder) (http.Handler, error) {
	opts, ok := options.(*corev1.PodExecOptions)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not PodExecOptions: %T", options))
	}
	if len(opts.Command) == 0 {
		return nil, errors.NewBadRequest("you must specify at least one command for the container")
	}
	stream := streamproxy.Options{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Tty: opts.TTY}
	q, err := streams(&stream)
	if err != nil {
		return nil, err
	}
	for _, c := range opts.Command {
		q.Add("command", c)
	}
	pod, container, err := r.streamTarget(ctx, name, opts.Container)
	if err != nil {
		return nil, err
	}
	loc, transport, err := r.location(ctx, pod, "exec", container, q)
	if err != nil {
		return nil, err
	}
	return translated(loc, transport, responder, stream), nil
}

// translated serves WebSocket clients of remotecommand v5 (kubectl's first
// choice) by translating to SPDY towards the kubelet, and proxies everything
// else as it is, as upstream's API server does.
func translated(loc *url.URL, transport http.RoundTripper, responder rest.Responder, opts streamproxy.Options) http.Handler {
	return streamproxy.NewTranslatingHandler(upgradeProxy(loc, transport, responder),
		streamproxy.NewStreamTranslatorHandler(loc, transport, 0, opts),
		wsstream.IsWebSocketRequestWithStreamCloseProtocol)
}

// AttachREST attaches to a running container through its kubelet (pods/attach).
type AttachREST struct {
	podKubelet
}

var _ rest.Connecter = &AttachREST{}

func (r *AttachREST) New() runtime.Object { return &corev1.Pod{} }
func (r *AttachREST) Destroy()            {}

func (r *AttachREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodAttachOptions{}, false, ""
}

func (r *AttachREST) ConnectMethods() []string { return upgradeMethods }

func (r *AttachREST) Connect(ctx context.Context, name string, options runtime.Object, responder rest.Responder) (http.Handler, error) {
	opts, ok := options.(*corev1.PodAttachOptions)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not PodAttachOptions: %T", options))
	}
	stream := streamproxy.Options{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Tty: opts.TTY}
	q, err := streams(&stream)
	if err != nil {
		return nil, err
	}
	pod, container, err := r.streamTarget(ctx, name, opts.Container)
	if err != nil {
		return nil, err
	}
	loc, transport, err := r.location(ctx, pod, "attach", container, q)
	if err != nil {
		return nil, err
	}
	return translated(loc, transport, responder, stream), nil
}

// PortForwardREST forwards ports of a pod through its kubelet (pods/portforward).
type PortForwardREST struct {
	podKubelet
}

var _ rest.Connecter = &PortForwardREST{}

func (r *PortForwardREST) New() runtime.Object { return &corev1.Pod{} }
func (r *PortForwardREST) Destroy()            {}

func (r *PortForwardREST) NewConnectOptions() (runtime.Object, bool, string) {
	return &corev1.PodPortForwardOptions{}, false, ""
}

func (r *PortForwardREST) ConnectMethods() []string { return upgradeMethods }

func (r *PortForwardREST) Connect(ctx context.Context, name string, options runtime.Object, responder rest.Responder) (http.Handler, error) {
	opts, ok := options.(*corev1.PodPortForwardOptions)
	if !ok {
		return nil, errors.NewBadRequest(fmt.Sprintf("not PodPortForwardOptions: %T", options))
	}
	q := url.Values{}
	for _, p := range opts.Ports {
		if p < 1 || p > 65535 {
			return nil, errors.NewBadRequest(fmt.Sprintf("port %d of pod %s is not in 1-65535", p, name))
		}
		q.Add("port", strconv.Itoa(int(p)))
	}
	pod, err := r.pod(ctx, name)
	if err != nil {
		return nil, err
	}
	if pod.Spec.NodeName == "" {
		return nil, errors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", name))
	}
	loc, transport, err := r.location(ctx, pod, "portForward", "", q)
	if err != nil {
		return nil, err
	}
	upgrade := upgradeProxy(loc, transport, responder)
	// kubectl tunnels SPDY in a WebSocket first; the kubelet is spoken to in SPDY.
	return streamproxy.NewTranslatingHandler(upgrade, streamproxy.NewTunnelingHandler(upgrade),
		wsstream.IsWebSocketRequestWithTunnelingProtocol), nil
}
